#include "rules/redis_outbox.hpp"

#include "store/redis_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>

namespace freshet::rules {

namespace json = boost::json;
using redis::reply;

namespace {

// Every script starts with this. ARGV[1]: the key prefix; ARGV[2], ARGV[3]:
// the rules' lease and the holder a fenced write expects ('' = unfenced).
// Sorted sets of pending ids hold zero-padded ids, so equal due times come
// out oldest first.
constexpr const char* kPrelude = R"lua(
local P = ARGV[1]
local function fenced() return ARGV[3] ~= '' and redis.call('GET', ARGV[2]) ~= ARGV[3] end
local function pad(id) return string.format('%020d', tonumber(id)) end
local counts = P .. 'ncount'
)lua";

// ARGV[4..]: the limit of undelivered messages, now, the new cursor, the
// number of firings, then per firing: webhook id, rule, notifier, object,
// tenant, text, name, record id, event id, due ms, gathers (1/0); then the
// number of state entries and (key, value) pairs ('' deletes).
// Returns {added, coalesced, refused}.
static_assert(outbox::kNamesKept == 5, "the commit script keeps 5 names and ids");
constexpr const char* kCommit = R"lua(
if fenced() then return redis.error_reply('FENCED') end
local limit = tonumber(ARGV[4])
local undelivered = tonumber(redis.call('HGET', counts, 'gathering') or '0') +
                    tonumber(redis.call('HGET', counts, 'pending') or '0')
local added, coalesced, refused = 0, 0, 0
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  local wid, rule, notifier, object, tenant, text, name, rec, ev, due, gathers =
      ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5], ARGV[i+6], ARGV[i+7], ARGV[i+8], ARGV[i+9], ARGV[i+10]
  i = i + 11
  local gkey = rule .. '\31' .. notifier .. '\31' .. tenant
  local open = gathers == '1' and redis.call('HGET', P .. 'ngather', gkey)
  if open then
    local k = P .. 'n:' .. open
    local names = cjson.decode(redis.call('HGET', k, 'names'))
    local recs = cjson.decode(redis.call('HGET', k, 'records'))
    if #names < 5 then names[#names + 1] = name end
    if #recs < 5 then recs[#recs + 1] = rec end
    redis.call('HSET', k, 'names', cjson.encode(names), 'records', cjson.encode(recs), 'last_event', ev)
    redis.call('HINCRBY', k, 'count', 1)
    coalesced = coalesced + 1
  elseif undelivered >= limit then
    refused = refused + 1
  else
    local id = redis.call('INCR', P .. 'nseq')
    local status = gathers == '1' and 'gathering' or 'pending'
    redis.call('HSET', P .. 'n:' .. id, 'webhook_id', wid, 'rule', rule, 'notifier', notifier, 'object', object,
               'tenant', tenant, 'status', status, 'text', text, 'names', cjson.encode({name}),
               'records', cjson.encode({rec}), 'count', 1, 'first_event', ev, 'last_event', ev,
               'created_ms', ARGV[5], 'due_ms', due, 'step', 0, 'attempts', 0, 'done_ms', 0, 'gkey', gkey)
    redis.call('ZADD', P .. 'nall', id, id)
    if gathers == '1' then
      redis.call('HSET', P .. 'ngather', gkey, id)
      redis.call('ZADD', P .. 'ngdue', due, pad(id))
    else
      redis.call('ZADD', P .. 'ndue:' .. notifier, due, pad(id))
    end
    redis.call('HINCRBY', counts, status, 1)
    undelivered = undelivered + 1
    added = added + 1
  end
end
redis.call('SET', P .. 'rules_cursor', ARGV[6])
local s = i + 1
for _ = 1, tonumber(ARGV[i]) do
  if ARGV[s + 1] == '' then redis.call('HDEL', P .. 'rule_state', ARGV[s])
  else redis.call('HSET', P .. 'rule_state', ARGV[s], ARGV[s + 1]) end
  s = s + 2
end
return {added, coalesced, refused}
)lua";

// ARGV[4]: now. The open windows that are due, each as its hash.
constexpr const char* kDueWindows = R"lua(
local out = {}
for _, p in ipairs(redis.call('ZRANGEBYSCORE', P .. 'ngdue', '-inf', ARGV[4])) do
  local id = tostring(tonumber(p))
  out[#out + 1] = {id, redis.call('HGETALL', P .. 'n:' .. id)}
end
return out
)lua";

// ARGV[4..]: now, then (id, text) pairs: each still gathering is pending
// now with that text. Returns how many were.
constexpr const char* kCloseWindows = R"lua(
if fenced() then return redis.error_reply('FENCED') end
local closed = 0
for i = 5, #ARGV, 2 do
  local k = P .. 'n:' .. ARGV[i]
  if redis.call('HGET', k, 'status') == 'gathering' then
    local f = redis.call('HMGET', k, 'gkey', 'notifier')
    redis.call('HSET', k, 'status', 'pending', 'text', ARGV[i + 1], 'due_ms', ARGV[4])
    redis.call('HDEL', P .. 'ngather', f[1])
    redis.call('ZREM', P .. 'ngdue', pad(ARGV[i]))
    redis.call('ZADD', P .. 'ndue:' .. f[2], ARGV[4], pad(ARGV[i]))
    redis.call('HINCRBY', counts, 'gathering', -1)
    redis.call('HINCRBY', counts, 'pending', 1)
    closed = closed + 1
  end
end
return closed
)lua";

// ARGV[4], ARGV[5]: the notifier, now. {0}: none waits; {1, due}: the next
// is due later; {2, id, hash}: this one is due.
constexpr const char* kNextDue = R"lua(
local r = redis.call('ZRANGE', P .. 'ndue:' .. ARGV[4], 0, 0, 'WITHSCORES')
if #r == 0 then return {0} end
if tonumber(r[2]) > tonumber(ARGV[5]) then return {1, r[2]} end
local id = tostring(tonumber(r[1]))
return {2, id, redis.call('HGETALL', P .. 'n:' .. id)}
)lua";

// ARGV[4..]: id, now, the attempt as JSON ('' = none was made), the outcome
// (delivered, failed, retry, wait), the next due ms, the step, 1 when an
// attempt counts.
constexpr const char* kAttempt = R"lua(
if fenced() then return redis.error_reply('FENCED') end
local id = ARGV[4]
local k = P .. 'n:' .. id
local status = redis.call('HGET', k, 'status')
if not status then return 0 end
if ARGV[6] ~= '' then redis.call('RPUSH', P .. 'natt:' .. id, ARGV[6]) end
local notifier = redis.call('HGET', k, 'notifier')
local outcome = ARGV[7]
if outcome == 'delivered' or outcome == 'failed' then
  redis.call('HSET', k, 'status', outcome, 'done_ms', ARGV[5])
  redis.call('HINCRBY', k, 'attempts', 1)
  redis.call('ZREM', P .. 'ndue:' .. notifier, pad(id))
  redis.call('ZADD', P .. 'ndone', ARGV[5], id)
  redis.call('HINCRBY', counts, status, -1)
  redis.call('HINCRBY', counts, outcome, 1)
else
  redis.call('HSET', k, 'due_ms', ARGV[8], 'step', ARGV[9])
  redis.call('HINCRBY', k, 'attempts', ARGV[10])
  if status == 'pending' then redis.call('ZADD', P .. 'ndue:' .. notifier, ARGV[8], pad(id)) end
end
return 1
)lua";

// ARGV[4..]: ids above, status ('' = any), rule ('' = any), limit. Newest
// first: {id, hash, attempts} each.
constexpr const char* kList = R"lua(
local out, offset, limit = {}, 0, tonumber(ARGV[7])
while #out < limit do
  local ids = redis.call('ZREVRANGEBYSCORE', P .. 'nall', '+inf', '(' .. ARGV[4], 'LIMIT', offset, 256)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local k = P .. 'n:' .. id
    local f = redis.call('HMGET', k, 'status', 'rule')
    if (ARGV[5] == '' or f[1] == ARGV[5]) and (ARGV[6] == '' or f[2] == ARGV[6]) then
      out[#out + 1] = {id, redis.call('HGETALL', k), redis.call('LRANGE', P .. 'natt:' .. id, 0, -1)}
      if #out >= limit then break end
    end
  end
  offset = offset + #ids
end
return out
)lua";

// ARGV[4], ARGV[5]: id, now. A failed or pending message is due now from the
// schedule's start: its notifier; nothing for another or none.
constexpr const char* kRetry = R"lua(
local id = ARGV[4]
local k = P .. 'n:' .. id
local status = redis.call('HGET', k, 'status')
if status ~= 'failed' and status ~= 'pending' then return false end
local notifier = redis.call('HGET', k, 'notifier')
redis.call('HSET', k, 'status', 'pending', 'due_ms', ARGV[5], 'step', 0, 'done_ms', 0)
redis.call('ZADD', P .. 'ndue:' .. notifier, ARGV[5], pad(id))
redis.call('ZREM', P .. 'ndone', id)
if status == 'failed' then
  redis.call('HINCRBY', counts, 'failed', -1)
  redis.call('HINCRBY', counts, 'pending', 1)
end
return notifier
)lua";

// ARGV[4]: before ms. Deletes the delivered and failed messages done before.
constexpr const char* kPrune = R"lua(
local ids = redis.call('ZRANGEBYSCORE', P .. 'ndone', '-inf', '(' .. ARGV[4], 'LIMIT', 0, 10000)
for _, id in ipairs(ids) do
  local status = redis.call('HGET', P .. 'n:' .. id, 'status')
  if status then redis.call('HINCRBY', counts, status, -1) end
  redis.call('DEL', P .. 'n:' .. id, P .. 'natt:' .. id)
  redis.call('ZREM', P .. 'nall', id)
  redis.call('ZREM', P .. 'ndone', id)
end
return #ids
)lua";

std::int64_t number(const std::string& s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

json::array json_array(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return !ec && v.is_array() ? v.get_array() : json::array{};
}

const reply& checked(const reply& r, const char* what) {
  if (!r.is_error()) return r;
  if (r.str.find("FENCED") != std::string::npos)  // Redis 7 says "ERR FENCED"
    throw outbox_fenced(std::string("the rules' lease moved to another instance: ") + what + " refused");
  throw redis::connection_error(std::string("Redis refused ") + what + ": " + r.str);
}

// A message from its hash (HGETALL's field, value list).
notification message_of(std::int64_t id, const reply& fields) {
  notification n;
  n.id = id;
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    const std::string& f = fields.elements[i].str;
    const std::string& v = fields.elements[i + 1].str;
    if (f == "webhook_id") n.webhook_id = v;
    else if (f == "rule") n.rule = v;
    else if (f == "notifier") n.notifier = v;
    else if (f == "object") n.object = v;
    else if (f == "tenant") n.tenant = v;
    else if (f == "status") n.status = v;
    else if (f == "text") n.text = v;
    else if (f == "names") n.names = json_array(v);
    else if (f == "records") n.records = json_array(v);
    else if (f == "count") n.count = number(v);
    else if (f == "first_event") n.first_event = static_cast<std::uint64_t>(number(v));
    else if (f == "last_event") n.last_event = static_cast<std::uint64_t>(number(v));
    else if (f == "created_ms") n.created_ms = number(v);
    else if (f == "due_ms") n.due_ms = number(v);
    else if (f == "done_ms") n.done_ms = number(v);
    else if (f == "step") n.step = static_cast<int>(number(v));
    else if (f == "attempts") n.attempts = static_cast<int>(number(v));
  }
  return n;
}

const char* outcome_name(attempt_outcome o) {
  switch (o) {
    case attempt_outcome::delivered: return "delivered";
    case attempt_outcome::failed: return "failed";
    case attempt_outcome::retry: return "retry";
    case attempt_outcome::wait: return "wait";
  }
  return "wait";
}

}  // namespace

redis_outbox::redis_outbox(store::redis_store& redis, std::size_t max_undelivered, std::function<std::int64_t()> now_ms)
    : redis_(redis), prefix_(redis.key("")), max_undelivered_(max_undelivered), now_ms_(std::move(now_ms)) {}

std::vector<std::string> redis_outbox::script(const char* lua) const {
  const std::uint64_t token = token_;
  return {"EVAL", std::string(kPrelude) + lua, "0", prefix_, redis_.lease_key("rules"),
          token ? redis_.lease_holder(token) : std::string()};
}

std::optional<std::uint64_t> redis_outbox::cursor() {
  const auto r = redis_.call({"GET", prefix_ + "rules_cursor"});
  checked(r, "reading the rules' cursor");
  if (r.type != reply::kind::string) return std::nullopt;
  return static_cast<std::uint64_t>(number(r.str));
}

std::map<std::string, std::string> redis_outbox::load_state() {
  const auto r = redis_.call({"HGETALL", prefix_ + "rule_state"});
  checked(r, "reading the rules' state");
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out.emplace(r.elements[i].str, r.elements[i + 1].str);
  return out;
}

outbox::commit_result redis_outbox::commit(const std::vector<firing>& firings, std::uint64_t cursor,
                                           const std::map<std::string, std::string>& state) {
  std::lock_guard lk(windows_mu_);
  const std::int64_t now = now_ms_();
  auto cmd = script(kCommit);
  cmd.reserve(cmd.size() + 5 + firings.size() * 11 + state.size() * 2);
  cmd.push_back(std::to_string(max_undelivered_));
  cmd.push_back(std::to_string(now));
  cmd.push_back(std::to_string(cursor));
  cmd.push_back(std::to_string(firings.size()));
  for (const auto& f : firings) {
    cmd.push_back(new_webhook_id());
    cmd.push_back(f.rule);
    cmd.push_back(f.notifier);
    cmd.push_back(f.object);
    cmd.push_back(f.tenant);
    cmd.push_back(f.text);
    cmd.push_back(f.name);
    cmd.push_back(f.record_id);
    cmd.push_back(std::to_string(f.event_id));
    cmd.push_back(std::to_string(now + std::int64_t{f.coalesce_seconds} * 1000));
    cmd.push_back(f.coalesce_seconds > 0 ? "1" : "0");
  }
  cmd.push_back(std::to_string(state.size()));
  for (const auto& [k, v] : state) {
    cmd.push_back(k);
    cmd.push_back(v);
  }
  const auto r = redis_.call(std::move(cmd));
  checked(r, "the rules' firings");
  if (r.type != reply::kind::array || r.elements.size() != 3)
    throw redis::connection_error("Redis answered the rules' firings with something else");
  return {static_cast<std::size_t>(r.elements[0].integer), static_cast<std::size_t>(r.elements[1].integer),
          static_cast<std::size_t>(r.elements[2].integer)};
}

std::size_t redis_outbox::close_windows(const std::function<std::string(const notification&)>& summary) {
  std::lock_guard lk(windows_mu_);
  const std::int64_t now = now_ms_();
  auto read = script(kDueWindows);
  read.push_back(std::to_string(now));
  const auto due = redis_.call(std::move(read));
  checked(due, "reading the rules' windows");
  if (due.elements.empty()) return 0;
  auto close = script(kCloseWindows);
  close.push_back(std::to_string(now));
  for (const auto& w : due.elements) {
    if (w.elements.size() != 2) continue;
    const notification n = message_of(number(w.elements[0].str), w.elements[1]);
    close.push_back(w.elements[0].str);
    close.push_back(n.count > 1 ? summary(n) : n.text);
  }
  const auto r = redis_.call(std::move(close));
  checked(r, "closing the rules' windows");
  return static_cast<std::size_t>(r.integer);
}

std::optional<notification> redis_outbox::next_due(const std::string& notifier, std::int64_t* next_ms) {
  auto cmd = script(kNextDue);
  cmd.push_back(notifier);
  cmd.push_back(std::to_string(now_ms_()));
  const auto r = redis_.call(std::move(cmd));
  checked(r, "reading the outbox");
  *next_ms = 0;
  if (r.type != reply::kind::array || r.elements.empty()) return std::nullopt;
  if (r.elements[0].integer == 1 && r.elements.size() == 2) *next_ms = number(r.elements[1].str);
  if (r.elements[0].integer != 2 || r.elements.size() != 3) return std::nullopt;
  return message_of(number(r.elements[1].str), r.elements[2]);
}

void redis_outbox::record_attempt(std::int64_t id, int status, std::string_view answer, attempt_outcome outcome,
                                  std::int64_t next_ms, int step) {
  const std::int64_t now = now_ms_();
  // A wait with no answer (a held notifier) is no attempt: nothing was sent.
  const bool attempted = outcome != attempt_outcome::wait || status != 0;
  auto cmd = script(kAttempt);
  cmd.push_back(std::to_string(id));
  cmd.push_back(std::to_string(now));
  cmd.push_back(attempted ? json::serialize(json::object{{"at_ms", now},
                                                         {"status", status},
                                                         {"answer", answer.substr(0, 512)}})
                          : std::string());
  cmd.push_back(outcome_name(outcome));
  cmd.push_back(std::to_string(next_ms));
  cmd.push_back(std::to_string(step));
  cmd.push_back(attempted ? "1" : "0");
  checked(redis_.call(std::move(cmd)), "recording a delivery attempt");
}

json::array redis_outbox::list(const outbox_list_filter& f) {
  auto cmd = script(kList);
  cmd.push_back(std::to_string(f.after_id));
  cmd.push_back(f.status);
  cmd.push_back(f.rule);
  cmd.push_back(std::to_string(f.limit));
  const auto r = redis_.call(std::move(cmd));
  checked(r, "listing the outbox");
  json::array out;
  for (const auto& row : r.elements) {
    if (row.elements.size() != 3) continue;
    json::array attempts;
    for (const auto& a : row.elements[2].elements) {
      boost::system::error_code ec;
      auto v = json::parse(a.str, ec);
      if (!ec && v.is_object()) attempts.push_back(std::move(v));
    }
    out.push_back(notification_json(message_of(number(row.elements[0].str), row.elements[1]), std::move(attempts)));
  }
  return out;
}

std::optional<std::string> redis_outbox::retry(std::int64_t id) {
  auto cmd = script(kRetry);
  cmd.push_back(std::to_string(id));
  cmd.push_back(std::to_string(now_ms_()));
  const auto r = redis_.call(std::move(cmd));
  checked(r, "a retry");
  if (r.type != reply::kind::string) return std::nullopt;
  return r.str;
}

std::size_t redis_outbox::prune(std::int64_t before_ms) {
  auto cmd = script(kPrune);
  cmd.push_back(std::to_string(before_ms));
  const auto r = redis_.call(std::move(cmd));
  checked(r, "pruning the outbox");
  return static_cast<std::size_t>(r.integer);
}

outbox_counts redis_outbox::counts() {
  const auto r = redis_.call({"HGETALL", prefix_ + "ncount"});
  checked(r, "counting the outbox");
  outbox_counts c;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    c.set(r.elements[i].str, static_cast<std::uint64_t>(std::max<std::int64_t>(number(r.elements[i + 1].str), 0)));
  }
  std::lock_guard lk(counts_mu_);
  last_counts_ = c;
  return c;
}

}  // namespace freshet::rules
