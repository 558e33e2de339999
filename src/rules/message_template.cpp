#include "rules/message_template.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace freshet::rules {

namespace json = boost::json;

namespace {

constexpr std::string_view kContextNames[] = {"id", "tenant", "object", "rule", "op", "count", "names", "link"};

bool context_name(std::string_view n) {
  return std::find(std::begin(kContextNames), std::end(kContextNames), n) != std::end(kContextNames);
}

std::string number_text(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, p);
}

}  // namespace

std::string slack_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

std::string display_value(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "";
    case json::kind::string: return std::string(v.get_string());
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    case json::kind::int64: return std::to_string(v.get_int64());
    case json::kind::uint64: return std::to_string(v.get_uint64());
    case json::kind::double_: return number_text(v.get_double());
    case json::kind::array: {
      std::string out;
      for (const auto& e : v.get_array()) {
        std::string one;
        if (e.is_object()) {
          auto it = e.get_object().find("identifier");
          one = it != e.get_object().end() ? display_value(it->value()) : json::serialize(e);
        } else {
          one = display_value(e);
        }
        out += (out.empty() ? "" : ", ") + one;
      }
      return out;
    }
    case json::kind::object: return json::serialize(v);
  }
  return "";
}

std::variant<message_template, template_error> message_template::parse(std::string_view text,
                                                                        const std::vector<std::string>& known) {
  message_template t;
  t.text_ = std::string(text);
  std::string lit;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '}' ) {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        lit += '}';
        ++i;
        continue;
      }
      return template_error{i + 1, "a '}' with no '{' before it (write }} for a brace)"};
    }
    if (c != '{') {
      lit += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      lit += '{';
      ++i;
      continue;
    }
    const auto close = text.find('}', i);
    if (close == std::string_view::npos) return template_error{i + 1, "this '{' is not closed"};
    std::string name(text.substr(i + 1, close - i - 1));
    std::string field = name;
    if (field.starts_with("old.") || field.starts_with("new.")) field = field.substr(4);
    const bool plain = !field.empty() && std::all_of(field.begin(), field.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
    if (!plain) return template_error{i + 1, "'{" + name + "}' is not a placeholder: write {field} or {old.field}"};
    const bool is_context = field == name && context_name(name);
    if (!is_context && !known.empty() && std::find(known.begin(), known.end(), field) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return template_error{i + 1, "'{" + name + "}': unknown field '" + field + "'; the object's fields are: " + list +
                                       "; and always: id, tenant, object, rule, op, count, names, link"};
    }
    if (!lit.empty()) t.parts_.push_back({std::move(lit), {}});
    lit.clear();
    t.parts_.push_back({{}, std::move(name)});
    i = close;
  }
  if (!lit.empty()) t.parts_.push_back({std::move(lit), {}});
  return t;
}

std::string message_template::first_field() const {
  for (const auto& p : parts_)
    if (!p.name.empty() && !context_name(p.name)) return p.name;
  return {};
}

std::string message_template::render(const firing_context& ctx) const {
  std::string out;
  for (const auto& p : parts_) {
    if (p.name.empty()) {
      out += p.literal;
      continue;
    }
    if (auto it = ctx.values.find(p.name); it != ctx.values.end()) {
      // names is built from escaped values already; the rest are plain text.
      out += p.name == "names" ? it->second : slack_escape(it->second);
      continue;
    }
    if (!ctx.change) continue;  // a summary has no single record
    std::string_view name = p.name;
    if (name.starts_with("old.")) out += slack_escape(display_value(ctx.change->before(name.substr(4))));
    else if (name.starts_with("new.")) out += slack_escape(display_value(ctx.change->op == change_op::deleted
                                                                            ? json::value()
                                                                            : ctx.change->now(name.substr(4))));
    else out += slack_escape(display_value(ctx.change->now(name)));
  }
  return out;
}

}  // namespace freshet::rules
