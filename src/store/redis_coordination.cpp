// How the instances on one Redis share work, beside the log (issue #13):
// the leases of sources, the signals between instances, the shared pace of
// each upstream credential, and the jobs any instance may run. Each is one
// key (or script) under the deployment's prefix; the engine's thread does
// the I/O (redis_store::call, call_later).
#include "store/redis_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace freshet::store {

using command = std::vector<std::string>;
using redis::reply;

namespace {

// A lease: held by one instance at a time for a time to live, with a
// fencing token that grows with every new holder. KEYS: the lease, its
// token counter. ARGV: this instance's id, the time to live in ms. Returns
// the token when this instance holds it now (renewed or newly taken), 0
// when another does.
constexpr const char* kLeaseScript = R"lua(
local v = redis.call('GET', KEYS[1])
if v then
  local holder, token = string.match(v, '^(.*):(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
)lua";

// Gives a lease up if this instance holds it. KEYS: the lease; ARGV: the id.
constexpr const char* kReleaseScript = R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then redis.call('DEL', KEYS[1]) end
return 0
)lua";

// The next slot of a shared pace (GCRA kept as the next free slot, so a
// caller reserves its slot in one step and sleeps, never retries): the
// latest of now, the slot left free by the one before and the end of a
// pause, on Redis's clock, in microseconds. KEYS: the pace, its pause.
// ARGV: the spacing in µs. Returns {slot, now} as decimal text (exact,
// whatever Lua's numbers do to large integers).
constexpr const char* kSlotScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'))
local nxt = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 60000)
return {string.format('%.0f', slot), string.format('%.0f', now)}
)lua";

// Nothing of a pace starts before now + ARGV[1] ms (a later pause wins).
// KEYS: the pause.
constexpr const char* kPauseScript = R"lua(
local t = redis.call('TIME')
local untl = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1]) * 1000
if untl > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', untl), 'PX', tonumber(ARGV[1]) + 1000)
end
return 1
)lua";

// Claims a job key: a hash {job, ended} that lives as long as the job may
// hold it, then as long as its cooldown once it ended. KEYS: the claim.
// ARGV: the job id, the hold in ms. Returns {outcome, job id, ms left}.
constexpr const char* kClaimScript = R"lua(
local job = redis.call('HGET', KEYS[1], 'job')
if job then
  if redis.call('HGET', KEYS[1], 'ended') == '1' then
    return {'cooling', job, tostring(redis.call('PTTL', KEYS[1]))}
  end
  return {'running', job, '0'}
end
redis.call('HSET', KEYS[1], 'job', ARGV[1], 'ended', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'claimed', ARGV[1], '0'}
)lua";

// The job holding a claim ended: the claim stays for the cooldown.
// KEYS: the claim. ARGV: the job id, the cooldown in ms.
constexpr const char* kEndScript = R"lua(
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) <= 0 then redis.call('DEL', KEYS[1]) return 1 end
redis.call('HSET', KEYS[1], 'ended', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

std::int64_t decimal(const std::string& s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// A reply that is an error is Redis refusing the script: say so.
const reply& checked(const reply& r, const char* what) {
  if (r.is_error()) throw redis::connection_error(std::string("Redis refused ") + what + ": " + r.str);
  return r;
}

}  // namespace

std::optional<std::uint64_t> redis_store::hold_lease(const std::string& name, std::chrono::milliseconds ttl) {
  const auto r = call({"EVAL", kLeaseScript, "2", key("lease:" + name), key("fence:" + name), instance_id(),
                       std::to_string(std::max<std::int64_t>(ttl.count(), 1))});
  const auto token = checked(r, "a lease").integer;
  if (token <= 0) return std::nullopt;
  return static_cast<std::uint64_t>(token);
}

void redis_store::release_lease(const std::string& name) {
  call({"EVAL", kReleaseScript, "1", key("lease:" + name), instance_id()});
}

void redis_store::send_signal(const std::string& topic, const std::string& body) {
  // Kept short: a signal is for now, and an instance that starts later does
  // not read the older ones.
  call_later({"XADD", key("signals"), "MAXLEN", "~", "1000", "*", "topic", topic, "body", body});
}

std::optional<shared_slot> redis_store::take_slot(const std::string& pace, std::chrono::microseconds spacing) {
  const auto r = call({"EVAL", kSlotScript, "2", key("pace:" + pace), key("pause:" + pace),
                       std::to_string(std::max<std::int64_t>(spacing.count(), 1))});
  checked(r, "a rate limit slot");
  if (r.type != reply::kind::array || r.elements.size() != 2)
    throw redis::connection_error("Redis answered a rate limit slot with something else");
  const std::int64_t slot = decimal(r.elements[0].str), now = decimal(r.elements[1].str);
  return shared_slot{std::chrono::microseconds(std::max<std::int64_t>(slot - now, 0)), slot};
}

void redis_store::pause_slots(const std::string& pace, std::chrono::milliseconds wait) {
  call_later({"EVAL", kPauseScript, "1", key("pause:" + pace), std::to_string(std::max<std::int64_t>(wait.count(), 1))});
}

std::optional<job_claim> redis_store::claim_job(const std::string& job_key, const std::string& job_id,
                                                std::chrono::seconds hold) {
  const auto r = call({"EVAL", kClaimScript, "1", key("claim:" + job_key), job_id,
                       std::to_string(std::max<std::int64_t>(hold.count(), 1) * 1000)});
  checked(r, "a job claim");
  if (r.type != reply::kind::array || r.elements.size() != 3)
    throw redis::connection_error("Redis answered a job claim with something else");
  job_claim c;
  c.job_id = r.elements[1].str;
  if (r.elements[0].str == "running") c.result = job_claim::outcome::running;
  if (r.elements[0].str == "cooling") {
    c.result = job_claim::outcome::cooling;
    // Rounded up: a Retry-After that is waited out finds the key gone.
    const std::int64_t ms = std::max<std::int64_t>(decimal(r.elements[2].str), 1);
    c.retry_after = std::chrono::seconds((ms + 999) / 1000);
  }
  return c;
}

void redis_store::end_job(const std::string& job_key, const std::string& job_id, std::chrono::seconds cooldown) {
  call_later({"EVAL", kEndScript, "1", key("claim:" + job_key), job_id, std::to_string(cooldown.count() * 1000)},
             "claim:" + job_key);
}

void redis_store::put_job(const std::string& job_id, std::string state, std::chrono::seconds keep) {
  // Kept while Redis is away: the other instances answer GET /api/jobs/{id}
  // from it, so its last state must get there.
  call_later({"SET", key("job:" + job_id), std::move(state), "EX", std::to_string(std::max<std::int64_t>(keep.count(), 1))},
             "job:" + job_id);
}

std::optional<std::string> redis_store::get_job(const std::string& job_id) {
  const auto r = call({"GET", key("job:" + job_id)});
  checked(r, "a job read");
  if (r.type != reply::kind::string) return std::nullopt;
  return r.str;
}

}  // namespace freshet::store
