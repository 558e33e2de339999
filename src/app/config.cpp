#include "app/config.hpp"

#include "app/jwt.hpp"
#include "redis/redis_connection.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <filesystem>
#include <set>
#include <sstream>

namespace freshet::app {

namespace {

// A number as people write it in the file (0.1, 100), not std::to_string's 0.100000.
std::string plain(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// Thrown inside the parser only; load_config turns it into a config_error.
struct bad_config {
  std::string message;
};

class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::source_region& where, const std::string& sentence) const {
    std::ostringstream os;
    os << file_ << ':' << where.begin.line << ':' << where.begin.column << ": " << sentence;
    throw bad_config{os.str()};
  }

  void only_keys(const toml::table& t, std::string_view section,
                 std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, v] : t) {
      bool known = false;
      for (auto a : allowed) known = known || a == k.str();
      if (!known)
        fail(k.source(), "unknown key '" + std::string(k.str()) + "' in " + std::string(section));
    }
  }

  std::string str(const toml::table& t, std::string_view key, const std::string& dflt,
                  bool required = false) const {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) fail(t.source(), "missing required key '" + std::string(key) + "'");
      return dflt;
    }
    if (!n->is_string()) fail(n->source(), "'" + std::string(key) + "' must be a string");
    std::string v = n->value<std::string>().value();
    if (required && v.empty()) fail(n->source(), "'" + std::string(key) + "' must not be empty");
    return v;
  }

  template <class Int>
  Int integer(const toml::table& t, std::string_view key, Int dflt, std::int64_t lo,
              std::int64_t hi) const {
    const toml::node* n = t.get(key);
    if (!n) return dflt;
    if (!n->is_integer()) fail(n->source(), "'" + std::string(key) + "' must be an integer");
    std::int64_t v = n->value<std::int64_t>().value();
    if (v < lo || v > hi)
      fail(n->source(), "'" + std::string(key) + "' must be between " + std::to_string(lo) +
                            " and " + std::to_string(hi) + ", not " + std::to_string(v));
    return static_cast<Int>(v);
  }

  double number(const toml::table& t, std::string_view key, double dflt, double lo, double hi) const {
    const toml::node* n = t.get(key);
    if (!n) return dflt;
    if (!n->is_number()) fail(n->source(), "'" + std::string(key) + "' must be a number");
    double v = n->value<double>().value();
    if (v < lo || v > hi)
      fail(n->source(), "'" + std::string(key) + "' must be between " + plain(lo) + " and " + plain(hi) + ", not " +
                            plain(v));
    return v;
  }

  std::vector<std::string> strings(const toml::table& t, std::string_view key) const {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) fail(n->source(), "'" + std::string(key) + "' must be an array of strings");
    for (const auto& e : *a) {
      if (!e.is_string()) fail(e.source(), "'" + std::string(key) + "' must hold only strings");
      out.push_back(e.value<std::string>().value());
    }
    return out;
  }

  const toml::table* table(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(n->source(), "'" + std::string(key) + "' must be a table");
    return n->as_table();
  }

  const toml::array* array_of_tables(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables())
      fail(n->source(), "'" + std::string(key) + "' must be written as [[" + std::string(key) + "]]");
    return a;
  }

  // Secrets come only from the environment: the file names the variable.
  std::string env_secret(const toml::table& t, std::string_view key, std::string_view who) const {
    std::string var = str(t, key, "", true);
    const char* v = std::getenv(var.c_str());
    if (!v || !*v)
      fail(t.get(key)->source(), std::string(who) + ": environment variable " + var + " is not set");
    return v;
  }

 private:
  std::string file_;
};

server_config parse_server(const reader& r, const toml::table& t) {
  r.only_keys(t, "[server]",
              {"listen", "data_dir", "auth", "keepalive_seconds", "threads", "max_header_bytes",
               "max_body_bytes", "read_timeout_seconds", "idle_timeout_seconds", "max_connections",
               "send_buffer_bytes", "slow_client_seconds", "retain_events", "retain_hours", "max_batch_events",
               "stale_after_seconds", "refresh_cooldown_seconds", "refresh_timeout_seconds",
               "max_connections_per_address", "allowed_origins", "log_level"});
  server_config s;
  s.listen = r.str(t, "listen", s.listen);
  if (s.listen.rfind(':') == std::string::npos)
    r.fail(t.get("listen")->source(), "'listen' must be host:port, e.g. 127.0.0.1:8080");
  s.data_dir = r.str(t, "data_dir", s.data_dir);
  std::string auth = r.str(t, "auth", "tokens");
  if (auth == "none") s.auth = auth_mode::none;
  else if (auth != "tokens")
    r.fail(t.get("auth")->source(), "'auth' must be \"tokens\" or \"none\", not \"" + auth + "\"");
  s.keepalive_seconds = r.integer(t, "keepalive_seconds", s.keepalive_seconds, 1, 3600);
  s.threads = r.integer(t, "threads", s.threads, 0, 256);
  s.max_header_bytes = r.integer(t, "max_header_bytes", s.max_header_bytes, 1024, 1 << 20);
  s.max_body_bytes = r.integer(t, "max_body_bytes", s.max_body_bytes, 1024, std::int64_t{1} << 30);
  s.read_timeout_seconds = r.integer(t, "read_timeout_seconds", s.read_timeout_seconds, 1, 3600);
  s.idle_timeout_seconds = r.integer(t, "idle_timeout_seconds", s.idle_timeout_seconds, 1, 86400);
  s.max_connections = r.integer(t, "max_connections", s.max_connections, 1, 1'000'000);
  s.max_connections_per_address =
      r.integer(t, "max_connections_per_address", s.max_connections_per_address, 0, 1'000'000);
  s.send_buffer_bytes = r.integer(t, "send_buffer_bytes", s.send_buffer_bytes, 4096, std::int64_t{1} << 30);
  s.slow_client_seconds = r.integer(t, "slow_client_seconds", s.slow_client_seconds, 1, 86400);
  s.retain_events = r.integer(t, "retain_events", s.retain_events, 1, std::int64_t{1} << 40);
  s.retain_hours = r.integer(t, "retain_hours", s.retain_hours, 1, 24 * 3650);
  s.max_batch_events = r.integer(t, "max_batch_events", s.max_batch_events, 1, 1'000'000);
  s.stale_after_seconds = r.integer(t, "stale_after_seconds", s.stale_after_seconds, 1, 86400 * 365);
  s.refresh_cooldown_seconds = r.integer(t, "refresh_cooldown_seconds", s.refresh_cooldown_seconds, 0, 86400);
  s.refresh_timeout_seconds = r.integer(t, "refresh_timeout_seconds", s.refresh_timeout_seconds, 1, 86400);
  s.log_level = r.str(t, "log_level", "");
  if (!s.log_level.empty() && s.log_level != "trace" && s.log_level != "debug" && s.log_level != "info" &&
      s.log_level != "warn" && s.log_level != "error")
    r.fail(t.get("log_level")->source(), "'log_level' is trace, debug, info, warn or error, not \"" + s.log_level + "\"");
  s.allowed_origins = r.strings(t, "allowed_origins");
  for (const auto& o : s.allowed_origins) {
    // An origin as browsers send it: scheme://host[:port], nothing after.
    const bool scheme = o.starts_with("http://") || o.starts_with("https://");
    const auto rest = scheme ? std::string_view(o).substr(o.find("//") + 2) : std::string_view();
    if (o != "*" && (!scheme || rest.empty() || rest.find('/') != std::string_view::npos || o.back() == ':'))
      r.fail(t.get("allowed_origins")->source(),
             "'" + o + "' is not an origin: write scheme://host[:port] with no path (\"https://dash.example.org\"), "
             "or \"*\"");
  }
  return s;
}

store_config parse_store(const reader& r, const toml::table& t) {
  r.only_keys(t, "[store]", {"engine", "redis_url_env", "key_prefix", "accept_weaker_durability", "lease_seconds"});
  store_config s;
  const std::string engine = r.str(t, "engine", "sqlite");
  if (engine == "redis") s.engine = store_engine::redis;
  else if (engine != "sqlite")
    r.fail(t.get("engine")->source(), "'engine' must be \"sqlite\" or \"redis\", not \"" + engine + "\"");
  s.key_prefix = r.str(t, "key_prefix", s.key_prefix);
  if (s.key_prefix.empty() || s.key_prefix.find_first_of("{} \t\r\n") != std::string::npos)
    r.fail(t.get("key_prefix")->source(), "'key_prefix' must be a non-empty name without braces or spaces");
  if (const toml::node* b = t.get("accept_weaker_durability")) {
    if (!b->is_boolean()) r.fail(b->source(), "'accept_weaker_durability' must be true or false");
    s.accept_weaker_durability = b->value<bool>().value();
  }
  s.lease_seconds = r.integer(t, "lease_seconds", s.lease_seconds, 1, 3600);
  s.redis_url_env = r.str(t, "redis_url_env", s.redis_url_env);
  if (s.engine == store_engine::redis) {
    const char* url = std::getenv(s.redis_url_env.c_str());
    if (!url || !*url)
      r.fail(t.get("engine")->source(), "[store] engine = \"redis\": environment variable " + s.redis_url_env +
                                            " is not set (it holds redis://[:password@]host:port/db)");
    std::string why;
    if (!redis::parse_url(url, &why))
      r.fail(t.get("engine")->source(), "[store] environment variable " + s.redis_url_env + ": " + why);
    s.redis_url = url;
  }
  return s;
}

unsigned parse_scopes(const reader& r, const toml::table& t) {
  unsigned scopes = 0;
  const toml::node* n = t.get("scopes");
  if (!n) r.fail(t.source(), "a token needs 'scopes' (read, refresh, admin)");
  for (const auto& s : r.strings(t, "scopes")) {
    unsigned found = 0;
    for (auto [v, name] : scope_names)
      if (s == name) found = v;
    if (!found) r.fail(n->source(), "unknown scope '" + s + "': use read, refresh or admin");
    scopes |= found;
  }
  return scopes;
}

token_config parse_token(const reader& r, const toml::table& t) {
  r.only_keys(t, "[[tokens]]", {"name", "secret_env", "scopes", "tenants"});
  token_config tok;
  tok.name = r.str(t, "name", "", true);
  tok.secret_env = r.str(t, "secret_env", "", true);
  tok.secret = r.env_secret(t, "secret_env", "token '" + tok.name + "'");
  tok.scopes = parse_scopes(r, t);
  tok.tenants = r.strings(t, "tenants");
  // Fail closed: an empty list would read as "every tenant", the opposite of
  // what somebody who wrote a list meant.
  if (t.get("tenants") && tok.tenants.empty())
    r.fail(t.get("tenants")->source(),
           "token '" + tok.name + "': 'tenants' is empty; list the tenants it may see, or leave the key out for every tenant");
  for (const auto& name : tok.tenants)
    if (name.empty()) r.fail(t.get("tenants")->source(), "token '" + tok.name + "': a tenant name is empty");
  // The admin scope sees the whole deployment (audit, stats, broadcasts to any
  // tenant); a tenant list on it would promise a limit it cannot keep.
  if ((tok.scopes & scope_admin) && !tok.tenants.empty())
    r.fail(t.get("tenants")->source(),
           "token '" + tok.name + "': an admin token sees every tenant, so it cannot have 'tenants'; "
           "give the tenant dashboards a token of their own without 'admin'");
  return tok;
}

jwt_config parse_jwt(const reader& r, const toml::table& t) {
  r.only_keys(t, "[[jwt]]", {"name", "algorithm", "secret_env", "public_key_file", "issuer", "audience",
                             "allow_all_tenants", "clock_skew_seconds"});
  jwt_config j;
  j.name = r.str(t, "name", "", true);
  j.algorithm = r.str(t, "algorithm", "", true);
  const std::string who = "jwt issuer '" + j.name + "'";
  if (j.algorithm == "HS256") {
    if (t.get("public_key_file")) r.fail(t.get("public_key_file")->source(), who + ": HS256 takes secret_env, not a public key");
    j.secret_env = r.str(t, "secret_env", "", true);
    j.secret = r.env_secret(t, "secret_env", who);
    // RFC 7518 §3.2: a key at least as long as the hash.
    if (j.secret.size() < 32)
      r.fail(t.get("secret_env")->source(), who + ": the secret in " + j.secret_env +
                                                " is shorter than 32 bytes; HS256 needs 32 or more");
  } else if (j.algorithm == "RS256" || j.algorithm == "ES256") {
    if (t.get("secret_env")) r.fail(t.get("secret_env")->source(), who + ": " + j.algorithm + " takes public_key_file, not a secret");
    j.public_key_file = r.str(t, "public_key_file", "", true);
    std::ifstream in(j.public_key_file, std::ios::binary);
    if (!in) r.fail(t.get("public_key_file")->source(), who + ": cannot read " + j.public_key_file);
    std::stringstream ss;
    ss << in.rdbuf();
    j.public_key_pem = ss.str();
    if (auto why = check_public_key(j.public_key_pem, j.algorithm); !why.empty())
      r.fail(t.get("public_key_file")->source(), who + ": " + j.public_key_file + ": " + why);
  } else {
    r.fail(t.get("algorithm")->source(), who + ": 'algorithm' must be \"HS256\", \"RS256\" or \"ES256\", not \"" +
                                             j.algorithm + "\"");
  }
  j.issuer = r.str(t, "issuer", "");
  j.audience = r.str(t, "audience", "");
  if (const auto* b = t.get("allow_all_tenants")) {
    if (!b->is_boolean()) r.fail(b->source(), "'allow_all_tenants' must be true or false");
    j.allow_all_tenants = b->value<bool>().value();
  }
  j.clock_skew_seconds = r.integer(t, "clock_skew_seconds", 60, 0, 300);
  return j;
}

object_config parse_object(const reader& r, const toml::table& t) {
  r.only_keys(t, "[[sources.objects]]",
              {"name", "key", "fields", "modified_field", "tenant_field", "watch_fields",
               "poll_min_seconds", "poll_max_seconds", "reconcile_seconds"});
  object_config o;
  o.name = r.str(t, "name", "", true);
  o.key = r.str(t, "key", "", true);
  if (const toml::table* f = r.table(t, "fields")) {
    for (const auto& [k, v] : *f) {
      if (!v.is_string()) r.fail(v.source(), "field '" + std::string(k.str()) + "' must map to a string");
      o.fields[std::string(k.str())] = v.value<std::string>().value();
    }
  }
  auto must_be_field = [&](const std::string& name, std::string_view key) {
    if (!name.empty() && !o.fields.empty() && !o.fields.count(name))
      r.fail(t.get(key)->source(), "'" + std::string(key) + "' names '" + name + "', which is not in 'fields'");
  };
  o.modified_field = r.str(t, "modified_field", "");
  must_be_field(o.modified_field, "modified_field");
  o.tenant_field = r.str(t, "tenant_field", "");
  must_be_field(o.tenant_field, "tenant_field");
  o.watch_fields = r.strings(t, "watch_fields");
  for (const auto& w : o.watch_fields) must_be_field(w, "watch_fields");
  o.poll_min_seconds = r.integer(t, "poll_min_seconds", o.poll_min_seconds, 1, 86400);
  o.poll_max_seconds = r.integer(t, "poll_max_seconds", o.poll_max_seconds, 1, 86400);
  if (o.poll_max_seconds < o.poll_min_seconds)
    r.fail(t.source(), "object '" + o.name + "': poll_max_seconds is below poll_min_seconds");
  o.reconcile_seconds = r.integer(t, "reconcile_seconds", o.reconcile_seconds, 1, 86400 * 7);
  return o;
}

source_config parse_source(const reader& r, const toml::table& t) {
  r.only_keys(t, "[[sources]]",
              {"name", "kind", "base_url", "app_id_env", "api_key_env", "base_id_env", "token_env",
               "webhook_secret_env", "webhook_url", "requests_per_second", "rate_margin_percent", "overlap_seconds",
               "timeout_seconds", "ca_file", "objects"});
  source_config s;
  s.name = r.str(t, "name", "", true);
  s.kind = r.str(t, "kind", "", true);
  if (s.kind != "knack" && s.kind != "airtable" && s.kind != "webhook")
    r.fail(t.get("kind")->source(),
           "'kind' must be \"knack\", \"airtable\" or \"webhook\", not \"" + s.kind + "\"");
  const bool polled = s.kind != "webhook";
  s.base_url = r.str(t, "base_url", "", polled);
  if (polled && !s.base_url.starts_with("http://") && !s.base_url.starts_with("https://"))
    r.fail(t.get("base_url")->source(), "'base_url' must start with http:// or https://");
  const std::string who = "source '" + s.name + "'";
  auto secret = [&](std::string_view key, std::string& var, std::string& value, bool required) {
    if (!t.get(key)) {
      if (required) r.fail(t.source(), who + " (" + s.kind + ") needs '" + std::string(key) + "'");
      return;
    }
    var = r.str(t, key, "", true);
    value = r.env_secret(t, key, who);
  };
  secret("app_id_env", s.app_id_env, s.app_id, s.kind == "knack");
  secret("api_key_env", s.api_key_env, s.api_key, s.kind == "knack");
  secret("base_id_env", s.base_id_env, s.base_id, s.kind == "airtable");
  secret("token_env", s.token_env, s.token, s.kind == "airtable");
  secret("webhook_secret_env", s.webhook_secret_env, s.webhook_secret, s.kind == "webhook");
  s.webhook_url = r.str(t, "webhook_url", "");
  if (!s.webhook_url.empty() && s.kind != "airtable")
    r.fail(t.get("webhook_url")->source(),
           "'webhook_url' is for airtable sources (Freshet registers it with Airtable); knack and webhook "
           "sources are sent to POST /api/webhooks/" + s.name);
  s.requests_per_second = r.number(t, "requests_per_second", s.requests_per_second, 0.1, 10000);
  s.rate_margin_percent = r.number(t, "rate_margin_percent", s.rate_margin_percent, 0, 100);
  s.overlap_seconds = r.integer(t, "overlap_seconds", s.overlap_seconds, 0, 86400);
  s.timeout_seconds = r.integer(t, "timeout_seconds", s.timeout_seconds, 1, 600);
  s.ca_file = r.str(t, "ca_file", "");
  if (!s.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(s.ca_file, ec))
      r.fail(t.get("ca_file")->source(), "'ca_file' names '" + s.ca_file + "', which is not a readable file");
  }
  if (const toml::array* objs = r.array_of_tables(t, "objects")) {
    std::set<std::string> names;
    for (const auto& o : *objs) {
      s.objects.push_back(parse_object(r, *o.as_table()));
      if (!names.insert(s.objects.back().name).second)
        r.fail(o.source(), "object '" + s.objects.back().name + "' is configured twice");
    }
  }
  return s;
}

goal_config parse_goal(const reader& r, const toml::table& t, const config& c) {
  r.only_keys(t, "[[goals]]", {"name", "label", "object", "where", "sum", "target", "deadline", "per_tenant"});
  goal_config g;
  g.name = r.str(t, "name", "", true);
  g.label = r.str(t, "label", g.name);
  g.object = r.str(t, "object", "", true);
  const object_config* obj = nullptr;
  for (const auto& s : c.sources)
    for (const auto& o : s.objects)
      if (o.name == g.object) obj = &o;
  if (!obj) r.fail(t.get("object")->source(), "goal '" + g.name + "': no configured object is called '" + g.object + "'");
  // Field names go into a JSON path: plain names only, and fields of the object.
  auto check_field = [&](const std::string& f, const toml::source_region& where) {
    if (f.empty() || f.find_first_of("\"\\.[]$") != std::string::npos)
      r.fail(where, "goal '" + g.name + "': '" + f + "' is not a usable field name");
    if (!obj->fields.empty() && !obj->fields.count(f))
      r.fail(where, "goal '" + g.name + "': object '" + g.object + "' has no field '" + f + "' in 'fields'");
  };
  if (const toml::table* w = r.table(t, "where")) {
    for (const auto& [k, v] : *w) {
      check_field(std::string(k.str()), v.source());
      if (v.is_string()) g.where.emplace_back(std::string(k.str()), boost::json::serialize(boost::json::value(v.value<std::string>().value())));
      else if (v.is_integer()) g.where.emplace_back(std::string(k.str()), std::to_string(v.value<std::int64_t>().value()));
      else if (v.is_boolean()) g.where.emplace_back(std::string(k.str()), v.value<bool>().value() ? "true" : "false");
      else r.fail(v.source(), "goal '" + g.name + "': a 'where' value must be a string, an integer or a boolean");
    }
  }
  g.sum = r.str(t, "sum", "");
  if (!g.sum.empty()) check_field(g.sum, t.get("sum")->source());
  if (!t.get("target")) r.fail(t.source(), "goal '" + g.name + "' needs a 'target'");
  g.target = r.number(t, "target", 0, 0, 1e15);
  if (g.target <= 0) r.fail(t.get("target")->source(), "goal '" + g.name + "': 'target' must be above 0");
  if (const toml::node* d = t.get("deadline")) {
    const auto* date = d->as_date();
    if (!date) r.fail(d->source(), "goal '" + g.name + "': 'deadline' is a date written bare, as deadline = 2027-06-30");
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", static_cast<int>(date->get().year), static_cast<int>(date->get().month),
                  static_cast<int>(date->get().day));
    g.deadline = buf;
  }
  if (const toml::node* pt = t.get("per_tenant")) {
    if (!pt->is_boolean()) r.fail(pt->source(), "goal '" + g.name + "': 'per_tenant' must be true or false");
    g.per_tenant = pt->value<bool>().value();
    if (g.per_tenant && obj->tenant_field.empty())
      r.fail(pt->source(), "goal '" + g.name + "': object '" + g.object + "' has no tenant_field, so it has no tenants to count per");
  }
  return g;
}

notifier_config parse_notifier(const reader& r, const toml::table& t) {
  r.only_keys(t, "[[notifiers]]", {"name", "kind", "url_env", "secret_env", "blocks"});
  notifier_config n;
  n.name = r.str(t, "name", "", true);
  n.kind = r.str(t, "kind", "", true);
  if (n.kind != "slack" && n.kind != "webhook")
    r.fail(t.get("kind")->source(), "'kind' must be \"slack\" or \"webhook\", not \"" + n.kind + "\"");
  const std::string who = "notifier '" + n.name + "'";
  n.url_env = r.str(t, "url_env", "", true);
  n.url = r.env_secret(t, "url_env", who);
  if (!n.url.starts_with("http://") && !n.url.starts_with("https://"))
    r.fail(t.get("url_env")->source(), who + ": the URL in " + n.url_env + " must start with https:// (or http://)");
  if (n.kind == "webhook") {
    n.secret_env = r.str(t, "secret_env", "", true);
    std::istringstream words(r.env_secret(t, "secret_env", who));
    for (std::string w; words >> w;) {
      if (!w.starts_with("whsec_"))
        r.fail(t.get("secret_env")->source(), who + ": " + n.secret_env +
                                                  " must hold whsec_... secrets (several, space-separated, during a rotation)");
      n.secrets.push_back(w);
    }
  } else if (t.get("secret_env")) {
    r.fail(t.get("secret_env")->source(), who + ": Slack incoming webhooks are not signed; 'secret_env' is for kind = \"webhook\"");
  }
  if (const toml::node* b = t.get("blocks")) {
    if (!b->is_boolean()) r.fail(b->source(), who + ": 'blocks' must be true or false");
    if (n.kind != "slack") r.fail(b->source(), who + ": 'blocks' is for kind = \"slack\"");
    n.blocks = b->value<bool>().value();
  }
  return n;
}

// The column of a string value's character `offset` (1-based) in the file:
// the string starts one quote after its node.
toml::source_region inside(const toml::node& n, std::size_t offset) {
  toml::source_region where = n.source();
  where.begin.column += static_cast<toml::source_index>(offset);
  return where;
}

void parse_notify(const reader& r, const toml::table& t, const config& c, rule_config& rule, const std::string& who) {
  rule.notify = r.strings(t, "notify");
  if (rule.notify.empty()) r.fail(t.get("notify") ? t.get("notify")->source() : t.source(), who + " needs 'notify': the notifiers it sends to");
  for (const auto& n : rule.notify) {
    bool found = false;
    for (const auto& nc : c.notifiers) found = found || nc.name == n;
    if (!found) r.fail(t.get("notify")->source(), who + ": no [[notifiers]] is called '" + n + "'");
  }
}

// A rule on a goal: `thresholds` (percents crossed upwards) or `pace_days`
// and `at` (daily, when the recent pace would miss the deadline).
rule_config parse_goal_rule(const reader& r, const toml::table& t, const config& c, rule_config rule,
                            const std::string& who) {
  r.only_keys(t, "[[rules]] on a goal", {"name", "goal", "thresholds", "pace_days", "at", "notify", "message"});
  rule.goal = r.str(t, "goal", "", true);
  const goal_config* goal = nullptr;
  for (const auto& g : c.goals)
    if (g.name == rule.goal) goal = &g;
  if (!goal) r.fail(t.get("goal")->source(), who + ": no [[goals]] is called '" + rule.goal + "'");
  const bool pace = t.get("pace_days") || t.get("at");
  if (pace == static_cast<bool>(t.get("thresholds")))
    r.fail(t.source(), who + ": a goal rule has either 'thresholds' (percents of the target it fires on crossing) "
                             "or 'pace_days' and 'at' (a daily check of the pace against the deadline)");
  if (pace) {
    rule.kind = rule_config::pace;
    if (goal->deadline.empty())
      r.fail(t.get("goal")->source(), who + ": goal '" + goal->name + "' has no 'deadline' for the pace to be checked against");
    rule.pace_days = r.integer(t, "pace_days", rule.pace_days, 1, 365);
    const std::string at = r.str(t, "at", "09:00");
    int h = -1, m = -1;
    if (at.size() != 5 || at[2] != ':' || std::sscanf(at.c_str(), "%2d:%2d", &h, &m) != 2 || h < 0 || h > 23 || m < 0 || m > 59)
      r.fail(t.get("at")->source(), who + ": 'at' is a local time of day, HH:MM (\"09:00\")");
    rule.at_minute = h * 60 + m;
  } else {
    rule.kind = rule_config::threshold;
    const toml::array* a = t.get("thresholds")->as_array();
    if (!a || a->empty()) r.fail(t.get("thresholds")->source(), who + ": 'thresholds' is a list of percents, [50, 100]");
    for (const auto& e : *a) {
      if (!e.is_number() || e.value<double>().value() <= 0 || e.value<double>().value() > 1000)
        r.fail(e.source(), who + ": a threshold is a percent of the target above 0 (50 is half way)");
      rule.thresholds.push_back(e.value<double>().value());
    }
  }
  parse_notify(r, t, c, rule, who);
  static const std::vector<std::string> placeholders{"goal", "label", "value", "target", "percent", "threshold",
                                                     "per_day", "projected", "deadline", "tenant"};
  const std::string text = r.str(t, "message", "", true);
  auto parsed = rules::message_template::parse(text, placeholders);
  if (auto* e = std::get_if<rules::template_error>(&parsed)) r.fail(inside(*t.get("message"), e->column), who + ": " + e->message);
  rule.message = std::get<rules::message_template>(parsed);
  return rule;
}

rule_config parse_rule(const reader& r, const toml::table& t, const config& c) {
  rule_config rule;
  rule.name = r.str(t, "name", "", true);
  const std::string who = "rule '" + rule.name + "'";
  if (t.get("goal")) return parse_goal_rule(r, t, c, rule, who);
  r.only_keys(t, "[[rules]]",
              {"name", "object", "tenants", "when", "notify", "message", "summary", "name_field", "coalesce_seconds"});
  rule.object = r.str(t, "object", "", true);
  const object_config* obj = nullptr;
  for (const auto& s : c.sources)
    for (const auto& o : s.objects)
      if (o.name == rule.object) obj = &o;
  if (!obj) r.fail(t.get("object")->source(), who + ": no configured object is called '" + rule.object + "'");
  std::vector<std::string> fields;
  for (const auto& [k, v] : obj->fields) fields.push_back(k);
  rule.tenants = r.strings(t, "tenants");
  if (t.get("tenants") && rule.tenants.empty())
    r.fail(t.get("tenants")->source(), who + ": 'tenants' is empty; list tenants, or leave the key out for every tenant");
  rule.when_text = r.str(t, "when", "");
  if (t.get("when")) {
    auto parsed = rules::condition::parse(rule.when_text, fields);
    if (auto* e = std::get_if<rules::condition_error>(&parsed)) r.fail(inside(*t.get("when"), e->column), who + ": " + e->message);
    rule.when = std::get<rules::condition>(parsed);
  }
  parse_notify(r, t, c, rule, who);
  auto parse_template = [&](std::string_view key, const std::string& dflt) {
    const std::string text = r.str(t, key, dflt, key == "message");
    auto parsed = rules::message_template::parse(text, fields);
    if (auto* e = std::get_if<rules::template_error>(&parsed)) {
      if (t.get(key)) r.fail(inside(*t.get(key), e->column), who + ": " + e->message);
      r.fail(t.source(), who + ": " + e->message);
    }
    return std::get<rules::message_template>(parsed);
  };
  rule.message = parse_template("message", "");
  // Without a summary, a message that names no record field ("{count} laptops
  // ready in {tenant}") speaks for a coalesced group as well as for one.
  rule.summary = parse_template("summary", rule.message.first_field().empty() ? rule.message.text()
                                                                              : "{count} × {rule} in {tenant}: {names}");
  if (auto f = rule.summary.first_field(); !f.empty())
    r.fail(t.get("summary")->source(), who + ": the summary speaks for several records, so it cannot show {" + f +
                                           "}; use {count}, {names}, {tenant}, {object}, {rule}, {link}");
  rule.name_field = r.str(t, "name_field", "");
  if (!rule.name_field.empty() && !fields.empty() && !obj->fields.count(rule.name_field))
    r.fail(t.get("name_field")->source(), who + ": object '" + rule.object + "' has no field '" + rule.name_field + "'");
  rule.coalesce_seconds = r.integer(t, "coalesce_seconds", 0, 0, 86400);
  return rule;
}

notifications_config parse_notifications(const reader& r, const toml::table& t) {
  r.only_keys(t, "[notifications]",
              {"retry_seconds", "timeout_seconds", "max_outbox", "keep_hours", "allow_private_targets", "dashboard_url"});
  notifications_config n;
  if (const toml::node* rs = t.get("retry_seconds")) {
    const toml::array* a = rs->as_array();
    if (!a || a->empty()) r.fail(rs->source(), "'retry_seconds' must be a non-empty array of integers");
    n.retry_seconds.clear();
    for (const auto& e : *a) {
      if (!e.is_integer() || e.value<std::int64_t>().value() < 0 || e.value<std::int64_t>().value() > 7 * 86400)
        r.fail(e.source(), "'retry_seconds' holds seconds between 0 and 604800");
      n.retry_seconds.push_back(static_cast<int>(e.value<std::int64_t>().value()));
    }
  }
  n.timeout_seconds = r.integer(t, "timeout_seconds", n.timeout_seconds, 1, 300);
  n.max_outbox = r.integer(t, "max_outbox", n.max_outbox, 1, 10'000'000);
  n.keep_hours = r.integer(t, "keep_hours", n.keep_hours, 1, 24 * 3650);
  if (const toml::node* b = t.get("allow_private_targets")) {
    if (!b->is_boolean()) r.fail(b->source(), "'allow_private_targets' must be true or false");
    n.allow_private_targets = b->value<bool>().value();
  }
  n.dashboard_url = r.str(t, "dashboard_url", "");
  while (!n.dashboard_url.empty() && n.dashboard_url.back() == '/') n.dashboard_url.pop_back();
  return n;
}

config parse_root(const reader& r, const toml::table& root, const std::string& name) {
  r.only_keys(root, "the file",
              {"server", "store", "tokens", "jwt", "sources", "goals", "notifiers", "rules", "notifications"});
  config c;
  c.path = name;
  if (const toml::table* s = r.table(root, "server")) c.server = parse_server(r, *s);
  if (const toml::table* s = r.table(root, "store")) c.store = parse_store(r, *s);
  if (const toml::array* toks = r.array_of_tables(root, "tokens"))
    for (const auto& t : *toks) c.tokens.push_back(parse_token(r, *t.as_table()));
  if (const toml::array* issuers = r.array_of_tables(root, "jwt")) {
    std::set<std::string> names;
    for (const auto& j : *issuers) {
      c.jwt.push_back(parse_jwt(r, *j.as_table()));
      if (!names.insert(c.jwt.back().name).second) r.fail(j.source(), "jwt issuer '" + c.jwt.back().name + "' is configured twice");
    }
  }
  if (const toml::array* srcs = r.array_of_tables(root, "sources")) {
    std::set<std::string> names;
    for (const auto& s : *srcs) {
      c.sources.push_back(parse_source(r, *s.as_table()));
      if (!names.insert(c.sources.back().name).second)
        r.fail(s.source(), "source '" + c.sources.back().name + "' is configured twice");
    }
    // Topics and /api/objects name objects without their source.
    std::set<std::string> objects;
    for (std::size_t i = 0; i < c.sources.size(); ++i)
      for (const auto& o : c.sources[i].objects)
        if (!objects.insert(o.name).second)
          r.fail((*srcs)[i].source(), "object '" + o.name + "' is configured in two sources; object names must be unique");
  }
  if (const toml::array* goals = r.array_of_tables(root, "goals")) {
    std::set<std::string> names;
    for (const auto& g : *goals) {
      c.goals.push_back(parse_goal(r, *g.as_table(), c));
      if (!names.insert(c.goals.back().name).second)
        r.fail(g.source(), "goal '" + c.goals.back().name + "' is configured twice");
    }
  }
  if (const toml::table* n = r.table(root, "notifications")) c.notifications = parse_notifications(r, *n);
  if (const toml::array* ns = r.array_of_tables(root, "notifiers")) {
    std::set<std::string> names;
    for (const auto& n : *ns) {
      c.notifiers.push_back(parse_notifier(r, *n.as_table()));
      if (!names.insert(c.notifiers.back().name).second)
        r.fail(n.source(), "notifier '" + c.notifiers.back().name + "' is configured twice");
    }
  }
  if (const toml::array* rs = r.array_of_tables(root, "rules")) {
    std::set<std::string> names;
    for (const auto& rule : *rs) {
      c.rules.push_back(parse_rule(r, *rule.as_table(), c));
      if (!names.insert(c.rules.back().name).second)
        r.fail(rule.source(), "rule '" + c.rules.back().name + "' is configured twice");
    }
  }
  if (c.server.auth == auth_mode::tokens && c.tokens.empty() && c.jwt.empty())
    r.fail(root.source(),
           "no [[tokens]] or [[jwt]] issuers are configured: add one, or set auth = \"none\" in [server] to run "
           "without authentication");
  return c;
}

}  // namespace

std::variant<config, config_error> parse_config(std::string_view toml_text, const std::string& name) {
  reader r(name);
  try {
    toml::table root = toml::parse(toml_text, name);
    return parse_root(r, root, name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << name << ':' << e.source().begin.line << ':' << e.source().begin.column << ": "
       << e.description();
    return config_error{os.str()};
  } catch (const bad_config& e) {
    return config_error{e.message};
  }
}

std::variant<config, config_error> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return config_error{path + ": cannot open the config file"};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace freshet::app
