// A rule's message (`message` and `summary` in [[rules]]): text with
// placeholders in braces, checked at start and rendered per firing.
//
//   {field}        the record's value after the change (before, for a deletion)
//   {old.field}    the value before the change     {new.field}  after it
//   {id} {tenant} {object} {rule} {op}             the change itself
//   {count}        firings gathered into this message (coalescing)
//   {names}        the first few gathered records by name ("A, B, C and 9 more")
//   {link}         the dashboard's page of the object
//   {{ and }}      literal braces
//
// Values are escaped for Slack's mrkdwn (&, <, > become &amp; &lt; &gt;) so a
// record's text can never become a link or a mention; the template's own text
// is kept as written, so an operator can write <!here> or <url|label>.
#pragma once

#include "rules/condition.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace freshet::rules {

// Slack's escaping of text: & < > only (quotes are safe in mrkdwn).
std::string slack_escape(std::string_view text);

// How a value reads in a message: text as is, numbers as people write them
// (40, 12.5), true/false, connection fields by their identifiers, "" for null.
std::string display_value(const boost::json::value& v);

struct firing_context {
  const change_view* change = nullptr;  // null when rendering a summary
  // Everything else, by placeholder name: id, tenant, object, rule, op,
  // count, names, link.
  std::map<std::string, std::string, std::less<>> values;
};

struct template_error {
  std::size_t column = 0;  // 1-based
  std::string message;
};

class message_template {
 public:
  // `known_fields`, when not empty, are the field names a placeholder may use.
  static std::variant<message_template, template_error> parse(std::string_view text,
                                                              const std::vector<std::string>& known_fields = {});
  std::string render(const firing_context& ctx) const;
  const std::string& text() const { return text_; }
  // The first placeholder that reads a record field ({status}, {old.status}), or "".
  std::string first_field() const;

 private:
  struct part {
    std::string literal;  // when name is empty
    std::string name;     // a placeholder: field, old.field, new.field or a context name
  };
  std::string text_;
  std::vector<part> parts_;
};

}  // namespace freshet::rules
