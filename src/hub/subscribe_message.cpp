#include "hub/subscribe_message.hpp"

#include "core/event.hpp"

#include <boost/json/parse.hpp>

namespace freshet::hub {

namespace json = boost::json;

std::variant<parsed_subscribe, http::api_error> parse_subscribe(std::string_view text) {
  using boost::beast::http::status;
  auto bad = [](std::string msg) { return http::api_error{status::bad_request, "invalid_message", std::move(msg)}; };
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return http::api_error{status::bad_request, "malformed_json", "The message is not a JSON object."};
  const auto& o = v.get_object();
  const auto* op = o.if_contains("op");
  if (!op || !op->is_string() || op->get_string() != "subscribe")
    return bad("The only operation is {\"op\":\"subscribe\",...}.");
  parsed_subscribe s;
  if (const auto* objs = o.if_contains("objects"); objs && !objs->is_null()) {
    if (!objs->is_array()) return bad("'objects' must be an array of object names.");
    for (const auto& e : objs->get_array()) {
      if (!e.is_string()) return bad("'objects' must be an array of object names.");
      s.objects.emplace_back(e.get_string());
    }
  }
  if (const auto* t = o.if_contains("tenant"); t && !t->is_null()) {
    if (!t->is_string()) return bad("'tenant' must be a string.");
    s.tenant = t->get_string();
  }
  if (const auto* since = o.if_contains("since"); since && !since->is_null()) {
    if (!since->is_string()) return bad("'since' must be an event id string.");
    s.since = core::parse_event_id(since->get_string());
    s.bad_since = !s.since;
  }
  return s;
}


}  // namespace freshet::hub
