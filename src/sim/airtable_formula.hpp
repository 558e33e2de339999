// The part of Airtable's formula language that filterByFormula needs for the
// incremental-sync patterns of upstream-apis.md 2.4: field references
// {Name}, string and number literals, = != < > <= >= &, AND OR NOT IF,
// IS_AFTER IS_BEFORE, LAST_MODIFIED_TIME() CREATED_TIME() RECORD_ID(),
// SET_TIMEZONE (the zone is ignored: all times are UTC), DATETIME_PARSE,
// BLANK() TRUE() FALSE(). Anything else is refused at parse time, as
// Airtable refuses an invalid formula with 422.
#pragma once

#include "sim/airtable_model.hpp"

#include <memory>
#include <string>
#include <variant>

namespace freshet::sim {

class airtable_formula {
 public:
  struct node;
  // The error, when there is one, is the sentence after "The formula for
  // filtering records is invalid: ".
  static std::variant<airtable_formula, std::string> parse(std::string_view text, const airtable_table& table);
  bool matches(const airtable_record& rec) const;

 private:
  std::shared_ptr<const node> root_;
};

}  // namespace freshet::sim
