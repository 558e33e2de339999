#include "sim/airtable_formula.hpp"

#include <boost/json/serialize.hpp>

#include <cctype>
#include <charconv>
#include <cmath>
#include <vector>

namespace freshet::sim {

namespace {

struct value {
  enum kind_t { blank, text, number, boolean, time } kind = blank;
  std::string s;
  double n = 0;
  bool b = false;
  std::int64_t t = 0;
};

bool truthy(const value& v) {
  switch (v.kind) {
    case value::blank: return false;
    case value::text: return !v.s.empty();
    case value::number: return v.n != 0;
    case value::boolean: return v.b;
    case value::time: return true;
  }
  return false;
}

std::optional<std::int64_t> as_time(const value& v) {
  if (v.kind == value::time) return v.t;
  if (v.kind == value::text) return parse_airtable_time(v.s);
  return std::nullopt;
}

std::optional<double> as_number(const value& v) {
  if (v.kind == value::number) return v.n;
  if (v.kind == value::boolean) return v.b ? 1 : 0;
  if (v.kind == value::text) {
    double d = 0;
    auto [p, ec] = std::from_chars(v.s.data(), v.s.data() + v.s.size(), d);
    if (ec == std::errc{} && p == v.s.data() + v.s.size()) return d;
  }
  return std::nullopt;
}

std::string as_text(const value& v) {
  switch (v.kind) {
    case value::blank: return "";
    case value::text: return v.s;
    case value::number: {
      if (v.n == std::floor(v.n) && std::abs(v.n) < 1e15) return std::to_string(static_cast<long long>(v.n));
      return std::to_string(v.n);
    }
    case value::boolean: return v.b ? "1" : "0";
    case value::time: return format_airtable_time(v.t);
  }
  return "";
}

// -1, 0, 1, or nullopt when the two cannot be ordered (a blank, say).
std::optional<int> compare(const value& a, const value& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.kind == value::time || b.kind == value::time) {
    auto x = as_time(a), y = as_time(b);
    if (!x || !y) return std::nullopt;
    return cmp(*x, *y);
  }
  if (a.kind == value::number || b.kind == value::number) {
    auto x = as_number(a), y = as_number(b);
    if (!x || !y) return std::nullopt;
    return cmp(*x, *y);
  }
  return cmp(as_text(a), as_text(b));
}

}  // namespace

struct airtable_formula::node {
  enum kind_t { literal, field, call, binary } kind = literal;
  value lit;
  std::string name;  // field name, function name or operator
  std::vector<std::shared_ptr<const node>> args;

  value eval(const airtable_record& rec) const {
    switch (kind) {
      case literal: return lit;
      case field: return field_value(rec);
      case binary: return eval_binary(rec);
      case call: return eval_call(rec);
    }
    return {};
  }

  value field_value(const airtable_record& rec) const {
    const auto* v = rec.fields.if_contains(name);
    value out;
    if (!v || v->is_null()) return out;
    if (v->is_string()) out = {value::text, std::string(v->get_string())};
    else if (v->is_bool()) out.kind = value::boolean, out.b = v->get_bool();
    else if (v->is_number()) out.kind = value::number, out.n = v->to_number<double>();
    else out = {value::text, boost::json::serialize(*v)};
    return out;
  }

  value eval_binary(const airtable_record& rec) const {
    const value a = args[0]->eval(rec), b = args[1]->eval(rec);
    value out;
    if (name == "&") return {value::text, as_text(a) + as_text(b)};
    out.kind = value::boolean;
    if (name == "=" || name == "!=") {
      bool eq = (a.kind == value::blank || b.kind == value::blank) ? as_text(a) == as_text(b) : compare(a, b) == 0;
      out.b = name == "=" ? eq : !eq;
      return out;
    }
    const auto c = compare(a, b);
    if (!c) return out;  // false
    out.b = name == "<" ? *c < 0 : name == ">" ? *c > 0 : name == "<=" ? *c <= 0 : *c >= 0;
    return out;
  }

  value eval_call(const airtable_record& rec) const {
    value out;
    auto boolean = [](bool b) {
      value v;
      v.kind = value::boolean;
      v.b = b;
      return v;
    };
    if (name == "AND") {
      for (const auto& a : args)
        if (!truthy(a->eval(rec))) return boolean(false);
      return boolean(true);
    }
    if (name == "OR") {
      for (const auto& a : args)
        if (truthy(a->eval(rec))) return boolean(true);
      return boolean(false);
    }
    if (name == "NOT") return boolean(!truthy(args[0]->eval(rec)));
    if (name == "IF") return truthy(args[0]->eval(rec)) ? args[1]->eval(rec) : (args.size() > 2 ? args[2]->eval(rec) : out);
    if (name == "IS_AFTER" || name == "IS_BEFORE") {
      auto a = as_time(args[0]->eval(rec)), b = as_time(args[1]->eval(rec));
      if (!a || !b) return boolean(false);
      return boolean(name == "IS_AFTER" ? *a > *b : *a < *b);
    }
    if (name == "LAST_MODIFIED_TIME") {
      if (!rec.modified_ms) return out;  // blank until the first edit
      out.kind = value::time;
      out.t = *rec.modified_ms;
      return out;
    }
    if (name == "CREATED_TIME") {
      out.kind = value::time;
      out.t = rec.created_ms;
      return out;
    }
    if (name == "RECORD_ID") return {value::text, rec.id};
    if (name == "SET_TIMEZONE") return args[0]->eval(rec);
    if (name == "DATETIME_PARSE") {
      auto t = as_time(args[0]->eval(rec));
      if (!t) return out;
      out.kind = value::time;
      out.t = *t;
      return out;
    }
    if (name == "TRUE") return boolean(true);
    if (name == "FALSE") return boolean(false);
    return out;  // BLANK()
  }
};

namespace {

using node_ptr = std::shared_ptr<const airtable_formula::node>;

struct arity {
  const char* name;
  int min, max;
};
constexpr arity kFunctions[] = {{"AND", 1, 99},         {"OR", 1, 99},         {"NOT", 1, 1},
                                {"IF", 2, 3},           {"IS_AFTER", 2, 2},    {"IS_BEFORE", 2, 2},
                                {"LAST_MODIFIED_TIME", 0, 99}, {"CREATED_TIME", 0, 0}, {"RECORD_ID", 0, 0},
                                {"SET_TIMEZONE", 2, 2}, {"DATETIME_PARSE", 1, 3}, {"BLANK", 0, 0},
                                {"TRUE", 0, 0},         {"FALSE", 0, 0}};

class parser {
 public:
  parser(std::string_view text, const airtable_table& table) : s_(text), table_(table) {}

  node_ptr parse_all() {
    auto n = comparison();
    skip();
    if (pos_ != s_.size()) fail("unexpected '" + std::string(s_.substr(pos_, 10)) + "'");
    return n;
  }

  struct error {
    std::string message;
  };

 private:
  [[noreturn]] void fail(const std::string& m) { throw error{m}; }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(std::string_view tok) {
    skip();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }

  // Bounds on what a client's formula may build: the parser, the evaluator and
  // the tree's destructor all recurse, so depth and size must not be the
  // client's to choose (found by fuzz_sim_filters: "((((..." overflowed the stack).
  static constexpr int kMaxDepth = 64;
  static constexpr int kMaxNodes = 2000;
  struct depth_guard {
    parser& p;
    explicit depth_guard(parser& pr) : p(pr) {
      if (++p.depth_ > kMaxDepth) p.fail("the formula is nested too deeply");
    }
    ~depth_guard() { --p.depth_; }
  };
  std::shared_ptr<airtable_formula::node> new_node() {
    if (++nodes_ > kMaxNodes) fail("the formula is too long");
    return std::make_shared<airtable_formula::node>();
  }

  node_ptr make_binary(std::string op, node_ptr a, node_ptr b) {
    auto n = new_node();
    n->kind = airtable_formula::node::binary;
    n->name = std::move(op);
    n->args = {std::move(a), std::move(b)};
    return n;
  }

  node_ptr comparison() {
    depth_guard guard(*this);
    auto left = concat();
    for (const char* op : {"!=", "<=", ">=", "=", "<", ">"})
      if (eat(op)) return make_binary(op, left, concat());
    return left;
  }

  node_ptr concat() {
    auto left = primary();
    while (eat("&")) left = make_binary("&", left, primary());
    return left;
  }

  node_ptr primary() {
    skip();
    if (pos_ >= s_.size()) fail("the formula ends too early");
    auto n = new_node();
    const char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      auto inner = comparison();
      if (!eat(")")) fail("a '(' is not closed");
      return inner;
    }
    if (c == '"' || c == '\'') {
      const auto end = s_.find(c, pos_ + 1);
      if (end == std::string_view::npos) fail("a string is not closed");
      n->lit = {value::text, std::string(s_.substr(pos_ + 1, end - pos_ - 1))};
      pos_ = end + 1;
      return n;
    }
    if (c == '{') {
      const auto end = s_.find('}', pos_);
      if (end == std::string_view::npos) fail("a field reference is not closed");
      const std::string name(s_.substr(pos_ + 1, end - pos_ - 1));
      const airtable_field* f = table_.field(name);
      if (!f) fail("Unknown field names: " + name);
      n->kind = airtable_formula::node::field;
      n->name = f->name;
      pos_ = end + 1;
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
      double d = 0;
      auto [p, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), d);
      if (ec != std::errc{}) fail("a number is not valid");
      n->lit.kind = value::number;
      n->lit.n = d;
      pos_ = static_cast<std::size_t>(p - s_.data());
      return n;
    }
    std::size_t end = pos_;
    while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) ++end;
    std::string name(s_.substr(pos_, end - pos_));
    for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (name.empty()) fail("unexpected '" + std::string(1, c) + "'");
    pos_ = end;
    const arity* fn = nullptr;
    for (const auto& a : kFunctions)
      if (name == a.name) fn = &a;
    if (!fn) fail("Unknown function names: " + name);
    n->kind = airtable_formula::node::call;
    n->name = name;
    if (!eat("(")) fail(name + " needs its arguments in parentheses");
    if (!eat(")")) {
      do n->args.push_back(comparison());
      while (eat(","));
      if (!eat(")")) fail("the arguments of " + name + " are not closed");
    }
    const int count = static_cast<int>(n->args.size());
    if (count < fn->min || count > fn->max) fail(name + " takes " + std::to_string(fn->min) + " to " + std::to_string(fn->max) + " arguments");
    return n;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  int depth_ = 0;   // comparison() calls open now
  int nodes_ = 0;   // nodes made so far
  const airtable_table& table_;
};

}  // namespace

std::variant<airtable_formula, std::string> airtable_formula::parse(std::string_view text,
                                                                    const airtable_table& table) {
  try {
    airtable_formula f;
    f.root_ = parser(text, table).parse_all();
    return f;
  } catch (const parser::error& e) {
    return e.message;
  }
}

bool airtable_formula::matches(const airtable_record& rec) const { return truthy(root_->eval(rec)); }

}  // namespace freshet::sim
