// The TOML configuration (DESIGN.md "Configuration"). Every option has its
// meaning and default beside it. Secrets are never in the file: the config
// names environment variables and load_config() reads them.
#pragma once

#include "rules/condition.hpp"
#include "rules/message_template.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace freshet::app {

enum class auth_mode { tokens, none };

struct server_config {
  std::string listen = "127.0.0.1:8080";   // host:port to listen on
  std::string data_dir = "./freshet-data"; // where the SQLite store lives
  auth_mode auth = auth_mode::tokens;      // "none" must be said explicitly
  int keepalive_seconds = 15;              // SSE ": ping" / WebSocket ping interval
  int threads = 0;                         // I/O threads; 0 = one per core

  // Limits. Each protects the server from one kind of bad or slow client.
  std::uint32_t max_header_bytes = 16 * 1024;  // larger request head: 431
  std::uint64_t max_body_bytes = 1024 * 1024;  // larger body: 413
  int read_timeout_seconds = 30;   // a started request must arrive whole within this
  int idle_timeout_seconds = 60;   // a keep-alive connection with no request is closed
  int max_connections = 19000;     // beyond: 503 and close (the process may hold 20,000 files)
  // Connections from one client address at once; beyond: 503 and close. 0: no
  // cap. Keeps a few hundred idle sockets from one host from taking them all.
  int max_connections_per_address = 0;
  // Bytes of events held in memory for one stream connection. Past it, the
  // connection reads the rest back from the log, so that it can neither delay
  // others nor grow memory without bound.
  std::uint64_t send_buffer_bytes = 256 * 1024;
  // A stream behind the live edge (reading a burst that did not fit its send
  // buffer back from the log) for longer than this is cut as a slow client.
  // Checked at each keep-alive tick, so the cut comes up to
  // keepalive_seconds later.
  int slow_client_seconds = 30;

  // Retention of the event log: by count and by age; whichever removes more.
  std::uint64_t retain_events = 1'000'000;
  int retain_hours = 168;
  // Group commit: at most this many events share one transaction (one fsync).
  int max_batch_events = 4096;
  // A tenant whose records were last synced longer ago than this is shown as
  // stale by GET /api/objects (and the dashboard).
  int stale_after_seconds = 3600;
  // Tenant refresh: a new refresh of a tenant waits this long after its last
  // one ended (429 with Retry-After); a refresh stops at its next page past
  // its timeout and ends `timed_out`.
  int refresh_cooldown_seconds = 300;
  int refresh_timeout_seconds = 300;
  // Browser origins (scheme://host[:port]) whose pages may call the API and
  // open streams across origins (CORS), or "*" for any. Tokens travel in a
  // header or the stream URL, never in cookies, so credentials are never
  // allowed. Empty: same-origin pages only (the built-in dashboard).
  std::vector<std::string> allowed_origins;
  // trace | debug | info | warn | error; "": the command line's --log-level.
  // Applied at start and again on SIGHUP.
  std::string log_level;

  bool operator==(const server_config&) const = default;
};

enum scope : unsigned { scope_read = 1, scope_refresh = 2, scope_admin = 4 };
// Each scope with its name in the config file, in error messages and in the API.
inline constexpr std::pair<scope, std::string_view> scope_names[] = {
    {scope_read, "read"}, {scope_refresh, "refresh"}, {scope_admin, "admin"}};
inline std::string_view scope_name(scope s) {
  for (auto [v, name] : scope_names)
    if (v == s) return name;
  return "unknown";
}

struct token_config {
  std::string name;
  std::string secret_env;
  std::string secret;  // read from secret_env at load; never logged
  unsigned scopes = 0;
  std::vector<std::string> tenants;  // empty: every tenant

  bool operator==(const token_config&) const = default;
};

// [[jwt]]: an issuer of short-lived tokens (the operator's backend).
struct jwt_config {
  std::string name;
  std::string algorithm;        // HS256 | RS256 | ES256
  std::string secret_env;       // HS256
  std::string secret;           // read from secret_env at load; never logged
  std::string public_key_file;  // RS256, ES256
  std::string public_key_pem;   // read from public_key_file at load
  std::string issuer;           // "": any `iss`
  std::string audience;         // "": `aud` not checked
  bool allow_all_tenants = false;  // a token without `tenants` sees every tenant
  int clock_skew_seconds = 60;

  bool operator==(const jwt_config&) const = default;
};

struct object_config {
  std::string name;
  std::string key;
  std::map<std::string, std::string> fields;  // local name -> upstream field key
  std::string modified_field;
  std::string tenant_field;
  std::vector<std::string> watch_fields;  // empty: every field
  int poll_min_seconds = 15;
  int poll_max_seconds = 180;
  int reconcile_seconds = 900;

  bool operator==(const object_config&) const = default;
};

struct source_config {
  std::string name;
  std::string kind;  // knack | airtable | webhook (any system that sends Standard Webhooks)
  std::string base_url;  // knack, airtable: scheme://host[:port][/path] of the API
  std::string app_id_env, api_key_env;    // knack
  std::string base_id_env, token_env;     // airtable
  std::string webhook_secret_env;         // knack, webhook: whsec_... (Standard Webhooks)
  // Read from the environment at load; never logged.
  std::string app_id, api_key, base_id, token, webhook_secret;
  // airtable: the URL of this Freshet's POST /api/webhooks/{source} as the
  // upstream can reach it. When set, Freshet creates an Airtable webhook,
  // keeps it alive, and applies its payloads; polling falls back to a slow
  // safety net while pings arrive.
  std::string webhook_url;
  double requests_per_second = 10;  // the upstream's limit for this credential
  // The limiter's starts in any window are kept this far under the limit:
  // what the network may shift one request against another on its way
  // (sources/rate_limiter.hpp). 3 % is 30 ms at Knack's 10/s, many times the
  // jitter measured against the simulators (docs/benchmarks.md); a far or
  // busy upstream may need more, and a 429 widens it by itself.
  double rate_margin_percent = 3;
  // Incremental reads ask for records modified since the watermark minus this
  // (clock skew between Freshet and the upstream; same-second writes).
  int overlap_seconds = 120;
  int timeout_seconds = 30;  // one upstream request, connect to last byte
  // PEM file of the certificate authorities to trust for this upstream (one
  // behind a private CA); "": the system's (or SSL_CERT_FILE's).
  std::string ca_file;
  std::vector<object_config> objects;

  bool operator==(const source_config&) const = default;
};

// A goal: an aggregate over one object's records that the dashboard shows as
// a progress bar. Freshet recomputes it from the store after every change to
// the object and publishes a `metric` event when its value moves.
struct goal_config {
  std::string name;    // the metric's name in events ("laptops_donated")
  std::string label;   // what people read ("Laptops donated"); default: name
  std::string object;  // a configured object
  // Records counted: each field equal to the value (JSON text: "\"Donated\"", "3",
  // "true"). Empty: every record.
  std::vector<std::pair<std::string, std::string>> where;
  std::string sum;     // a numeric field to add up instead of counting records
  double target = 0;   // > 0
  std::string deadline;  // "YYYY-MM-DD" (a TOML date) or "": pace rules project against it
  // Also per tenant: each tenant's own value, toward the same target, as
  // metric events of that tenant (the object needs a tenant_field).
  bool per_tenant = false;

  bool operator==(const goal_config&) const = default;
};

// Where notifications go ([[notifiers]]). The URL and secrets are read from
// the environment: a Slack webhook URL is itself a credential.
struct notifier_config {
  std::string name;
  std::string kind;  // slack | webhook
  std::string url_env, url;
  std::string secret_env;            // webhook: whsec_... (several, space-separated, during a rotation)
  std::vector<std::string> secrets;  // read from secret_env at load; never logged
  // slack: also send the text as Block Kit blocks (a section, and a context
  // line with the rule and the dashboard link); `text` stays as the fallback.
  bool blocks = false;

  bool operator==(const notifier_config&) const = default;
};

// A rule ([[rules]]): which committed changes make a notification, to whom,
// and in what words (docs/rules.md).
struct rule_config {
  // A change rule fires on committed change events of its object; a goal
  // rule on its goal: when it crosses a threshold, or on a daily schedule
  // when the recent pace would miss the goal's deadline.
  enum kind_t { change, threshold, pace } kind = change;
  std::string name;
  std::string object;                // change rules: a configured object
  std::string goal;                  // goal rules: a configured goal
  std::vector<double> thresholds;    // threshold: percents of the target (50, 100)
  int pace_days = 14;                // pace: the days whose progress sets the pace
  int at_minute = 9 * 60;            // pace: local time of day it runs (minutes after midnight)
  std::vector<std::string> tenants;  // empty: every tenant
  std::string when_text;             // as written; "" fires on every change
  rules::condition when;
  std::vector<std::string> notify;   // notifier names
  rules::message_template message;   // one firing
  // Several firings gathered by coalescing ({count}, {names}, {tenant}, ...).
  rules::message_template summary;
  std::string name_field;            // what {names} lists records by; "" = their ids
  int coalesce_seconds = 0;          // 0: every firing is its own message
};

// The delivery pipeline ([notifications]).
struct notifications_config {
  // Seconds after a failed attempt before the next one; past the last the
  // message is marked failed (kept; retried by hand). Svix's schedule.
  std::vector<int> retry_seconds{0, 5, 300, 1800, 7200, 18000, 36000, 36000};
  int timeout_seconds = 15;   // one delivery attempt, connect to answer
  int max_outbox = 10'000;    // undelivered messages held at most; past it firings are refused
  int keep_hours = 168;       // delivered and failed messages are kept this long
  // Outbound URLs may point at loopback, private and link-local addresses
  // (the simulators, an in-house receiver). Off: those are refused (SSRF).
  bool allow_private_targets = false;
  std::string dashboard_url;  // the base of {link}; "": http://<listen>

  bool operator==(const notifications_config&) const = default;
};

// [store]: which engine holds the events and records. SQLite (the default)
// is a file in data_dir; Redis is shared by several instances of one
// deployment (docs/scale-out.md).
enum class store_engine { sqlite, redis };
struct store_config {
  store_engine engine = store_engine::sqlite;
  // The variable holding redis://[[user]:password@]host[:port][/db]: an
  // environment variable, not the file, since the URL may hold a password.
  std::string redis_url_env = "FRESHET_REDIS_URL";
  std::string redis_url;  // read from it by load_config (engine = "redis" only)
  // Every key of the deployment starts with {key_prefix}: several
  // deployments can share one Redis, and the braces keep a deployment's keys
  // in one Redis Cluster slot.
  std::string key_prefix = "freshet";
  // Redis must run with appendonly yes and appendfsync always for an
  // acknowledged event to survive its crash; with weaker settings Freshet
  // refuses to start unless this accepts the weaker promise.
  bool accept_weaker_durability = false;
  // A source's leader (the one instance that syncs it) holds a lease this
  // long; another instance takes over within this time of its end.
  int lease_seconds = 10;

  bool operator==(const store_config&) const = default;
};

struct config {
  std::string path;  // the file it came from ("" when built in code, as by `demo`)
  server_config server;
  store_config store;
  std::vector<token_config> tokens;
  std::vector<jwt_config> jwt;
  std::vector<source_config> sources;
  std::vector<goal_config> goals;
  std::vector<notifier_config> notifiers;
  std::vector<rule_config> rules;
  notifications_config notifications;
};

// Loads and validates a config file. On any problem returns the message
// "FILE:LINE:COL: sentence" for the first one found; unknown keys and bad
// values are refused, and so is a missing environment variable for a secret.
struct config_error {
  std::string message;
};
std::variant<config, config_error> load_config(const std::string& path);
// The same from TOML text (for tests and for `demo`); `name` stands for the file.
std::variant<config, config_error> parse_config(std::string_view toml_text, const std::string& name);

}  // namespace freshet::app
