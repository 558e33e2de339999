// Knack's `filters` parameter (upstream-apis.md 1.6): {"match":"and|or",
// "rules":[{"field","operator","value"}]} or a bare array of rules (= and).
// Parsing checks fields and operators against the object, so a bad filter is
// a 400 before any record is read.
#pragma once

#include "sim/knack_model.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <variant>
#include <vector>

namespace freshet::sim {

struct filter_rule {
  const knack_field* field = nullptr;
  std::string op;
  boost::json::value value;
  int range = 0;     // relative date rules: how many units
  std::string unit;  // days | weeks | months | years, or for "is during the current": week | month | quarter | year
};

struct knack_filter {
  bool match_any = false;  // "or"
  std::vector<filter_rule> rules;
};

// The operators this simulator implements; others are refused with 400.
const std::vector<std::string>& supported_operators();

std::variant<knack_filter, std::string> parse_filters(std::string_view text, const knack_object& obj);

// `now_local_ms`: now in the app's local wall time (for the relative date rules).
bool matches(const knack_filter& f, const knack_app& app, const knack_record& rec, std::int64_t now_local_ms);

}  // namespace freshet::sim
