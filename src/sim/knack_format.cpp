#include "sim/knack_format.hpp"
#include "core/clock.hpp"

#include <boost/json/array.hpp>

#include <charconv>
#include <cstdio>

namespace freshet::sim {

namespace json = boost::json;

namespace {

struct civil {
  int y, m, d, hh, mm;
};

civil civil_from_ms(std::int64_t ms) {
  std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t sod = secs - days * 86400;
  const auto date = core::civil_from_days(days);
  return {date.year, date.month, date.day, static_cast<int>(sod / 3600), static_cast<int>(sod % 3600 / 60)};
}

std::string two(int v) {
  char b[8];
  std::snprintf(b, sizeof b, "%02d", v);
  return b;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

bool is_empty(const json::value* v) {
  if (!v || v->is_null()) return true;
  if (v->is_string()) return v->get_string().empty();
  if (v->is_array()) return v->get_array().empty();
  return false;
}

}  // namespace

civil_date to_civil(std::int64_t local_ms) {
  const civil c = civil_from_ms(local_ms);
  return {c.y, c.m, c.d};
}

std::int64_t from_civil(int y, int m, int d) {
  // Normalise the month so callers can step across years.
  y += (m - 1) / 12 - ((m - 1) % 12 < 0 ? 1 : 0);
  m = ((m - 1) % 12 + 12) % 12 + 1;
  return core::days_from_civil(y, m, d) * 86400000;
}

int weekday(std::int64_t local_ms) {
  const std::int64_t days = (local_ms >= 0 ? local_ms : local_ms - 86399999) / 86400000;
  return static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
}

std::string format_date(std::int64_t local_ms, bool with_time) {
  const civil c = civil_from_ms(local_ms);
  std::string out = two(c.m) + "/" + two(c.d) + "/" + std::to_string(c.y);
  if (with_time) {
    const int h12 = c.hh % 12 == 0 ? 12 : c.hh % 12;
    out += " " + std::to_string(h12) + ":" + two(c.mm) + (c.hh < 12 ? "am" : "pm");
  }
  return out;
}

json::object render_date_raw(std::int64_t local_ms, bool with_time) {
  const civil c = with_time ? civil_from_ms(local_ms) : civil_from_ms(local_ms - local_ms % 86400000);
  // A date-only value shows 12:00 AM and time 720, as real data does (1.5).
  const int hh = with_time ? c.hh : 0;
  const int mm = with_time ? c.mm : 0;
  const int h12 = hh % 12 == 0 ? 12 : hh % 12;
  const std::string date = two(c.m) + "/" + two(c.d) + "/" + std::to_string(c.y);
  char iso[40];
  std::snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:00.000Z", c.y, c.m, c.d, hh, mm);
  const std::int64_t ms = core::days_from_civil(c.y, c.m, c.d) * 86400000 + (hh * 60 + mm) * 60000;
  return json::object{{"date", date},
                      {"date_formatted", date},
                      {"hours", two(h12)},
                      {"minutes", two(mm)},
                      {"am_pm", hh < 12 ? "AM" : "PM"},
                      {"unix_timestamp", ms},
                      {"iso_timestamp", iso},
                      {"timestamp", date + " " + two(h12) + ":" + two(mm) + (hh < 12 ? " am" : " pm")},
                      {"time", with_time ? hh * 60 + mm : 720}};
}

std::optional<parsed_date> parse_knack_date(std::string_view s) {
  int m = 0, d = 0, y = 0, hh = 0, mm = 0;
  char tail = 0;
  const std::string str(s);
  const int n = std::sscanf(str.c_str(), "%2d/%2d/%4d %2d:%2d%c", &m, &d, &y, &hh, &mm, &tail);
  if (n != 3 && n != 5) return std::nullopt;
  if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1900 || y > 2200 || hh < 0 || hh > 23 || mm < 0 || mm > 59)
    return std::nullopt;
  return parsed_date{core::days_from_civil(y, m, d) * 86400000 + (hh * 60 + mm) * 60000, n == 5};
}

json::object render_record(const knack_app& app, const knack_object& obj, const knack_record& rec) {
  json::object out;
  out["id"] = rec.id;
  for (const auto& f : obj.fields) {
    const json::value* v = rec.values.if_contains(f.key);
    const std::string raw_key = f.key + "_raw";
    if (is_empty(v)) {
      // Empty: "" and no _raw key. A number shows 0, as seen in real data.
      out[f.key] = f.type == knack_type::number ? json::value(0) : json::value("");
      continue;
    }
    switch (f.type) {
      case knack_type::short_text:
      case knack_type::multiple_choice:
        out[f.key] = *v;
        out[raw_key] = *v;
        break;
      case knack_type::number:
        out[f.key] = *v;
        out[raw_key] = *v;
        break;
      case knack_type::boolean:
        out[f.key] = v->as_bool() ? "Yes" : "No";
        out[raw_key] = v->as_bool();
        break;
      case knack_type::email: {
        const std::string e(v->as_string());
        out[f.key] = "<a href=\"mailto:" + html_escape(e) + "\">" + html_escape(e) + "</a>";
        out[raw_key] = json::object{{"email", e}};
        break;
      }
      case knack_type::date_time:
      case knack_type::date: {
        const bool with_time = f.type == knack_type::date_time;
        out[f.key] = format_date(v->as_int64(), with_time);
        out[raw_key] = render_date_raw(v->as_int64(), with_time);
        break;
      }
      case knack_type::connection: {
        const knack_object* target = app.object(f.connects_to);
        std::string formatted;
        json::array raw;
        for (const auto& id : v->as_array()) {
          const std::string rid(id.as_string());
          std::string label;
          if (target) {
            if (const knack_record* r = target->find(rid))
              if (const auto* l = r->values.if_contains(target->identifier_field); l && l->is_string())
                label = l->as_string();
          }
          formatted += "<span class=\"" + rid + "\" data-kn=\"connection-value\">" + html_escape(label) + "</span>";
          raw.push_back(json::object{{"id", rid}, {"identifier", label}});
        }
        out[f.key] = formatted;
        out[raw_key] = std::move(raw);
        break;
      }
    }
  }
  return out;
}

std::optional<json::value> parse_written_value(const knack_field& f, const json::value& v, std::string& error) {
  if (v.is_null() || (v.is_string() && v.get_string().empty())) return json::value(nullptr);
  switch (f.type) {
    case knack_type::short_text:
    case knack_type::multiple_choice:
    case knack_type::email:
      if (v.is_string()) return v;
      if (f.type == knack_type::email && v.is_object() && v.get_object().contains("email") &&
          v.get_object().at("email").is_string())
        return v.get_object().at("email");
      error = f.key + " takes a string";
      return std::nullopt;
    case knack_type::number:
      if (v.is_number()) return v;
      if (v.is_string()) {
        double d = 0;
        const auto s = v.get_string();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec == std::errc{} && p == s.data() + s.size()) return json::value(d);
      }
      error = f.key + " takes a number";
      return std::nullopt;
    case knack_type::boolean:
      if (v.is_bool()) return v;
      if (v.is_string()) {
        std::string s(v.get_string());
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (s == "yes" || s == "true" || s == "on") return json::value(true);
        if (s == "no" || s == "false" || s == "off") return json::value(false);
      }
      error = f.key + " takes yes or no";
      return std::nullopt;
    case knack_type::date_time:
    case knack_type::date:
      if (v.is_string()) {
        if (auto d = parse_knack_date(v.get_string())) return json::value(d->local_ms);
      }
      error = f.key + " takes a date as MM/DD/YYYY or MM/DD/YYYY HH:mm";
      return std::nullopt;
    case knack_type::connection: {
      json::array ids;
      auto take = [&](const json::value& e) {
        if (e.is_string()) ids.push_back(e);
        else if (e.is_object() && e.get_object().contains("id")) ids.push_back(e.get_object().at("id"));
      };
      if (v.is_array())
        for (const auto& e : v.get_array()) take(e);
      else
        take(v);
      if (ids.empty()) {
        error = f.key + " takes record ids";
        return std::nullopt;
      }
      return json::value(std::move(ids));
    }
  }
  return std::nullopt;
}

}  // namespace freshet::sim
