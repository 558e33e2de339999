#include "sim/knack_filters.hpp"

#include "core/clock.hpp"
#include "sim/knack_format.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>

namespace freshet::sim {

namespace json = boost::json;

namespace {


std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string as_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_double()) return std::to_string(v.get_double());
  if (v.is_bool()) return v.get_bool() ? "yes" : "no";
  return "";
}

std::optional<double> as_number(const json::value& v) {
  if (v.is_number()) return v.to_number<double>();
  if (v.is_string()) {
    double d = 0;
    const auto s = v.get_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc{} && p == s.data() + s.size()) return d;
  }
  return std::nullopt;
}

bool is_date(knack_type t) { return t == knack_type::date_time || t == knack_type::date; }

// Operators whose value is a date string; the others take no value, or a
// range and a unit (the relative rules of 1.6).
bool takes_date(const std::string& op) { return op == "is" || op == "is not" || op == "is before" || op == "is after"; }

bool is_relative(const std::string& op) {
  return op == "is during the previous" || op == "is during the next" || op == "is before the previous" ||
         op == "is after the next";
}

bool needs_value(const std::string& op) {
  return op != "is blank" && op != "is not blank" && op != "is any" && !op.starts_with("is today") &&
         op != "is before today" && op != "is after today" && op != "is before current time" &&
         op != "is after current time" && op != "is during the current" && !is_relative(op);
}

// `n` units from `ms` (negative: back), calendar-aware for months and years.
std::int64_t shift(std::int64_t ms, const std::string& unit, int n) {
  if (unit == "days") return ms + n * core::kDayMs;
  if (unit == "weeks") return ms + n * 7 * core::kDayMs;
  const civil_date c = to_civil(ms);
  if (unit == "months") return from_civil(c.y, c.m + n, c.d);
  return from_civil(c.y + n, c.m, c.d);  // years
}

// [start, end) of the current week (from Sunday), month, quarter or year.
std::pair<std::int64_t, std::int64_t> current_period(std::int64_t today, const std::string& unit) {
  const civil_date c = to_civil(today);
  if (unit == "week") {
    const std::int64_t start = today - weekday(today) * core::kDayMs;
    return {start, start + 7 * core::kDayMs};
  }
  if (unit == "month") return {from_civil(c.y, c.m, 1), from_civil(c.y, c.m + 1, 1)};
  if (unit == "quarter") {
    const int first = (c.m - 1) / 3 * 3 + 1;
    return {from_civil(c.y, first, 1), from_civil(c.y, first + 3, 1)};
  }
  return {from_civil(c.y, 1, 1), from_civil(c.y + 1, 1, 1)};
}

bool blank(const json::value* v) {
  return !v || v->is_null() || (v->is_string() && v->get_string().empty()) ||
         (v->is_array() && v->get_array().empty());
}

bool rule_matches(const filter_rule& r, const knack_record& rec, std::int64_t now) {
  const std::int64_t today = now - ((now % core::kDayMs) + core::kDayMs) % core::kDayMs;
  const json::value* v = rec.values.if_contains(r.field->key);
  const std::string& op = r.op;
  if (op == "is any") return true;
  if (op == "is blank") return blank(v);
  if (op == "is not blank") return !blank(v);
  const knack_type t = r.field->type;

  if (is_date(t)) {
    if (blank(v)) return false;
    const std::int64_t ms = v->as_int64();
    const std::int64_t tomorrow = today + core::kDayMs;
    if (op == "is today") return ms >= today && ms < tomorrow;
    if (op == "is today or before") return ms < tomorrow;
    if (op == "is today or after") return ms >= today;
    if (op == "is before today") return ms < today;
    if (op == "is after today") return ms >= tomorrow;
    if (op == "is before current time") return ms < now;
    if (op == "is after current time") return ms > now;
    if (op == "is during the current") {
      auto [lo, hi] = current_period(today, r.unit);
      return ms >= lo && ms < hi;
    }
    if (op == "is during the previous") return ms >= shift(today, r.unit, -r.range) && ms < today;
    if (op == "is during the next") return ms >= tomorrow && ms < shift(tomorrow, r.unit, r.range);
    if (op == "is before the previous") return ms < shift(today, r.unit, -r.range);
    if (op == "is after the next") return ms >= shift(tomorrow, r.unit, r.range);
    // Validated at parse for the operators that take a date; any other
    // operator on a date field ("contains") matches nothing.
    if (!takes_date(op) || !r.value.is_string()) return false;
    const auto d = parse_knack_date(r.value.as_string());
    if (!d) return false;
    // Date-only values compare by day; a value with a time compares by minute.
    const std::int64_t lo = d->local_ms;
    const std::int64_t hi = d->has_time ? lo + 60000 : lo + core::kDayMs;
    if (op == "is") return ms >= lo && ms < hi;
    if (op == "is not") return !(ms >= lo && ms < hi);
    if (op == "is before") return ms < lo;
    if (op == "is after") return ms >= hi;
    return false;
  }
  if (t == knack_type::connection) {
    const std::string want = as_text(r.value);
    bool has = false;
    if (!blank(v))
      for (const auto& id : v->as_array()) has = has || id.as_string() == want;
    if (op == "is" || op == "contains") return has;
    if (op == "is not" || op == "does not contain") return !has;
    return false;
  }
  if (t == knack_type::number) {
    const auto want = as_number(r.value);
    const auto have = blank(v) ? std::nullopt : as_number(*v);
    if (!want || !have) return op == "is not";
    if (op == "is") return *have == *want;
    if (op == "is not") return *have != *want;
    if (op == "higher than") return *have > *want;
    if (op == "lower than") return *have < *want;
    return false;
  }
  // Text-like: case-insensitive, as the Builder's filters behave.
  const std::string have = blank(v) ? "" : lower(as_text(*v));
  const std::string want = lower(as_text(r.value));
  if (op == "is") return have == want;
  if (op == "is not") return have != want;
  if (op == "contains") return have.find(want) != std::string::npos;
  if (op == "does not contain") return have.find(want) == std::string::npos;
  if (op == "starts with") return have.rfind(want, 0) == 0;
  if (op == "ends with") return have.size() >= want.size() && have.compare(have.size() - want.size(), want.size(), want) == 0;
  return false;
}

}  // namespace

const std::vector<std::string>& supported_operators() {
  static const std::vector<std::string> ops = {
      "is",          "is not",      "contains",   "does not contain", "starts with", "ends with", "is blank",
      "is not blank", "higher than", "lower than", "is before",        "is after",    "is today",  "is any",
      "is today or before", "is today or after", "is before today", "is after today", "is before current time",
      "is after current time", "is during the current", "is during the previous", "is during the next",
      "is before the previous", "is after the next"};
  return ops;
}

std::variant<knack_filter, std::string> parse_filters(std::string_view text, const knack_object& obj) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return std::string("filters is not valid JSON");
  knack_filter f;
  const json::array* rules = nullptr;
  if (doc.is_array()) {
    rules = &doc.get_array();
  } else if (doc.is_object()) {
    const auto& o = doc.get_object();
    if (const auto* m = o.if_contains("match")) {
      if (!m->is_string() || (m->get_string() != "and" && m->get_string() != "or"))
        return std::string("filters.match must be \"and\" or \"or\"");
      f.match_any = m->get_string() == "or";
    }
    const auto* r = o.if_contains("rules");
    if (!r || !r->is_array()) return std::string("filters.rules must be an array");
    rules = &r->get_array();
  } else {
    return std::string("filters must be an object or an array of rules");
  }
  const auto& ops = supported_operators();
  for (const auto& rv : *rules) {
    if (!rv.is_object()) return std::string("each filter rule must be an object");
    const auto& ro = rv.get_object();
    filter_rule rule;
    const auto* field = ro.if_contains("field");
    if (!field || !field->is_string()) return std::string("a filter rule needs a field");
    rule.field = obj.field(field->get_string());
    if (!rule.field) return "unknown field " + std::string(field->get_string());
    const auto* op = ro.if_contains("operator");
    if (!op || !op->is_string()) return std::string("a filter rule needs an operator");
    rule.op = op->get_string();
    if (std::find(ops.begin(), ops.end(), rule.op) == ops.end()) return "unsupported operator " + rule.op;
    if (needs_value(rule.op)) {
      const auto* value = ro.if_contains("value");
      if (!value) return "operator " + rule.op + " needs a value";
      rule.value = *value;
      if (is_date(rule.field->type) && takes_date(rule.op) &&
          (!value->is_string() || !parse_knack_date(value->get_string())))
        return "a date filter on " + rule.field->key + " takes MM/DD/YYYY or MM/DD/YYYY HH:mm";
    }
    const bool date_only_op = rule.op != "is" && rule.op != "is not" && !needs_value(rule.op) &&
                              rule.op != "is blank" && rule.op != "is not blank" && rule.op != "is any";
    if (date_only_op && !is_date(rule.field->type)) return "operator " + rule.op + " applies to date fields only";
    const auto* type = ro.if_contains("type");
    const std::string unit = type && type->is_string() ? std::string(type->get_string()) : "";
    if (rule.op == "is during the current") {
      if (unit != "week" && unit != "month" && unit != "quarter" && unit != "year")
        return "is during the current needs \"type\": week, month, quarter or year";
      rule.unit = unit;
    }
    if (is_relative(rule.op)) {
      const auto* range = ro.if_contains("range");
      auto n = range ? as_number(*range) : std::nullopt;  // a number or a numeric string
      if (!n || *n < 1 || *n != static_cast<int>(*n)) return rule.op + " needs a whole \"range\" of 1 or more";
      if (unit != "days" && unit != "weeks" && unit != "months" && unit != "years")
        return rule.op + " needs \"type\": days, weeks, months or years";
      rule.range = static_cast<int>(*n);
      rule.unit = unit;
    }
    f.rules.push_back(std::move(rule));
  }
  return f;
}

bool matches(const knack_filter& f, const knack_app&, const knack_record& rec, std::int64_t now_local_ms) {
  if (f.rules.empty()) return true;
  for (const auto& r : f.rules) {
    const bool m = rule_matches(r, rec, now_local_ms);
    if (f.match_any && m) return true;
    if (!f.match_any && !m) return false;
  }
  return !f.match_any;
}

}  // namespace freshet::sim
