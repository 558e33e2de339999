#include "sim/knack_model.hpp"

namespace freshet::sim {

std::string_view to_string(knack_type t) {
  switch (t) {
    case knack_type::short_text: return "short_text";
    case knack_type::number: return "number";
    case knack_type::multiple_choice: return "multiple_choice";
    case knack_type::boolean: return "boolean";
    case knack_type::date_time: return "date_time";
    case knack_type::date: return "date_time";  // a date_time field showing the date only
    case knack_type::connection: return "connection";
    case knack_type::email: return "email";
  }
  return "short_text";
}

const knack_field* knack_object::field(std::string_view k) const {
  for (const auto& f : fields)
    if (f.key == k) return &f;
  return nullptr;
}

knack_record* knack_object::find(std::string_view id) {
  for (auto& r : records)
    if (r.id == id) return &r;
  return nullptr;
}

const knack_record* knack_object::find(std::string_view id) const {
  return const_cast<knack_object*>(this)->find(id);
}

knack_object* knack_app::object(std::string_view k) {
  for (auto& o : objects)
    if (o.key == k) return &o;
  return nullptr;
}

const knack_object* knack_app::object(std::string_view k) const { return const_cast<knack_app*>(this)->object(k); }

}  // namespace freshet::sim
