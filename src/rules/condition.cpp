#include "rules/condition.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

namespace freshet::rules {

namespace json = boost::json;

namespace {

const json::value kNull;

const json::value& field_of(const json::object* o, std::string_view f) {
  if (!o) return kNull;
  auto it = o->find(f);
  return it == o->end() ? kNull : it->value();
}

// A number, or a string that holds one (Knack sends some numbers as text).
std::optional<double> as_number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  if (v.is_string()) {
    const auto& s = v.get_string();
    double d = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return d;
  }
  return std::nullopt;
}

bool same(const json::value& a, const json::value& b) {
  if (a.is_number() || b.is_number()) {
    auto x = as_number(a), y = as_number(b);
    return x && y && *x == *y;
  }
  // A connection field ([{id, identifier}]) with one entry equals its identifier.
  if (a.is_array() && b.is_string() && a.get_array().size() == 1) {
    const auto& e = a.get_array()[0];
    if (e.is_object()) return field_of(&e.get_object(), "identifier") == b || field_of(&e.get_object(), "id") == b;
  }
  return a == b;
}

bool empty_value(const json::value& v) {
  return v.is_null() || (v.is_string() && v.get_string().empty()) || (v.is_array() && v.get_array().empty()) ||
         (v.is_object() && v.get_object().empty());
}

bool contains_value(const json::value& hay, const json::value& needle) {
  if (hay.is_string() && needle.is_string())
    return std::string_view(hay.get_string()).find(std::string_view(needle.get_string())) != std::string_view::npos;
  if (hay.is_array())
    for (const auto& e : hay.get_array()) {
      if (same(e, needle)) return true;
      if (e.is_object() && (same(field_of(&e.get_object(), "identifier"), needle) ||
                            same(field_of(&e.get_object(), "id"), needle)))
        return true;
    }
  return false;
}

enum class cmp { eq, ne, lt, le, gt, ge };

bool compare(const json::value& a, cmp op, const json::value& b) {
  if (op == cmp::eq) return same(a, b);
  if (op == cmp::ne) return !same(a, b);
  int order = 0;
  if (auto x = as_number(a), y = as_number(b); x && y && (a.is_number() || b.is_number())) {
    order = *x < *y ? -1 : *x > *y ? 1 : 0;
  } else if (a.is_string() && b.is_string()) {
    // Text compares byte-wise: ISO dates and times order correctly.
    auto c = std::string_view(a.get_string()).compare(std::string_view(b.get_string()));
    order = c < 0 ? -1 : c > 0 ? 1 : 0;
  } else {
    return false;  // a missing value, or unlike types, is never less or greater
  }
  switch (op) {
    case cmp::lt: return order < 0;
    case cmp::le: return order <= 0;
    case cmp::gt: return order > 0;
    default: return order >= 0;
  }
}

}  // namespace

const json::value& change_view::now(std::string_view f) const {
  return op == change_op::deleted ? field_of(previous, f) : field_of(record, f);
}

const json::value& change_view::before(std::string_view f) const {
  switch (op) {
    case change_op::created: return kNull;
    case change_op::deleted: return field_of(previous, f);
    case change_op::updated:
      if (changed) {
        auto it = changed->find(f);
        if (it != changed->end() && it->value().is_object()) return field_of(&it->value().get_object(), "old");
      }
      return field_of(record, f);  // unchanged by this event
  }
  return kNull;
}

std::optional<change_view> view_of_change(const json::object& ev) {
  auto type = ev.find("type");
  if (type == ev.end() || type->value() != "change") return std::nullopt;
  auto op = ev.find("op");
  if (op == ev.end() || !op->value().is_string()) return std::nullopt;
  change_view v;
  const auto& s = op->value().get_string();
  if (s == "created") v.op = change_op::created;
  else if (s == "updated") v.op = change_op::updated;
  else if (s == "deleted") v.op = change_op::deleted;
  else return std::nullopt;
  auto obj = [&](std::string_view k) -> const json::object* {
    auto it = ev.find(k);
    return it != ev.end() && it->value().is_object() ? &it->value().get_object() : nullptr;
  };
  v.record = obj("record");
  v.changed = obj("changed");
  v.previous = obj("previous");
  return v;
}

// ---- the tree ----

struct field_ref {
  std::string name;
  bool old = false;  // old.name: the value before the change
  const json::value& get(const change_view& c) const { return old ? c.before(name) : c.now(name); }
};

struct condition::node {
  enum kind { all, any, negate, compare_const, compare_field, in_list, contains, is_empty, becomes, leaves,
              changed, op_is, always } k = always;
  std::vector<std::shared_ptr<const node>> kids;
  field_ref field;
  cmp op = cmp::eq;
  json::value constant;
  std::vector<json::value> list;
  double factor = 1;  // compare_field: field op factor * other
  field_ref other;
  unsigned ops = 0;   // op_is: bit per change_op

  bool eval(const change_view& c) const {
    switch (k) {
      case all:
        for (const auto& n : kids)
          if (!n->eval(c)) return false;
        return true;
      case any:
        for (const auto& n : kids)
          if (n->eval(c)) return true;
        return false;
      case negate: return !kids[0]->eval(c);
      case compare_const: return compare(field.get(c), op, constant);
      case compare_field: {
        const auto& b = other.get(c);
        if (factor == 1) return compare(field.get(c), op, b);
        auto y = as_number(b);
        return y && compare(field.get(c), op, json::value(factor * *y));
      }
      case in_list:
        for (const auto& v : list)
          if (same(field.get(c), v)) return true;
        return false;
      case contains: return contains_value(field.get(c), constant);
      case is_empty: return empty_value(field.get(c));
      case becomes:
        return c.op != change_op::deleted && same(c.now(field.name), constant) && !same(c.before(field.name), constant);
      case leaves:
        return c.op != change_op::created && same(c.before(field.name), constant) &&
               (c.op == change_op::deleted || !same(c.now(field.name), constant));
      case changed:
        if (c.op == change_op::updated) return c.changed && c.changed->contains(field.name);
        return !empty_value(c.now(field.name));  // appeared with the record, or went with it
      case op_is: return (ops >> static_cast<unsigned>(c.op)) & 1u;
      case always: return true;
    }
    return false;
  }

  void collect(std::set<std::string>& out) const {
    if (!field.name.empty()) out.insert(field.name);
    if (!other.name.empty()) out.insert(other.name);
    for (const auto& n : kids) n->collect(out);
  }
};

namespace {

using node = condition::node;
using node_ptr = std::shared_ptr<const node>;

struct token {
  enum kind { end, word, string, number, punct } k = end;
  std::string text;
  double num = 0;
  std::size_t column = 1;
};

struct parse_failure {
  condition_error error;
};

class parser {
 public:
  parser(std::string_view text, const std::vector<std::string>& known) : text_(text), known_(known) { advance(); }

  node_ptr parse_all() {
    auto n = parse_or();
    if (tok_.k != token::end) fail(tok_.column, "unexpected '" + tok_.text + "': expected and, or, or the end");
    return n;
  }

 private:
  [[noreturn]] void fail(std::size_t column, std::string message) const {
    throw parse_failure{{column, std::move(message)}};
  }

  bool is_word(std::string_view w) const { return tok_.k == token::word && tok_.text == w; }
  bool is_punct(std::string_view p) const { return tok_.k == token::punct && tok_.text == p; }

  void advance() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    tok_ = token{};
    tok_.column = pos_ + 1;
    if (pos_ >= text_.size()) return;
    const char c = text_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t b = pos_;
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_' || text_[pos_] == '.'))
        ++pos_;
      tok_.k = token::word;
      tok_.text = std::string(text_.substr(b, pos_ - b));
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || (c == '-' && pos_ + 1 < text_.size() &&
                                                        std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])))) {
      double d = 0;
      auto [p, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), d);
      if (ec != std::errc()) fail(pos_ + 1, "this number cannot be read");
      tok_.k = token::number;
      tok_.text = std::string(text_.substr(pos_, p - (text_.data() + pos_)));
      tok_.num = d;
      pos_ = p - text_.data();
      return;
    }
    if (c == '"' || c == '\'') {
      // Text in double or single quotes (single ones read well inside a TOML
      // basic string: when = "status becomes 'Ready'").
      const char quote = c;
      const std::string unclosed = std::string("this text has no closing ") + quote;
      std::string s;
      ++pos_;
      while (true) {
        if (pos_ >= text_.size()) fail(tok_.column, unclosed);
        char ch = text_[pos_++];
        if (ch == quote) break;
        if (ch == '\\') {
          if (pos_ >= text_.size()) fail(tok_.column, unclosed);
          ch = text_[pos_++];
          if (ch != quote && ch != '\\')
            fail(pos_ - 1, std::string("only \\") + quote + " and \\\\ may follow a backslash");
        }
        s += ch;
      }
      tok_.k = token::string;
      tok_.text = std::move(s);
      return;
    }
    static constexpr std::string_view two[] = {"!=", "<=", ">=", "=="};
    for (auto p : two)
      if (text_.substr(pos_, 2) == p) {
        tok_.k = token::punct;
        tok_.text = std::string(p == "==" ? "=" : p);
        pos_ += 2;
        return;
      }
    if (std::string_view("()[],*=<>").find(c) != std::string_view::npos) {
      tok_.k = token::punct;
      tok_.text = std::string(1, c);
      ++pos_;
      return;
    }
    fail(pos_ + 1, std::string("unexpected character '") + c + "'");
  }

  node_ptr parse_or() {
    auto first = parse_and();
    if (!is_word("or")) return first;
    auto n = std::make_shared<node>();
    n->k = node::any;
    n->kids.push_back(first);
    while (is_word("or")) {
      advance();
      n->kids.push_back(parse_and());
    }
    return n;
  }

  node_ptr parse_and() {
    auto first = parse_unary();
    if (!is_word("and")) return first;
    auto n = std::make_shared<node>();
    n->k = node::all;
    n->kids.push_back(first);
    while (is_word("and")) {
      advance();
      n->kids.push_back(parse_unary());
    }
    return n;
  }

  node_ptr parse_unary() {
    if (++depth_ > 32) fail(tok_.column, "the condition nests deeper than 32 levels");
    node_ptr out;
    if (is_word("not")) {
      advance();
      auto n = std::make_shared<node>();
      n->k = node::negate;
      n->kids.push_back(parse_unary());
      out = n;
    } else if (is_punct("(")) {
      const auto col = tok_.column;
      advance();
      out = parse_or();
      if (!is_punct(")")) fail(col, "this '(' is not closed");
      advance();
    } else {
      out = parse_clause();
    }
    --depth_;
    return out;
  }

  static bool keyword(std::string_view w) {
    static constexpr std::string_view words[] = {"and", "or", "not", "in", "contains", "is", "empty",
                                                 "becomes", "leaves", "changed", "true", "false", "null"};
    return std::find(std::begin(words), std::end(words), w) != std::end(words);
  }

  field_ref read_field(bool allow_old = true) {
    if (tok_.k != token::word || keyword(tok_.text))
      fail(tok_.column, tok_.k == token::end ? "a field name is missing at the end"
                                             : "expected a field name, not '" + tok_.text + "'");
    field_ref f;
    std::string name = tok_.text;
    if (name.starts_with("old.") || name.starts_with("new.")) {
      if (!allow_old) fail(tok_.column, "old. and new. do not apply here: the clause compares the two itself");
      f.old = name.starts_with("old.");
      name = name.substr(4);
    }
    if (name.empty() || name.find('.') != std::string::npos)
      fail(tok_.column, "'" + tok_.text + "' is not a field name (use old.field for the value before the change)");
    if (!known_.empty() && name != "id" && std::find(known_.begin(), known_.end(), name) == known_.end()) {
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      fail(tok_.column, "unknown field '" + name + "'; the object's fields are: " + list);
    }
    f.name = std::move(name);
    advance();
    return f;
  }

  json::value read_constant(std::string_view what) {
    json::value v;
    if (tok_.k == token::string) v = json::string(tok_.text);
    else if (tok_.k == token::number) v = tok_.num;
    else if (is_word("true")) v = true;
    else if (is_word("false")) v = false;
    else if (is_word("null")) v = nullptr;
    else
      fail(tok_.column, std::string(what) + " must be a constant (\"text\", a number, true, false or null), not " +
                            (tok_.k == token::end ? std::string("the end") : "'" + tok_.text + "'"));
    advance();
    return v;
  }

  std::vector<json::value> read_list() {
    if (!is_punct("[")) fail(tok_.column, "'in' takes a list: in [\"a\", \"b\"]");
    const auto col = tok_.column;
    advance();
    std::vector<json::value> out;
    while (!is_punct("]")) {
      if (tok_.k == token::end) fail(col, "this '[' is not closed");
      out.push_back(read_constant("a list item"));
      if (is_punct(",")) advance();
      else if (!is_punct("]")) fail(tok_.column, "expected ',' or ']' in the list");
    }
    advance();
    if (out.empty()) fail(col, "the list is empty, so the clause could never hold");
    return out;
  }

  node_ptr parse_op_clause() {
    advance();  // "op"
    auto n = std::make_shared<node>();
    n->k = node::op_is;
    auto one = [&]() -> unsigned {
      if (tok_.k != token::string) fail(tok_.column, "op compares with \"created\", \"updated\" or \"deleted\"");
      unsigned bit = tok_.text == "created" ? 1u : tok_.text == "updated" ? 2u : tok_.text == "deleted" ? 4u : 0u;
      if (!bit) fail(tok_.column, "op is \"created\", \"updated\" or \"deleted\", not \"" + tok_.text + "\"");
      advance();
      return bit;
    };
    if (is_punct("=")) {
      advance();
      n->ops = one();
    } else if (is_punct("!=")) {
      advance();
      n->ops = 7u & ~one();
    } else if (is_word("in")) {
      advance();
      if (!is_punct("[")) fail(tok_.column, "'in' takes a list: op in [\"created\", \"updated\"]");
      advance();
      while (!is_punct("]")) {
        n->ops |= one();
        if (is_punct(",")) advance();
        else if (!is_punct("]")) fail(tok_.column, "expected ',' or ']' in the list");
      }
      advance();
    } else {
      fail(tok_.column, "op takes =, != or in");
    }
    return n;
  }

  node_ptr parse_clause() {
    if (is_word("op")) return parse_op_clause();
    const auto col = tok_.column;
    const bool qualified = tok_.k == token::word && (tok_.text.starts_with("old.") || tok_.text.starts_with("new."));
    auto n = std::make_shared<node>();
    n->field = read_field();
    auto plain_only = [&](std::string_view what) {
      if (qualified) fail(col, "'" + std::string(what) + "' compares the old and new values itself: drop old./new.");
    };
    if (is_word("becomes") || is_word("leaves")) {
      plain_only(tok_.text);
      n->k = tok_.text == "becomes" ? node::becomes : node::leaves;
      advance();
      n->constant = read_constant("what follows becomes/leaves");
      return n;
    }
    if (is_word("changed")) {
      plain_only("changed");
      advance();
      n->k = node::changed;
      return n;
    }
    if (is_word("is")) {
      advance();
      bool negated = false;
      if (is_word("not")) {
        negated = true;
        advance();
      }
      if (!is_word("empty")) fail(tok_.column, "'is' is followed by 'empty' or 'not empty'");
      advance();
      n->k = node::is_empty;
      if (!negated) return n;
      auto neg = std::make_shared<node>();
      neg->k = node::negate;
      neg->kids.push_back(n);
      return neg;
    }
    if (is_word("in")) {
      advance();
      n->k = node::in_list;
      n->list = read_list();
      return n;
    }
    if (is_word("contains")) {
      advance();
      n->k = node::contains;
      n->constant = read_constant("what follows contains");
      if (!n->constant.is_string() && !n->constant.is_number())
        fail(col, "contains looks for text or a number");
      return n;
    }
    static const std::set<std::string, std::less<>> comparisons{"=", "!=", "<", "<=", ">", ">="};
    if (tok_.k != token::punct || !comparisons.contains(tok_.text))
      fail(tok_.column, tok_.k == token::end
                            ? "the clause ends after the field: add =, !=, <, <=, >, >=, in, contains, is empty, "
                              "becomes, leaves or changed"
                            : "expected a comparison after the field, not '" + tok_.text + "'");
    const std::string opt = tok_.text;
    n->op = opt == "=" ? cmp::eq : opt == "!=" ? cmp::ne : opt == "<" ? cmp::lt : opt == "<=" ? cmp::le
            : opt == ">" ? cmp::gt : cmp::ge;
    const auto op_col = tok_.column;
    advance();
    // The right side: a constant, a field, or number * field.
    if (tok_.k == token::number) {
      const double num = tok_.num;
      advance();
      if (is_punct("*")) {
        advance();
        n->k = node::compare_field;
        n->factor = num;
        n->other = read_field();
        return n;
      }
      n->k = node::compare_const;
      n->constant = num;
      return n;
    }
    if (tok_.k == token::word && !keyword(tok_.text)) {
      n->k = node::compare_field;
      n->other = read_field();
      return n;
    }
    n->k = node::compare_const;
    n->constant = read_constant("the right side of " + opt);
    const bool ordered = n->op != cmp::eq && n->op != cmp::ne;
    if (ordered && !n->constant.is_number() && !n->constant.is_string())
      fail(op_col, "'" + opt + "' orders numbers and text; true, false and null can only be compared with = or !=");
    return n;
  }

  std::string_view text_;
  const std::vector<std::string>& known_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  token tok_;
};

}  // namespace

condition::condition() : root_(std::make_shared<node>()) {}

std::variant<condition, condition_error> condition::parse(std::string_view text,
                                                          const std::vector<std::string>& known_fields) {
  try {
    parser p(text, known_fields);
    auto empty = text.find_first_not_of(" \t\r\n") == std::string_view::npos;
    if (empty) return condition_error{1, "the condition is empty; leave 'when' out to fire on every change"};
    return condition(p.parse_all());
  } catch (const parse_failure& f) {
    return f.error;
  }
}

bool condition::matches(const change_view& change) const { return root_->eval(change); }

std::vector<std::string> condition::fields() const {
  std::set<std::string> s;
  root_->collect(s);
  return {s.begin(), s.end()};
}

}  // namespace freshet::rules
