// A rule's condition (`when` in [[rules]]): a small expression string checked
// once at start and evaluated on every committed change event with the
// record's old and new values. docs/rules.md is the language's reference.
//
//   op = "created"                               the kind of change
//   quantity >= 40                               a field against a constant
//   county in ["hennepin", "ramsey"]             one of several
//   notes contains "urgent"    notes is empty    text and emptiness
//   registrations >= 0.9 * capacity              a field against another, scaled
//   status becomes "Ready for Donation"          moved into the state (was not in it)
//   status leaves "Received"                     moved out of it
//   status changed                               any change of the field
//   old.status = "Received"                      the value before the change
//   all/any/not: `a and b`, `a or b`, `not (a)`, parentheses
//
// Why a string and not a TOML table tree: the conditions people write read as
// sentences ("status becomes Ready for Donation and county = hennepin"), and a
// tree of tables for three clauses is three times as long and harder to check
// by eye. The parser is small, gives the column of every mistake, and the
// config turns that into file:line:column.
//
// Evaluation never allocates: the parsed tree holds field names and constants,
// and a change_view looks values up in the event's own JSON.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace freshet::rules {

enum class change_op { created, updated, deleted };

// One change as a rule sees it: the new record (null when deleted), the
// fields that changed with their old values (updates), and the record as it
// was (deletions, when the store had it).
struct change_view {
  change_op op = change_op::updated;
  const boost::json::object* record = nullptr;    // after the change
  const boost::json::object* changed = nullptr;   // {"field":{"old":..,"new":..}}
  const boost::json::object* previous = nullptr;  // before a deletion

  // A field's value after the change (for a deletion: as it was); null when absent.
  const boost::json::value& now(std::string_view field) const;
  // A field's value before the change; null for a creation or when unknown.
  const boost::json::value& before(std::string_view field) const;
};

// Builds the view of a change event's JSON; nullopt when it is not a record change.
std::optional<change_view> view_of_change(const boost::json::object& event);

struct condition_error {
  std::size_t column = 0;  // 1-based, in the expression string
  std::string message;
};

class condition {
 public:
  // Parses `text`. `known_fields`, when not empty, are the only field names allowed.
  static std::variant<condition, condition_error> parse(std::string_view text,
                                                        const std::vector<std::string>& known_fields = {});
  // The always-true condition (a rule without `when`).
  condition();

  bool matches(const change_view& change) const;
  // The fields the condition reads (for docs and checks).
  std::vector<std::string> fields() const;

  struct node;

 private:
  explicit condition(std::shared_ptr<const node> root) : root_(std::move(root)) {}
  std::shared_ptr<const node> root_;  // immutable, shared by copies
};

}  // namespace freshet::rules
