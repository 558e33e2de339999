#include "store/redis_store.hpp"

#include "core/clock.hpp"
#include "store/record_events.hpp"
#include "store/write_cost.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <map>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace freshet::store {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using command = std::vector<std::string>;
using redis::reply;

namespace {

// The commit: applies a batch's writes only if no commit (of any instance)
// came in since the batch was read and computed, which meta.commit_seq
// tells, and every lease that fences a set of it is still held with the
// set's token; then every write, the new high-water id and the records
// version, in one atomic step. KEYS: meta, the commit priority. ARGV: the
// expected commit_seq, the new last_id ("" when the batch made no event),
// "1" when it wrote records, this instance's id, the number of fences F, F
// pairs (lease key, expected holder), then the writes as (command, argument
// count, arguments...). The writes are plain HSET/HDEL/ZADD/ZREM/HINCRBY/XADD
// whose keys are the deployment's (one hash tag); the checks run before any
// of them, so a refused commit writes nothing. While another instance holds
// the priority, a commit waits for it (the holder's commit gives it up).
// Returns {1, records_version}, {0} for a lost race, {2, k} when the k-th
// fence is stale, {3} while another instance holds the priority.
constexpr const char* kCommitScript = R"lua(
local prio = redis.call('GET', KEYS[2])
if prio and prio ~= ARGV[4] then return {3} end
local seq = tonumber(redis.call('HGET', KEYS[1], 'commit_seq') or '0')
if seq ~= tonumber(ARGV[1]) then return {0} end
local f = tonumber(ARGV[5])
for k = 1, f do
  if redis.call('GET', ARGV[4 + 2 * k]) ~= ARGV[5 + 2 * k] then return {2, k} end
end
if prio then redis.call('DEL', KEYS[2]) end
local i = 6 + 2 * f
local n = #ARGV
while i <= n do
  local argc = tonumber(ARGV[i + 1])
  redis.call(ARGV[i], unpack(ARGV, i + 2, i + 1 + argc))
  i = i + 2 + argc
end
redis.call('HINCRBY', KEYS[1], 'commit_seq', 1)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_id', ARGV[2]) end
local rv
if ARGV[3] == '1' then rv = redis.call('HINCRBY', KEYS[1], 'records_version', 1)
else rv = tonumber(redis.call('HGET', KEYS[1], 'records_version') or '0') end
return {1, rv}
)lua";

// Takes the commit priority, or extends it when this instance holds it
// already. KEYS: the priority. ARGV: this instance's id, its lifetime in
// ms. Returns 1 when this instance holds it now, 0 when another does.
constexpr const char* kTakePriorityScript = R"lua(
local prio = redis.call('GET', KEYS[1])
if prio and prio ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
)lua";

// Gives the commit priority up if this instance holds it. KEYS: the
// priority. ARGV: this instance's id.
constexpr const char* kReleasePriorityScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
)lua";

// How long the commit priority lives: three times the holder's last
// attempt (reading, computing and committing a batch; a page of a
// thousand records on a loaded machine can take longer than the old fixed
// 200 ms, and a priority that expires mid-attempt lets the holder lose
// again), within these bounds, so that an instance that dies holding it
// holds nobody up for long.
constexpr std::chrono::milliseconds kPriorityMin{200}, kPriorityMax{2000};
// How long a write waits for another instance's priority before it is
// refused as overloaded: longer than the longest priority.
constexpr std::chrono::milliseconds kPriorityPatience = 3 * kPriorityMax;

// A batch of plain appends (broadcasts): nothing to read or diff, so the
// ids are given here, after the newest, and the batch cannot lose a race:
// one round trip, where a change set needs two. KEYS: meta, the log, the
// commit priority. ARGV: this instance's id, the number of events N, then
// per event its type, object, tenant, ms and its JSON after the id
// (`,"type":...}`). Returns {1, the id before the first}, or {0} while
// another instance holds the priority.
constexpr const char* kAppendScript = R"lua(
local prio = redis.call('GET', KEYS[3])
if prio and prio ~= ARGV[1] then return {0} end
local last = tonumber(redis.call('HGET', KEYS[1], 'last_id') or '0')
local n = tonumber(ARGV[2])
for k = 1, n do
  local a = 2 + (k - 1) * 5
  local id = string.format('%d', last + k)
  redis.call('XADD', KEYS[2], id .. '-0', 't', ARGV[a + 1], 'o', ARGV[a + 2], 'n', ARGV[a + 3], 'ms', ARGV[a + 4],
             'j', '{"id":"' .. id .. '"' .. ARGV[a + 5])
end
redis.call('HSET', KEYS[1], 'last_id', string.format('%d', last + n))
redis.call('HINCRBY', KEYS[1], 'commit_seq', 1)
if prio then redis.call('DEL', KEYS[3]) end
return {1, string.format('%d', last)}
)lua";

// A page of records read at one point of the log: the high-water id and
// records version with the records, in one atomic step. KEYS: meta, the
// records hash, then the id sets to read (the object's, or one per
// tenant). ARGV: the lex start ("-" or "(after"), the limit. Returns
// {last_id, records_version, id, row, id, row, ...}, up to the limit from
// each set; the caller merges them in byte order (Lua's comparison follows
// the server's locale).
constexpr const char* kSnapshotScript = R"lua(
local m = redis.call('HMGET', KEYS[1], 'last_id', 'records_version')
local out = {m[1] or '0', m[2] or '0'}
local limit = tonumber(ARGV[2])
for k = 3, #KEYS do
  local ids = redis.call('ZRANGEBYLEX', KEYS[k], ARGV[1], '+', 'LIMIT', 0, limit)
  local j = 1
  while j <= #ids do
    local chunk = {}
    for c = j, math.min(j + 499, #ids) do chunk[#chunk + 1] = ids[c] end
    local rows = redis.call('HMGET', KEYS[2], unpack(chunk))
    for c = 1, #chunk do
      out[#out + 1] = chunk[c]
      out[#out + 1] = rows[c] or ''
    end
    j = j + 500
  end
end
return out
)lua";

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::int64_t to_i64(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Stream entry ids are "<number>-0": the event's (or audit row's) id.
std::string entry_id(std::uint64_t n) { return std::to_string(n) + "-0"; }
std::uint64_t entry_number(std::string_view id) { return to_u64(id.substr(0, id.find('-'))); }

// A stored record: "<updated id> <hash> <tenant length> <tenant><data>".
std::string encode_row(const stored_row& r) {
  std::string out = std::to_string(r.updated_event_id);
  out += ' ';
  out += r.hash;
  out += ' ';
  out += std::to_string(r.tenant.size());
  out += ' ';
  out += r.tenant;
  out += r.data;
  return out;
}

std::optional<stored_row> decode_row(std::string_view v) {
  const auto a = v.find(' ');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = v.find(' ', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  const auto c = v.find(' ', b + 1);
  if (c == std::string_view::npos) return std::nullopt;
  const auto tenant_len = to_u64(v.substr(b + 1, c - b - 1));
  if (c + 1 + tenant_len > v.size()) return std::nullopt;
  stored_row r;
  r.updated_event_id = to_u64(v.substr(0, a));
  r.hash = v.substr(a + 1, b - a - 1);
  r.tenant = v.substr(c + 1, tenant_len);
  r.data = v.substr(c + 1 + tenant_len);
  return r;
}

// A field of a stream entry's [name, value, ...] list.
std::string_view field_of(const reply& fields, std::string_view name) {
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2)
    if (fields.elements[i].str == name) return fields.elements[i + 1].str;
  return {};
}

bool is_entry(const reply& e) {
  return e.type == reply::kind::array && e.elements.size() == 2 && e.elements[1].type == reply::kind::array;
}

core::event_ptr event_of(const reply& entry) {
  const auto& f = entry.elements[1];
  const auto type = core::parse_event_type(field_of(f, "t")).value_or(core::event_type::message);
  return core::make_event(entry_number(entry.elements[0].str), type, std::string(field_of(f, "o")),
                          std::string(field_of(f, "n")), std::string(field_of(f, "j")));
}

// A JSON value as SQLite's json_extract gives it to `=` and TOTAL: null
// (never equal), a number, or text (a string's contents; an array's or
// object's JSON). The Redis engine's aggregates follow the SQLite engine's.
struct sql_value {
  enum { null, number, text } kind = null;
  double n = 0;
  std::string s;
};

sql_value sql_value_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return {};
    case json::kind::bool_: return {sql_value::number, v.get_bool() ? 1.0 : 0.0, {}};
    case json::kind::int64: return {sql_value::number, static_cast<double>(v.get_int64()), {}};
    case json::kind::uint64: return {sql_value::number, static_cast<double>(v.get_uint64()), {}};
    case json::kind::double_: return {sql_value::number, v.get_double(), {}};
    case json::kind::string: return {sql_value::text, 0, std::string(v.get_string())};
    default: return {sql_value::text, 0, json::serialize(v)};
  }
}

bool sql_equal(const sql_value& a, const sql_value& b) {
  if (a.kind == sql_value::null || a.kind != b.kind) return false;
  return a.kind == sql_value::number ? a.n == b.n : a.s == b.s;
}

double sql_total_term(const sql_value& v) {
  if (v.kind == sql_value::number) return v.n;
  if (v.kind == sql_value::text) {
    double d = 0;
    const auto [end, ec] = std::from_chars(v.s.data(), v.s.data() + v.s.size(), d);
    if (ec == std::errc{} && end == v.s.data() + v.s.size()) return d;
  }
  return 0;
}

// Names this process among the deployment's instances, for its leases.
std::string random_instance_id() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> any;
  std::mt19937_64 gen((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  return fmt::format("{:016x}", any(gen));
}

// Why Redis's settings do not make an acknowledged write durable, or "".
std::string weaker_durability(const std::string& appendonly, const std::string& appendfsync) {
  if (appendonly != "yes") return "appendonly is " + (appendonly.empty() ? std::string("unknown") : appendonly);
  if (appendfsync != "always")
    return "appendfsync is " + (appendfsync.empty() ? std::string("unknown") : appendfsync);
  return {};
}

}  // namespace

// ---- the engine ----

struct redis_store::impl {
  // One queued write: an event draft, or a change set (then `changes` is set).
  struct pending {
    core::event_draft draft;
    append_callback done;
    std::unique_ptr<change_set> changes;
    changes_callback changes_done;
    std::size_t bytes = 0;
  };

  // What one commit attempt read and computed.
  struct plan {
    std::uint64_t expected_seq = 0, base_last = 0, audit_next = 0;
    std::uint64_t last = 0;  // the newest id after the commit
    std::vector<std::string> writes;
    std::vector<std::string> fences;        // (lease key, expected holder) pairs
    std::vector<std::size_t> fence_owner;   // the batch position of each fence
    std::vector<core::event_ptr> events;
    std::vector<core::event_ptr> appended;  // a plain append's event, by batch position
    std::vector<change_result> results;     // a change set's result, by batch position
    bool records_written = false;
  };

  explicit impl(redis_store_options o)
      : opts(std::move(o)),
        prefix("{" + opts.key_prefix + "}:"),
        k_meta(prefix + "meta"),
        k_log(prefix + "log"),
        k_audit(prefix + "audit"),
        k_deliveries(prefix + "deliveries"),
        k_rule_state(prefix + "rule_state"),
        k_signals(prefix + "signals"),
        k_priority(prefix + "commit_priority"),
        work(asio::make_work_guard(io)),
        background_pause(io),
        wake(io),
        tail_pause(io) {}

  // Keys of one object, one source.
  std::string rec_key(const std::string& s, const std::string& o) const { return prefix + "rec:" + s + ":" + o; }
  std::string ids_key(const std::string& s, const std::string& o) const { return prefix + "ids:" + s + ":" + o; }
  std::string tids_key(const std::string& s, const std::string& o, const std::string& t) const {
    return prefix + "tids:" + s + ":" + o + ":" + t;
  }
  std::string tenants_key(const std::string& s, const std::string& o) const {
    return prefix + "tenants:" + s + ":" + o;
  }
  std::string sync_key(const std::string& s) const { return prefix + "sync:" + s; }
  std::string tsync_key(const std::string& s, const std::string& o) const { return prefix + "tsync:" + s + ":" + o; }
  std::string lease_key(const std::string& name) const { return prefix + "lease:" + name; }
  std::string lease_holder(std::uint64_t token) const { return instance_id + ":" + std::to_string(token); }
  static std::string delivery_field(const std::string& s, const std::string& id) { return s + '\n' + id; }

  std::int64_t now_ms() const { return opts.wall_ms ? opts.wall_ms() : core::wall_ms(); }

  void start();
  void stop();
  awaitable<void> open();
  awaitable<void> run_writer();
  awaitable<void> run_tail();
  awaitable<void> commit_batch();
  awaitable<void> commit_appends();
  // A batch that took the priority and ends without the commit that gives
  // it up (fenced away, refused, overloaded): the others need not wait for
  // it to expire.
  awaitable<void> release_priority();
  // After a commit: the events to the listener in id order, then the answers.
  awaitable<void> finish_commit(plan& p);
  awaitable<void> read_for(plan& p, std::unordered_map<std::string, std::optional<stored_row>>& rows,
                           std::vector<char>& duplicate, std::map<std::pair<std::size_t, std::size_t>, std::vector<std::string>>& kept);
  void compute(plan& p, std::unordered_map<std::string, std::optional<stored_row>> rows,
               const std::vector<char>& duplicate,
               const std::map<std::pair<std::size_t, std::size_t>, std::vector<std::string>>& stored_ids);
  awaitable<void> catch_up(std::uint64_t upto);
  void deliver(std::vector<core::event_ptr> events);
  awaitable<void> prune();
  awaitable<std::uint64_t> first_age_kept(const std::string& stream, std::uint64_t from, std::uint64_t to,
                                          std::int64_t cutoff);
  awaitable<void> refresh_first_id();
  awaitable<std::unique_ptr<redis::connection>> take_reader();
  // `keep`: a key for a state write (a job's latest state, its claim's
  // end): kept and sent again while Redis cannot be reached, a newer one of
  // the same key replacing it. Without one the command is a hint, lost then.
  void call_later(command c, std::string keep = {});
  awaitable<void> run_background();
  awaitable<redis::connection*> writer_connection();

  void fail(pending& p, boost::system::error_code ec) {
    ++rejected;
    if (p.changes) p.changes_done(ec, {});
    else p.done(ec, nullptr);
  }
  // The writer's connection broke mid-commit: the batch is refused as
  // unavailable, and so is every write until Redis is back.
  void lost_redis(const std::string& why) {
    writer.reset();
    if (health.exchange(store_health::unavailable) != store_health::unavailable)
      spdlog::error("msg=\"the Redis store lost Redis; writes refused until it is back\" error=\"{}\"", why);
    fail_batch(errc::store_unavailable);
  }
  void fail_batch(boost::system::error_code ec) {
    for (auto& p : batch) fail(p, ec);
    batch.clear();
  }
  boost::system::error_code refusal(std::size_t bytes) const {
    if (health == store_health::failed) return errc::store_failed;
    if (health == store_health::unavailable) return errc::store_unavailable;
    if (stopping) return errc::shutting_down;
    if (queue.size() >= opts.max_pending || queued_bytes + bytes > opts.max_pending_bytes)
      return errc::store_overloaded;
    return {};
  }
  void push(pending p);

  // Runs f(connection&) -> awaitable<T> on a pooled reader connection on the
  // engine's thread and waits for it. Throws what f throws; a connection
  // that failed is not pooled again.
  template <class T, class F>
  T run_read(F f) {
    auto done = asio::co_spawn(
        io,
        [this, f = std::move(f)]() mutable -> awaitable<T> {
          auto c = co_await take_reader();
          T out = co_await f(*c);
          if (idle_readers.size() < 16) idle_readers.push_back(std::move(c));
          co_return out;
        },
        asio::use_future);
    return done.get();
  }

  const redis_store_options opts;
  const std::string prefix, k_meta, k_log, k_audit, k_deliveries, k_rule_state, k_signals, k_priority;
  const std::string instance_id = random_instance_id();  // who holds a lease

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;

  // The engine's thread only.
  std::unique_ptr<redis::connection> writer, tail, background;
  std::deque<command> later;  // call_later's queue, sent in order by run_background
  std::map<std::string, command> kept;  // call_later's state writes by key, until Redis took them
  bool background_running = false, background_stopping = false;
  asio::steady_timer background_pause;  // between the state writes' tries while Redis is away
  std::vector<std::unique_ptr<redis::connection>> idle_readers;
  asio::steady_timer wake;        // the writer's nap; a queued write cuts it short
  asio::steady_timer tail_pause;  // between the tail's reconnections
  std::vector<pending> batch;
  commit_listener listener;
  signal_listener signals;
  std::string signals_seen = "0-0";  // the newest signal entry the tail handed on
  std::uint64_t delivered = 0;  // the newest id handed to the listener
  std::string deliveries_cursor = "0";
  std::chrono::steady_clock::time_point last_prune{};
  bool tail_stopping = false;
  std::promise<void> writer_done, tail_done;
  bool running = false;

  // Shared, under mu.
  std::mutex mu;
  std::deque<pending> queue;
  std::size_t queued_bytes = 0;
  bool stopping = false;

  std::atomic<std::uint64_t> first_id{0}, last_id{0}, records_version{0};
  std::atomic<store_health> health{store_health::ok};
  std::atomic<std::uint64_t> committed{0}, transactions{0}, pruned{0}, rejected{0}, audit_pruned{0}, fenced{0};
  std::atomic<std::int64_t> round_trip_us{-1};  // the tail's latest PING; -1: none yet
  std::string durability;
};

void redis_store::impl::start() {
  thread = std::thread([this] { io.run(); });
  try {
    asio::co_spawn(io, open(), asio::use_future).get();
  } catch (const redis::connection_error& e) {
    stop();
    throw redis_store_error(std::string("the Redis store cannot open: ") + e.what());
  } catch (...) {
    stop();
    throw;
  }
  running = true;
  asio::co_spawn(io, run_writer(), asio::detached);
  asio::co_spawn(io, run_tail(), asio::detached);
}

void redis_store::impl::stop() {
  if (running) {
    {
      std::lock_guard lk(mu);
      stopping = true;
    }
    asio::post(io, [this] { wake.cancel(); });
    writer_done.get_future().wait();  // every queued write is finished
    asio::post(io, [this] {
      tail_stopping = true;
      tail_pause.cancel();
      if (tail) tail->close();
    });
    tail_done.get_future().wait();
    asio::post(io, [this] {
      idle_readers.clear();
      writer.reset();
      tail.reset();
      background.reset();
      background_stopping = true;  // a state write waiting for Redis is given up
      background_pause.cancel();
    });
  }
  work.reset();
  if (thread.joinable()) thread.join();
}

awaitable<redis::connection*> redis_store::impl::writer_connection() {
  if (!writer || !writer->is_open()) {
    writer.reset();
    auto c = std::make_unique<redis::connection>(io.get_executor(), opts.timeout);
    co_await c->connect(opts.at);
    writer = std::move(c);
  }
  co_return writer.get();
}

awaitable<std::unique_ptr<redis::connection>> redis_store::impl::take_reader() {
  while (!idle_readers.empty()) {
    auto c = std::move(idle_readers.back());
    idle_readers.pop_back();
    if (c->is_open()) co_return c;
  }
  auto c = std::make_unique<redis::connection>(io.get_executor(), opts.timeout);
  co_await c->connect(opts.at);
  co_return c;
}

void redis_store::impl::call_later(command c, std::string keep) {
  asio::post(io, [this, c = std::move(c), keep = std::move(keep)]() mutable {
    // Bounded: these are hints, progress and state for the other instances,
    // never acknowledged writes.
    if (later.size() + kept.size() >= 10'000) {
      spdlog::warn("msg=\"a write for the other instances was dropped: Redis is not keeping up\" command={}", c[0]);
      return;
    }
    if (keep.empty()) later.push_back(std::move(c));
    else kept[keep] = std::move(c);  // the newer state replaces what still waits
    if (background_running) {
      background_pause.cancel();
      return;
    }
    background_running = true;
    asio::co_spawn(io, run_background(), asio::detached);
  });
}

awaitable<void> redis_store::impl::run_background() {
  while (!later.empty() || !kept.empty()) {
    std::vector<command> batch(std::make_move_iterator(later.begin()), std::make_move_iterator(later.end()));
    later.clear();
    const std::size_t hints = batch.size();
    std::vector<std::string> keys;
    for (const auto& [k, c] : kept) {
      keys.push_back(k);
      batch.push_back(c);  // a copy: it stays kept until Redis has it
    }
    bool away = false;
    try {
      if (!background || !background->is_open()) {
        auto c = std::make_unique<redis::connection>(io.get_executor(), opts.timeout);
        co_await c->connect(opts.at);
        background = std::move(c);
      }
      const auto replies = co_await background->exec_all(batch);
      for (std::size_t i = 0; i < replies.size(); ++i)
        if (replies[i].is_error())
          spdlog::warn("msg=\"Redis refused a write for the other instances\" command={} error=\"{}\"", batch[i][0],
                       replies[i].str);
      for (std::size_t i = 0; i < keys.size(); ++i)
        if (auto it = kept.find(keys[i]); it != kept.end() && it->second == batch[hints + i]) kept.erase(it);
    } catch (const redis::connection_error& e) {
      background.reset();
      away = true;
      if (hints)
        spdlog::warn("msg=\"writes for the other instances were lost: Redis cannot be reached\" count={} error=\"{}\"",
                     hints, e.what());
    }
    if (away && !kept.empty() && later.empty()) {
      if (background_stopping) {
        spdlog::warn("msg=\"job states for the other instances were not written: Redis cannot be reached\" count={}",
                     kept.size());
        kept.clear();
        break;
      }
      // Tried again in a second, or at once when something new is queued
      // (then or meanwhile).
      background_pause.expires_after(std::chrono::seconds(1));
      co_await background_pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  background_running = false;
}

awaitable<void> redis_store::impl::open() {
  auto& c = *co_await writer_connection();
  command settings{"CONFIG", "GET", "append*"};
  const auto r = co_await c.exec(std::move(settings));
  std::string appendonly, appendfsync;
  if (r.type == reply::kind::array)
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      if (r.elements[i].str == "appendonly") appendonly = r.elements[i + 1].str;
      if (r.elements[i].str == "appendfsync") appendfsync = r.elements[i + 1].str;
    }
  const std::string weaker = weaker_durability(appendonly, appendfsync);
  if (!weaker.empty()) {
    if (!opts.accept_weaker_durability)
      throw redis_store_error(
          "Redis at " + opts.at.host + ":" + opts.at.port + " does not make an acknowledged write durable (" + weaker +
          "; it needs appendonly yes and appendfsync always). Set [store] accept_weaker_durability = true to run "
          "anyway, knowing that acknowledged events can be lost when Redis stops");
    durability = weaker + ": acknowledged writes since Redis's last fsync can be lost when it stops";
    spdlog::warn("msg=\"the Redis store runs with weaker durability than acknowledged writes need\" redis=\"{}\"",
                 durability);
  } else {
    durability = "appendfsync always";
  }
  command bounds{"HMGET", k_meta, "last_id", "records_version"};
  const auto b = co_await c.exec(std::move(bounds));
  if (b.type != reply::kind::array || b.elements.size() != 2)
    throw redis_store_error("the Redis store's " + k_meta + " is not what Freshet writes: " + b.str);
  last_id = to_u64(b.elements[0].str);
  records_version = to_u64(b.elements[1].str);
  delivered = last_id;
  co_await refresh_first_id();
  // Signals are heard from now on: the older ones were for others.
  command newest{"XREVRANGE", k_signals, "+", "-", "COUNT", "1"};
  const auto n = co_await c.exec(std::move(newest));
  if (n.type == reply::kind::array && !n.elements.empty() && is_entry(n.elements[0]))
    signals_seen = n.elements[0].elements[0].str;
}

awaitable<void> redis_store::impl::refresh_first_id() {
  auto& c = *co_await writer_connection();
  command first{"XRANGE", k_log, "-", "+", "COUNT", "1"};
  const auto r = co_await c.exec(std::move(first));
  const std::uint64_t last = last_id;
  if (r.type == reply::kind::array && !r.elements.empty() && is_entry(r.elements[0]))
    first_id = entry_number(r.elements[0].elements[0].str);
  else
    first_id = last ? last + 1 : 0;  // empty: the next id is the resume horizon
}

void redis_store::impl::push(pending p) {
  std::unique_lock lk(mu);
  if (const auto ec = refusal(p.bytes)) {
    lk.unlock();
    fail(p, ec);
    return;
  }
  queued_bytes += p.bytes;
  queue.push_back(std::move(p));
  lk.unlock();
  asio::post(io, [this] { wake.cancel(); });
}

awaitable<void> redis_store::impl::run_writer() {
  for (;;) {
    bool done = false;
    {
      std::lock_guard lk(mu);
      while (!queue.empty() && batch.size() < opts.max_batch) {
        queued_bytes -= queue.front().bytes;
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      done = batch.empty() && stopping;
    }
    if (done) break;
    if (!batch.empty()) co_await commit_batch();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_prune >= opts.prune_every) co_await prune();
    if (health == store_health::unavailable) {
      // Find out whether Redis is back: the writes that come meanwhile are
      // refused at once (503), not queued behind a reconnection.
      bool back = false;
      try {
        co_await writer_connection();
        back = true;
      } catch (const redis::connection_error&) {
      }
      if (back) {
        health = store_health::ok;
        spdlog::warn("msg=\"the Redis store reaches Redis again; writes accepted\"");
      }
    }
    {
      std::lock_guard lk(mu);
      if (!queue.empty() || stopping) continue;
      // Checked and armed in the same turn: a write queued after the check
      // posts wake.cancel(), which runs after the wait has begun.
      const auto nap = health == store_health::unavailable
                           ? std::chrono::milliseconds(500)
                           : std::max(opts.prune_every, std::chrono::milliseconds(10));
      wake.expires_after(nap);
    }
    co_await wake.async_wait(asio::as_tuple(use_awaitable));
  }
  writer_done.set_value();
}

awaitable<void> redis_store::impl::read_for(
    plan& p, std::unordered_map<std::string, std::optional<stored_row>>& rows, std::vector<char>& duplicate,
    std::map<std::pair<std::size_t, std::size_t>, std::vector<std::string>>& stored_ids) {
  auto& c = *co_await writer_connection();
  // One round trip for what every set needs: the counters, delivery ids,
  // the stored rows of the records it names, the ids a reconciliation keeps.
  std::vector<command> reads;
  reads.push_back({"HMGET", k_meta, "commit_seq", "last_id", "audit_id"});
  struct slot {
    enum { delivery, rows, ids } what;
    std::size_t set, object;
    std::vector<std::string> names;
  };
  std::vector<slot> slots;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].changes) continue;
    const change_set& cs = *batch[i].changes;
    if (cs.delivery) {
      reads.push_back({"HEXISTS", k_deliveries, delivery_field(cs.delivery->first, cs.delivery->second)});
      slots.push_back({slot::delivery, i, 0, {}});
    }
    for (std::size_t j = 0; j < cs.objects.size(); ++j) {
      const auto& oc = cs.objects[j];
      const std::string rk = rec_key(oc.source, oc.object);
      command get{"HMGET", rk};
      std::vector<std::string> names;
      for (const auto& up : oc.upserts) get.push_back(up.id);
      for (const auto& id : oc.deletes) get.push_back(id);
      if (get.size() > 2) {
        names.assign(get.begin() + 2, get.end());
        reads.push_back(std::move(get));
        slots.push_back({slot::rows, i, j, std::move(names)});
      }
      if (oc.keep_only) {
        const std::string set_key =
            oc.keep_only_tenant.empty() ? ids_key(oc.source, oc.object) : tids_key(oc.source, oc.object, oc.keep_only_tenant);
        reads.push_back({"ZRANGE", set_key, "0", "-1"});
        slots.push_back({slot::ids, i, j, {}});
      }
    }
  }
  auto replies = co_await c.exec_all(std::move(reads));
  const auto& meta = replies[0];
  if (meta.type != reply::kind::array || meta.elements.size() != 3)
    throw redis::connection_error("Redis answered the store's read with " + meta.str);
  p.expected_seq = to_u64(meta.elements[0].str);
  p.base_last = to_u64(meta.elements[1].str);
  p.audit_next = to_u64(meta.elements[2].str) + 1;
  duplicate.assign(batch.size(), 0);
  for (std::size_t k = 0; k < slots.size(); ++k) {
    const auto& r = replies[k + 1];
    const auto& s = slots[k];
    if (r.is_error()) throw redis::connection_error("Redis refused the store's read: " + r.str);
    if (s.what == slot::delivery) {
      duplicate[s.set] = r.integer != 0;
      continue;
    }
    const auto& oc = batch[s.set].changes->objects[s.object];
    if (s.what == slot::rows) {
      const std::string rk = rec_key(oc.source, oc.object);
      for (std::size_t n = 0; n < s.names.size() && n < r.elements.size(); ++n) {
        const auto& v = r.elements[n];
        rows[rk + '\0' + s.names[n]] = v.type == reply::kind::string ? decode_row(v.str) : std::nullopt;
      }
    } else {
      auto& ids = stored_ids[{s.set, s.object}];
      for (const auto& e : r.elements) ids.push_back(e.str);
    }
  }
  // A second round trip for the rows a reconciliation may delete (it needs
  // what they held), when there are any.
  std::vector<command> more;
  std::vector<std::pair<std::string, std::vector<std::string>>> wanted;
  for (const auto& [at, ids] : stored_ids) {
    const auto& oc = batch[at.first].changes->objects[at.second];
    const std::unordered_set<std::string_view> keep(oc.keep_only->begin(), oc.keep_only->end());
    const std::string rk = rec_key(oc.source, oc.object);
    command get{"HMGET", rk};
    for (const auto& id : ids)
      if (!keep.count(id) && !rows.count(rk + '\0' + id)) get.push_back(id);
    if (get.size() > 2) {
      wanted.emplace_back(rk, std::vector<std::string>(get.begin() + 2, get.end()));
      more.push_back(std::move(get));
    }
  }
  if (more.empty()) co_return;
  const auto got = co_await c.exec_all(std::move(more));
  for (std::size_t k = 0; k < got.size(); ++k)
    for (std::size_t n = 0; n < wanted[k].second.size() && n < got[k].elements.size(); ++n) {
      const auto& v = got[k].elements[n];
      rows[wanted[k].first + '\0' + wanted[k].second[n]] =
          v.type == reply::kind::string ? decode_row(v.str) : std::nullopt;
    }
}

void redis_store::impl::compute(
    plan& p, std::unordered_map<std::string, std::optional<stored_row>> rows, const std::vector<char>& duplicate,
    const std::map<std::pair<std::size_t, std::size_t>, std::vector<std::string>>& stored_ids) {
  const std::int64_t ms = now_ms();
  const std::string at =
      core::format_iso8601_ms(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
  const std::string ms_text = std::to_string(ms);
  auto& w = p.writes;
  auto write = [&w](std::initializer_list<std::string_view> args) {
    w.emplace_back(*args.begin());
    w.push_back(std::to_string(args.size() - 1));
    for (auto it = args.begin() + 1; it != args.end(); ++it) w.emplace_back(*it);
  };
  std::uint64_t next = p.base_last + 1;
  const emit_fn emit = [&](core::event_draft d) {
    const std::uint64_t id = next++;
    std::string doc = core::encode_event_json(id, d, at);
    write({"XADD", k_log, entry_id(id), "t", core::to_string(d.type), "o", d.object, "n", d.tenant, "ms", ms_text,
           "j", doc});
    p.events.push_back(core::make_event(id, d.type, std::move(d.object), std::move(d.tenant), std::move(doc)));
    return id;
  };
  auto audit = [&](const audit_entry& a, std::string_view outcome) {
    const std::uint64_t n = p.audit_next++;
    write({"XADD", k_audit, entry_id(n), "at", at, "ms", ms_text, "kind", a.kind, "source", a.source, "who", a.who,
           "outcome", outcome, "detail", json::serialize(a.detail)});
    write({"HSET", k_meta, "audit_id", std::to_string(n)});
  };
  auto put = [&](const object_changes& oc, const std::string& id, const std::optional<stored_row>& old,
                 const stored_row& row) {
    const std::string tk = tenants_key(oc.source, oc.object);
    write({"HSET", rec_key(oc.source, oc.object), id, encode_row(row)});
    if (!old) write({"ZADD", ids_key(oc.source, oc.object), "0", id});
    if (!old || old->tenant != row.tenant) {
      if (old) {
        write({"ZREM", tids_key(oc.source, oc.object, old->tenant), id});
        write({"HINCRBY", tk, old->tenant, "-1"});
      }
      write({"ZADD", tids_key(oc.source, oc.object, row.tenant), "0", id});
      write({"HINCRBY", tk, row.tenant, "1"});
    }
  };
  auto remove = [&](const object_changes& oc, const std::string& id, const stored_row& old, const emit_fn& e) {
    emit_removal(oc, id, old.tenant, old.data, e);
    write({"HDEL", rec_key(oc.source, oc.object), id});
    write({"ZREM", ids_key(oc.source, oc.object), id});
    write({"ZREM", tids_key(oc.source, oc.object, old.tenant), id});
    write({"HINCRBY", tenants_key(oc.source, oc.object), old.tenant, "-1"});
  };

  std::unordered_set<std::string> delivered_now;  // delivery ids of this batch
  p.appended.assign(batch.size(), nullptr);
  p.results.assign(batch.size(), {});
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].changes) {
      emit(batch[i].draft);  // a copy: a lost race computes the batch again
      p.appended[i] = p.events.back();
      continue;
    }
    change_set cs = *batch[i].changes;
    change_result& out = p.results[i];
    if (cs.fence) {
      p.fences.push_back(lease_key(cs.fence->lease));
      p.fences.push_back(lease_holder(cs.fence->token));
      p.fence_owner.push_back(i);
    }
    if (cs.delivery) {
      const std::string f = delivery_field(cs.delivery->first, cs.delivery->second);
      if (duplicate[i] || delivered_now.count(f)) {
        out.duplicate_delivery = true;  // nothing of a replay is applied; it is audited
        for (const auto& a : cs.audit) audit(a, "duplicate");
        continue;
      }
      delivered_now.insert(f);
      write({"HSET", k_deliveries, f, ms_text});
    }
    const emit_fn counting = [&](core::event_draft d) {
      out.last_event_id = emit(std::move(d));
      ++out.events;
      return out.last_event_id;
    };
    for (std::size_t j = 0; j < cs.objects.size(); ++j) {
      auto& oc = cs.objects[j];
      const std::string rk = rec_key(oc.source, oc.object);
      for (auto& up : oc.upserts) {
        auto& slot = rows[rk + '\0' + up.id];
        const std::optional<stored_row> old = slot;
        const auto decided = decide_upsert(oc, up, old ? &*old : nullptr, counting);
        if (decided.outcome == upsert_outcome::unchanged) {
          ++out.unchanged;
          continue;
        }
        ++(decided.outcome == upsert_outcome::created ? out.created : out.updated);
        stored_row row{up.tenant, up.hash, up.data,
                       decided.event_id ? decided.event_id : (old ? old->updated_event_id : 0)};
        put(oc, up.id, old, row);
        slot = std::move(row);
      }
      for (const auto& id : oc.deletes) {
        auto it = rows.find(rk + '\0' + id);
        if (it == rows.end() || !it->second) continue;
        remove(oc, id, *it->second, counting);
        it->second.reset();
        ++out.deleted;
      }
      if (oc.keep_only) {
        // Every record of the object (of the tenant) that the upstream no
        // longer lists: what Redis held, and what this batch created.
        const std::unordered_set<std::string_view> keep(oc.keep_only->begin(), oc.keep_only->end());
        std::set<std::string> candidates;
        if (const auto s = stored_ids.find({i, j}); s != stored_ids.end())
          candidates.insert(s->second.begin(), s->second.end());
        const std::string rk0 = rk + '\0';
        for (const auto& [key, row] : rows)
          if (row && key.compare(0, rk0.size(), rk0) == 0) candidates.insert(key.substr(rk0.size()));
        for (const auto& id : candidates) {
          if (keep.count(id)) continue;
          auto it = rows.find(rk0 + id);
          if (it == rows.end() || !it->second) continue;
          if (!oc.keep_only_tenant.empty() && it->second->tenant != oc.keep_only_tenant) continue;
          remove(oc, id, *it->second, counting);
          it->second.reset();
          ++out.deleted;
        }
      }
    }
    for (const auto& d : cs.events) counting(d);
    for (const auto& s : cs.state) write({"HSET", sync_key(s.source), s.key, s.value});
    for (const auto& s : cs.synced) write({"HSET", tsync_key(s.source, s.object), s.tenant, std::to_string(s.at_ms)});
    for (const auto& a : cs.audit) audit(a, a.outcome);
    p.records_written = p.records_written || out.created + out.updated + out.deleted > 0;
  }
  p.last = next - 1;
}

awaitable<void> redis_store::impl::commit_batch() {
  if (health == store_health::failed) {
    fail_batch(errc::store_failed);
    co_return;
  }
  if (std::none_of(batch.begin(), batch.end(), [](const pending& b) { return static_cast<bool>(b.changes); })) {
    co_await commit_appends();
    co_return;
  }
  plan p;
  bool committed_now = false, lost = false, refused = false;
  std::string why;
  // Races lost count toward a bound; waits for another's priority are
  // bounded by time instead (each is one holder's commit).
  int lost_races = 0;
  bool took_priority = false;
  // The previous attempt's length (read, compute, commit) sizes the priority,
  // which is taken only after two attempts of this batch.
  std::chrono::steady_clock::duration last_attempt{};
  const auto started = std::chrono::steady_clock::now();
  asio::steady_timer pause(io);
  // Doubling from 2 ms to 32: each try reads and computes the batch again.
  std::chrono::milliseconds priority_wait{2};
  while (!committed_now && lost_races < 50 && std::chrono::steady_clock::now() - started < kPriorityPatience) {
    p = plan{};
    const auto attempt_started = std::chrono::steady_clock::now();
    try {
      if (lost_races >= 2) {
        // Lost twice: a batch that reads much (a page of records) can lose
        // every race to instances whose batches read little (appends). It
        // takes the priority, so the commits of others wait for its own:
        // read after taking it, it cannot lose again. Expiring by itself,
        // it holds nobody up for long if this instance dies with it.
        const auto ttl = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(3 * last_attempt),
                                    kPriorityMin, kPriorityMax);
        command take{"EVAL", kTakePriorityScript, "1", k_priority, instance_id, std::to_string(ttl.count())};
        auto* w = co_await writer_connection();
        co_await w->exec(std::move(take));
        took_priority = true;
      }
      std::unordered_map<std::string, std::optional<stored_row>> rows;
      std::vector<char> duplicate;
      std::map<std::pair<std::size_t, std::size_t>, std::vector<std::string>> stored_ids;
      co_await read_for(p, rows, duplicate, stored_ids);
      compute(p, std::move(rows), duplicate, stored_ids);
      command eval{"EVAL", kCommitScript, "2", k_meta, k_priority, std::to_string(p.expected_seq),
                   p.events.empty() ? std::string() : std::to_string(p.last), p.records_written ? "1" : "0",
                   instance_id, std::to_string(p.fence_owner.size())};
      eval.reserve(eval.size() + p.fences.size() + p.writes.size());
      for (auto& a : p.fences) eval.push_back(std::move(a));
      for (auto& a : p.writes) eval.push_back(std::move(a));
      auto& c = *co_await writer_connection();
      const auto r = co_await c.exec(std::move(eval));
      if (r.is_error()) {
        refused = true;
        why = r.str;
        break;
      }
      last_attempt = std::chrono::steady_clock::now() - attempt_started;
      if (r.type == reply::kind::array && !r.elements.empty() && r.elements[0].integer == 1) {
        committed_now = true;
        if (r.elements.size() > 1) records_version = static_cast<std::uint64_t>(r.elements[1].integer);
      } else if (r.type == reply::kind::array && !r.elements.empty() && r.elements[0].integer == 3) {
        // Another instance's priority: its commit comes first; then read again.
        pause.expires_after(priority_wait);
        co_await pause.async_wait(asio::as_tuple(use_awaitable));
        priority_wait = std::min(2 * priority_wait, std::chrono::milliseconds(32));
      } else if (r.type == reply::kind::array && r.elements.size() == 2 && r.elements[0].integer == 2) {
        // A stale fence: that set's writer no longer leads its source. It
        // is refused; the rest of the batch is computed again without it.
        const auto k = static_cast<std::size_t>(r.elements[1].integer);
        if (k >= 1 && k <= p.fence_owner.size()) {
          const std::size_t at = p.fence_owner[k - 1];
          ++fenced;
          fail(batch[at], errc::not_leader);
          batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(at));
          if (batch.empty()) {
            if (took_priority) co_await release_priority();
            co_return;
          }
        }
      } else {
        ++lost_races;  // another instance committed in between: read and compute again
      }
    } catch (const redis::connection_error& e) {
      lost = true;
      why = e.what();
      break;
    }
  }
  if (lost) {
    // Whether a commit that was on its way got in is unknown: its writers
    // are told it failed (they retry; a record set applied twice makes no
    // second event), and the tail hands its events on if it did.
    lost_redis(why);
    co_return;
  }
  if (refused) {
    // A script that failed part-way may have applied part of its writes:
    // the store's state is in doubt, so it stops writing (as SQLite's does
    // after a failed commit); /readyz says so.
    spdlog::error("msg=\"the Redis store's commit failed; refusing further writes\" error=\"{}\"", why);
    health = store_health::failed;
    fail_batch(errc::store_failed);
    if (took_priority) co_await release_priority();
    co_return;
  }
  if (!committed_now) {
    // Fifty lost races in a row, or another's priority for longer than any
    // priority lasts: contention, not failure.
    spdlog::warn("msg=\"a change batch could not commit for contention; refused as overloaded\" lost_races={} waited_ms={}",
                 lost_races, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
    fail_batch(errc::store_overloaded);
    if (took_priority) co_await release_priority();
    co_return;
  }
  co_await finish_commit(p);
}

awaitable<void> redis_store::impl::release_priority() {
  try {
    command give_up{"EVAL", kReleasePriorityScript, "1", k_priority, instance_id};
    auto* w = co_await writer_connection();
    co_await w->exec(std::move(give_up));
  } catch (const redis::connection_error&) {
    // Redis is away: the priority expires by itself.
  }
}

awaitable<void> redis_store::impl::commit_appends() {
  const std::int64_t ms = now_ms();
  const std::string at = core::format_iso8601_ms(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
  const std::string ms_text = std::to_string(ms);
  std::vector<std::string> rest;  // each event's JSON after its id
  rest.reserve(batch.size());
  for (const auto& b : batch) {
    std::string doc = core::encode_event_json(0, b.draft, at);
    rest.push_back(doc.substr(doc.find(',')));  // after {"id":"0"
  }
  // Built for each attempt (usually one), moved into the request.
  const auto script = [&] {
    command eval{"EVAL", kAppendScript, "3", k_meta, k_log, k_priority, instance_id, std::to_string(batch.size())};
    eval.reserve(eval.size() + 5 * batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i)
      eval.insert(eval.end(), {std::string(core::to_string(batch[i].draft.type)), batch[i].draft.object,
                               batch[i].draft.tenant, ms_text, rest[i]});
    return eval;
  };
  asio::steady_timer pause(io);
  std::optional<std::uint64_t> before;
  std::string why;
  bool lost = false;
  // Only another instance's priority holds an append batch back (it lasts
  // kPriorityMax at most): retried, with a millisecond's pause, for longer than that.
  const auto started = std::chrono::steady_clock::now();
  while (!before && std::chrono::steady_clock::now() - started < kPriorityPatience) {
    try {
      auto& c = *co_await writer_connection();
      command eval = script();
      const auto r = co_await c.exec(std::move(eval));
      if (r.is_error()) {
        why = r.str;
        break;
      }
      if (r.type == reply::kind::array && r.elements.size() == 2 && r.elements[0].integer == 1) {
        before = to_u64(r.elements[1].str);
        break;
      }
    } catch (const redis::connection_error& e) {
      lost = true;
      why = e.what();
      break;
    }
    pause.expires_after(std::chrono::milliseconds(1));
    co_await pause.async_wait(asio::as_tuple(use_awaitable));
  }
  if (lost) {
    lost_redis(why);  // as above
    co_return;
  }
  if (!before && !why.empty()) {
    spdlog::error("msg=\"the Redis store's append failed; refusing further writes\" error=\"{}\"", why);
    health = store_health::failed;
    fail_batch(errc::store_failed);
    co_return;
  }
  if (!before) {
    fail_batch(errc::store_overloaded);
    co_return;
  }
  plan p;
  p.appended.assign(batch.size(), nullptr);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const std::uint64_t id = *before + 1 + i;
    auto& d = batch[i].draft;
    std::string doc = "{\"id\":\"" + core::format_event_id(id) + "\"" + rest[i];
    p.events.push_back(core::make_event(id, d.type, std::move(d.object), std::move(d.tenant), std::move(doc)));
    p.appended[i] = p.events.back();
  }
  p.last = *before + batch.size();
  co_await finish_commit(p);
}

awaitable<void> redis_store::impl::finish_commit(plan& p) {
  if (p.last > last_id) last_id = p.last;
  committed += p.events.size();
  ++transactions;
  bool caught_up = true;
  if (!p.events.empty()) {
    // Ids before this commit's that the tail has not handed on yet (another
    // instance's commits) go first, so the listener hears every id in order.
    try {
      co_await catch_up(p.events.front()->id - 1);
    } catch (const redis::connection_error&) {
      caught_up = false;  // the tail hands all of them on, in order, once Redis is back
      writer.reset();
    }
  }
  // The hub's delivery and every acknowledgement reach each worker in one
  // post (no co_await below: the batch is this thread's).
  core::post_batch wake_once;
  if (!p.events.empty() && caught_up) deliver(p.events);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& b = batch[i];
    if (b.changes) {
      auto r = p.results[i];
      r.last_event_id = p.last;
      b.changes_done({}, r);
    } else {
      b.done({}, p.appended[i]);
    }
  }
  batch.clear();
}

awaitable<void> redis_store::impl::catch_up(std::uint64_t upto) {
  while (delivered < upto) {
    auto& c = *co_await writer_connection();
    command range{"XRANGE", k_log, entry_id(delivered + 1), entry_id(upto), "COUNT", "1000"};
    const auto r = co_await c.exec(std::move(range));
    std::vector<core::event_ptr> events;
    for (const auto& e : r.elements)
      if (is_entry(e)) events.push_back(event_of(e));
    if (events.empty()) {
      delivered = upto;  // retention took them before anyone read them
      break;
    }
    deliver(std::move(events));
  }
}

void redis_store::impl::deliver(std::vector<core::event_ptr> events) {
  std::vector<core::event_ptr> fresh;
  fresh.reserve(events.size());
  for (auto& e : events)
    if (e->id > delivered) fresh.push_back(std::move(e));
  if (fresh.empty()) return;
  delivered = fresh.back()->id;
  if (delivered > last_id) last_id = delivered;
  if (first_id == 0) first_id = fresh.front()->id;
  if (listener) listener(fresh);
}

awaitable<void> redis_store::impl::run_tail() {
  auto last_ping = std::chrono::steady_clock::time_point{};
  while (!tail_stopping) {
    bool failed = false;
    try {
      if (!tail || !tail->is_open()) {
        auto c = std::make_unique<redis::connection>(io.get_executor(), opts.timeout + std::chrono::seconds(2));
        co_await c->connect(opts.at);
        tail = std::move(c);
      }
      // The round trip /api/stats and /metrics report: a PING on the idle
      // tail every two seconds (the blocking read below cannot time one).
      const auto now = std::chrono::steady_clock::now();
      if (now - last_ping >= std::chrono::seconds(2)) {
        last_ping = now;
        command ping{"PING"};
        co_await tail->exec(std::move(ping));
        round_trip_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - now).count();
      }
      // Blocks in Redis until entries come or a second passes; then the
      // records version (moved by another instance's commits) is read too.
      // The signals between instances come on the same blocking read.
      std::vector<command> both{{"XREAD", "COUNT", "1000", "BLOCK", "1000", "STREAMS", k_log, k_signals,
                                 entry_id(delivered), signals_seen},
                                {"HGET", k_meta, "records_version"}};
      const auto r = co_await tail->exec_all(std::move(both));
      if (r[0].type == reply::kind::array)
        for (const auto& stream : r[0].elements) {
          if (stream.elements.size() != 2) continue;
          if (stream.elements[0].str == k_log) {
            std::vector<core::event_ptr> events;
            for (const auto& e : stream.elements[1].elements)
              if (is_entry(e)) events.push_back(event_of(e));
            deliver(std::move(events));
          } else {
            for (const auto& e : stream.elements[1].elements) {
              if (!is_entry(e)) continue;
              signals_seen = e.elements[0].str;
              if (signals) signals(std::string(field_of(e.elements[1], "topic")), std::string(field_of(e.elements[1], "body")));
            }
          }
        }
      if (r[1].type == reply::kind::string) {
        const auto rv = to_u64(r[1].str);
        if (rv > records_version) records_version = rv;
      }
    } catch (const redis::connection_error&) {
      failed = true;
    }
    if (failed && !tail_stopping) {
      tail.reset();
      tail_pause.expires_after(std::chrono::milliseconds(200));
      co_await tail_pause.async_wait(asio::as_tuple(use_awaitable));
    }
  }
  tail_done.set_value();
}

// The first id in [lo, hi] whose entry is not older than the cutoff (its
// "ms"; entries are in time order), by bisection: a few range reads of one
// entry each, whatever the stream's length.
awaitable<std::uint64_t> redis_store::impl::first_age_kept(const std::string& stream, std::uint64_t lo,
                                                           std::uint64_t hi, std::int64_t cutoff) {
  auto& c = *co_await writer_connection();
  // Invariant: every entry below lo is older than the cutoff; the entry at
  // or after hi (if any) is not.
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    command probe{"XRANGE", stream, entry_id(mid), "+", "COUNT", "1"};
    const auto r = co_await c.exec(std::move(probe));
    if (r.type != reply::kind::array || r.elements.empty() || !is_entry(r.elements[0])) {
      hi = mid;
      continue;
    }
    const auto id = entry_number(r.elements[0].elements[0].str);
    const auto& f = r.elements[0].elements[1];
    const std::int64_t at_ms = to_i64(field_of(f, "ms"));
    if (at_ms < cutoff) lo = id + 1;
    else hi = mid;
  }
  co_return lo;
}

awaitable<void> redis_store::impl::prune() {
  last_prune = std::chrono::steady_clock::now();
  if (health != store_health::ok) co_return;
  try {
    auto& c = *co_await writer_connection();
    const std::uint64_t last = last_id, first = first_id;
    const std::int64_t cutoff =
        now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(opts.retain_age).count();
    if (first != 0 && first <= last) {
      std::uint64_t cut = last > opts.retain_events ? last - opts.retain_events + 1 : 0;
      cut = std::max(cut, co_await first_age_kept(k_log, first, last + 1, cutoff));
      cut = std::min(cut, first + opts.prune_batch);  // bounded: the next pass does the rest
      if (cut > first) {
        command trim{"XTRIM", k_log, "MINID", entry_id(cut)};
        const auto r = co_await c.exec(std::move(trim));
        pruned += static_cast<std::uint64_t>(std::max<std::int64_t>(r.integer, 0));
        co_await refresh_first_id();
      }
    }
    command audit_first{"XRANGE", k_audit, "-", "+", "COUNT", "1"};
    const auto af = co_await c.exec(std::move(audit_first));
    if (af.type == reply::kind::array && !af.elements.empty() && is_entry(af.elements[0])) {
      const std::uint64_t from = entry_number(af.elements[0].elements[0].str);
      command top{"HGET", k_meta, "audit_id"};
      const auto t = co_await c.exec(std::move(top));
      const std::uint64_t upto = to_u64(t.str);
      std::uint64_t cut = co_await first_age_kept(k_audit, from, upto + 1, cutoff);
      cut = std::min(cut, from + opts.prune_batch);
      if (cut > from) {
        command trim{"XTRIM", k_audit, "MINID", entry_id(cut)};
        const auto r = co_await c.exec(std::move(trim));
        audit_pruned += static_cast<std::uint64_t>(std::max<std::int64_t>(r.integer, 0));
      }
    }
    // Delivery ids older than a week, a slice of the hash a pass.
    command scan{"HSCAN", k_deliveries, deliveries_cursor, "COUNT", "1000"};
    const auto s = co_await c.exec(std::move(scan));
    if (s.type == reply::kind::array && s.elements.size() == 2) {
      deliveries_cursor = s.elements[0].str;
      command del{"HDEL", k_deliveries};
      const std::int64_t old = now_ms() - 7LL * 86400 * 1000;
      const auto& kv = s.elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
        if (to_i64(kv[i + 1].str) < old) del.push_back(kv[i].str);
      if (del.size() > 2) co_await c.exec(std::move(del));
    }
  } catch (const redis::connection_error& e) {
    writer.reset();
    spdlog::warn("msg=\"event retention pass failed\" error=\"{}\"", e.what());
  }
}

// ---- the interface ----

redis_store::redis_store(redis_store_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {
  impl_->start();
}

redis_store::~redis_store() { impl_->stop(); }

// Runs f on the engine's thread and waits for it: the listeners are called
// there, so they are set there.
template <class F>
void run_on(asio::io_context& io, F f) {
  std::promise<void> done;
  asio::post(io, [&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

void redis_store::set_commit_listener(commit_listener l) {
  run_on(impl_->io, [&] { impl_->listener = std::move(l); });
}

void redis_store::enqueue(core::event_draft draft, append_callback done) {
  impl::pending p;
  p.bytes = write_cost(draft);
  p.draft = std::move(draft);
  p.done = std::move(done);
  impl_->push(std::move(p));
}

void redis_store::enqueue_changes(change_set cs, changes_callback done) {
  prepare_upserts(cs);  // on the caller's thread, not the engine's
  impl::pending p;
  p.bytes = write_cost(cs);
  p.changes = std::make_unique<change_set>(std::move(cs));
  p.changes_done = std::move(done);
  impl_->push(std::move(p));
}

void redis_store::set_signal_listener(signal_listener l) {
  run_on(impl_->io, [&] { impl_->signals = std::move(l); });
}

reply redis_store::call(std::vector<std::string> c) {
  return impl_->run_read<reply>([c = std::move(c)](redis::connection& conn) mutable -> awaitable<reply> {
    co_return co_await conn.exec(std::move(c));
  });
}

void redis_store::call_later(std::vector<std::string> c, std::string keep) {
  impl_->call_later(std::move(c), std::move(keep));
}

std::string redis_store::key(std::string_view name) const { return impl_->prefix + std::string(name); }

std::string redis_store::instance_id() const { return impl_->instance_id; }

std::uint64_t redis_store::first_id() const { return impl_->first_id; }
std::uint64_t redis_store::last_id() const { return impl_->last_id; }
std::uint64_t redis_store::read_last_id() {
  const auto fresh = impl_->run_read<std::uint64_t>([key = impl_->k_meta](redis::connection& c) -> awaitable<std::uint64_t> {
    command get{"HGET", key, "last_id"};
    const auto r = co_await c.exec(std::move(get));
    co_return to_u64(r.str);
  });
  return std::max(fresh, impl_->last_id.load());
}

std::uint64_t redis_store::records_version() const { return impl_->records_version; }
store_health redis_store::health() const { return impl_->health; }
std::string redis_store::durability() const { return impl_->durability; }

std::optional<double> redis_store::round_trip_ms() const {
  const auto us = impl_->round_trip_us.load();
  if (us < 0) return std::nullopt;
  return static_cast<double>(us) / 1000.0;
}

store_counters redis_store::counters() const {
  return {impl_->committed.load(), impl_->transactions.load(), impl_->pruned.load(),
          impl_->rejected.load(),  0,                          impl_->audit_pruned.load(),
          impl_->fenced.load()};
}

std::vector<core::event_ptr> redis_store::read_range(std::uint64_t after, std::uint64_t upto,
                                                     const core::topic_filter& filter, std::size_t limit) {
  if (upto <= after || limit == 0) return {};
  return impl_->run_read<std::vector<core::event_ptr>>(
      [this, after, upto, filter, limit](redis::connection& c) -> awaitable<std::vector<core::event_ptr>> {
        std::vector<core::event_ptr> out;
        std::uint64_t from = after + 1;
        const bool all = filter.objects.empty() && filter.tenants.empty();
        while (out.size() < limit && from <= upto) {
          const std::size_t want = all ? limit - out.size() : 1000;
          command range{"XRANGE", impl_->k_log, entry_id(from), entry_id(upto), "COUNT", std::to_string(want)};
          const auto r = co_await c.exec(std::move(range));
          if (r.type != reply::kind::array || r.elements.empty()) break;
          for (const auto& e : r.elements) {
            if (!is_entry(e)) continue;
            auto ev = event_of(e);
            from = ev->id + 1;
            if (out.size() < limit && filter.matches(*ev)) out.push_back(std::move(ev));
          }
        }
        co_return out;
      });
}

std::map<std::string, std::string> redis_store::load_sync_state(const std::string& source) {
  return impl_->run_read<std::map<std::string, std::string>>(
      [key = impl_->sync_key(source)](redis::connection& c) -> awaitable<std::map<std::string, std::string>> {
        command get{"HGETALL", key};
        const auto r = co_await c.exec(std::move(get));
        std::map<std::string, std::string> out;
        for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out[r.elements[i].str] = r.elements[i + 1].str;
        co_return out;
      });
}

snapshot_page redis_store::read_snapshot(const std::string& source, const std::string& object,
                                         const std::vector<std::string>& tenants, const std::string& after_id,
                                         std::size_t limit) {
  command eval{"EVAL", kSnapshotScript, "", impl_->k_meta, impl_->rec_key(source, object)};
  if (tenants.empty()) eval.push_back(impl_->ids_key(source, object));
  for (const auto& t : tenants) eval.push_back(impl_->tids_key(source, object, t));
  eval[2] = std::to_string(eval.size() - 3);
  eval.push_back(after_id.empty() ? "-" : "(" + after_id);
  eval.push_back(std::to_string(limit));
  return impl_->run_read<snapshot_page>([eval, limit](redis::connection& c) mutable -> awaitable<snapshot_page> {
    const auto r = co_await c.exec(std::move(eval));
    if (r.is_error() || r.elements.size() < 2) throw redis::connection_error("Redis refused a snapshot read: " + r.str);
    snapshot_page page;
    page.last_event_id = to_u64(r.elements[0].str);
    page.records_version = to_u64(r.elements[1].str);
    for (std::size_t i = 2; i + 1 < r.elements.size(); i += 2) {
      auto row = decode_row(r.elements[i + 1].str);
      if (row) page.records.push_back({r.elements[i].str, std::move(row->tenant), std::move(row->data)});
    }
    // Several tenants' sets: merged in id order (bytes, as SQLite sorts).
    std::sort(page.records.begin(), page.records.end(),
              [](const raw_record& a, const raw_record& b) { return a.id < b.id; });
    if (page.records.size() > limit) page.records.resize(limit);
    co_return page;
  });
}

std::optional<stored_record> redis_store::find_record(const std::string& source, const std::string& object,
                                                      const std::string& id) {
  return impl_->run_read<std::optional<stored_record>>(
      [key = impl_->rec_key(source, object), id](redis::connection& c) -> awaitable<std::optional<stored_record>> {
        command get{"HGET", key, id};
        const auto r = co_await c.exec(std::move(get));
        std::optional<stored_record> out;
        if (r.type != reply::kind::string) co_return out;
        auto row = decode_row(r.str);
        if (!row) co_return out;
        stored_record rec;
        rec.id = id;
        rec.tenant = std::move(row->tenant);
        boost::system::error_code ec;
        auto v = json::parse(row->data, ec);
        if (!ec && v.is_object()) rec.fields = std::move(v.get_object());
        rec.updated_event_id = row->updated_event_id;
        out = std::move(rec);
        co_return out;
      });
}

std::vector<tenant_summary> redis_store::summarize_object(const std::string& source, const std::string& object) {
  return impl_->run_read<std::vector<tenant_summary>>(
      [counts_key = impl_->tenants_key(source, object),
       syncs_key = impl_->tsync_key(source, object)](redis::connection& c) -> awaitable<std::vector<tenant_summary>> {
        std::vector<command> both{{"HGETALL", counts_key}, {"HGETALL", syncs_key}};
        const auto r = co_await c.exec_all(std::move(both));
        std::vector<tenant_summary> counts;
        for (std::size_t i = 0; i + 1 < r[0].elements.size(); i += 2) {
          const auto n = to_i64(r[0].elements[i + 1].str);
          if (n > 0) counts.push_back({r[0].elements[i].str, static_cast<std::uint64_t>(n), 0});
        }
        std::sort(counts.begin(), counts.end(),
                  [](const tenant_summary& a, const tenant_summary& b) { return a.tenant < b.tenant; });
        std::int64_t whole = 0;
        std::map<std::string, std::int64_t> own;
        for (std::size_t i = 0; i + 1 < r[1].elements.size(); i += 2) {
          if (r[1].elements[i].str.empty()) whole = to_i64(r[1].elements[i + 1].str);
          else own[r[1].elements[i].str] = to_i64(r[1].elements[i + 1].str);
        }
        co_return with_sync_times(std::move(counts), whole, own);
      });
}

bool redis_store::tenant_has_records(const std::string& source, const std::string& object, const std::string& tenant) {
  return impl_->run_read<bool>([key = impl_->tids_key(source, object, tenant)](redis::connection& c) -> awaitable<bool> {
    command card{"ZCARD", key};
    const auto r = co_await c.exec(std::move(card));
    co_return r.integer > 0;
  });
}

namespace {

// Every stored row of one object, a slice at a time (HSCAN), into f(row).
template <class F>
awaitable<void> scan_rows(redis::connection& c, std::string key, F f) {
  std::string cursor = "0";
  do {
    command scan{"HSCAN", key, cursor, "COUNT", "1000"};
    const auto r = co_await c.exec(std::move(scan));
    if (r.type != reply::kind::array || r.elements.size() != 2) break;
    cursor = r.elements[0].str;
    const auto& kv = r.elements[1].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
      if (auto row = decode_row(kv[i + 1].str)) f(*row);
  } while (cursor != "0");
}

// Whether a row's fields equal every (field, JSON value) of `where`; its
// term of the sum when it does.
struct aggregate_query {
  std::vector<std::pair<std::string, sql_value>> where;
  std::string sum_field;

  aggregate_query(const std::vector<std::pair<std::string, std::string>>& w, std::string sum)
      : sum_field(std::move(sum)) {
    for (const auto& [field, text] : w) {
      boost::system::error_code ec;
      const auto v = json::parse(text, ec);
      where.emplace_back(field, ec ? sql_value{} : sql_value_of(v));
    }
  }
  // The row's contribution, or none when it does not match.
  std::optional<double> term(const stored_row& row) const {
    boost::system::error_code ec;
    const auto v = json::parse(row.data, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& fields = v.get_object();
    auto value_of = [&](const std::string& name) {
      const auto* x = fields.if_contains(name);
      return x ? sql_value_of(*x) : sql_value{};
    };
    for (const auto& [field, want] : where)
      if (!sql_equal(value_of(field), want)) return std::nullopt;
    return sum_field.empty() ? 1.0 : sql_total_term(value_of(sum_field));
  }
};

}  // namespace

double redis_store::aggregate_records(const std::string& source, const std::string& object,
                                      const std::vector<std::pair<std::string, std::string>>& where,
                                      const std::string& sum_field) {
  return impl_->run_read<double>([key = impl_->rec_key(source, object),
                                  q = aggregate_query(where, sum_field)](redis::connection& c) -> awaitable<double> {
    double total = 0;
    co_await scan_rows(c, key, [&](const stored_row& row) {
      if (const auto t = q.term(row)) total += *t;
    });
    co_return total;
  });
}

std::map<std::string, double> redis_store::aggregate_records_by_tenant(
    const std::string& source, const std::string& object,
    const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field) {
  return impl_->run_read<std::map<std::string, double>>(
      [key = impl_->rec_key(source, object),
       q = aggregate_query(where, sum_field)](redis::connection& c) -> awaitable<std::map<std::string, double>> {
        std::map<std::string, double> out;
        co_await scan_rows(c, key, [&](const stored_row& row) {
          if (row.tenant.empty()) return;
          if (const auto t = q.term(row)) out[row.tenant] += *t;
        });
        co_return out;
      });
}

std::vector<std::pair<std::int64_t, double>> redis_store::goal_days(const std::string& goal) {
  return impl_->run_read<std::vector<std::pair<std::int64_t, double>>>(
      [key = impl_->k_rule_state,
       goal](redis::connection& c) -> awaitable<std::vector<std::pair<std::int64_t, double>>> {
        command get{"HGETALL", key};
        const auto r = co_await c.exec(std::move(get));
        const std::string from = "day:" + goal + ":";
        std::vector<std::pair<std::int64_t, double>> out;
        for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
          const auto& k = r.elements[i].str;
          const auto& v = r.elements[i + 1].str;
          if (k.compare(0, from.size(), from) != 0) continue;
          std::int64_t day = 0;
          double x = 0;
          if (std::from_chars(k.data() + from.size(), k.data() + k.size(), day).ec != std::errc{}) continue;
          if (std::from_chars(v.data(), v.data() + v.size(), x).ec != std::errc{}) continue;
          out.emplace_back(day, x);
        }
        std::sort(out.begin(), out.end());
        co_return out;
      });
}

std::vector<audit_row> redis_store::list_audit(std::int64_t after_id, std::size_t limit, bool newest) {
  return impl_->run_read<std::vector<audit_row>>(
      [key = impl_->k_audit, after_id, limit, newest](redis::connection& c) -> awaitable<std::vector<audit_row>> {
        const std::string lowest = entry_id(static_cast<std::uint64_t>(after_id) + 1);
        command range = newest ? command{"XREVRANGE", key, "+", lowest, "COUNT", std::to_string(limit)}
                               : command{"XRANGE", key, lowest, "+", "COUNT", std::to_string(limit)};
        const auto r = co_await c.exec(std::move(range));
        std::vector<audit_row> out;
        for (const auto& e : r.elements) {
          if (!is_entry(e)) continue;
          const auto& f = e.elements[1];
          out.push_back({static_cast<std::int64_t>(entry_number(e.elements[0].str)), std::string(field_of(f, "at")),
                         std::string(field_of(f, "kind")), std::string(field_of(f, "source")),
                         std::string(field_of(f, "who")), std::string(field_of(f, "outcome")),
                         std::string(field_of(f, "detail"))});
        }
        if (newest) std::reverse(out.begin(), out.end());
        co_return out;
      });
}

}  // namespace freshet::store
