#include "sources/upstream_caller.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <spdlog/spdlog.h>

#include <charconv>

namespace freshet::sources {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Retry-After as delta-seconds (the HTTP-date form is not used by these upstreams).
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& v) {
  double secs = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec != std::errc{} || secs < 0 || secs > 3600) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(secs * 1000));
}

}  // namespace

upstream_caller::upstream_caller(http::upstream_client& client, rate_limiter& limiter, retry_policy policy,
                                 upstream_counters& counters)
    : client_(client), limiter_(limiter), policy_(policy), counters_(counters) {}

std::chrono::milliseconds upstream_caller::backoff(int attempt) {
  const auto ceiling = std::min(policy_.backoff_cap, policy_.backoff_base * (1 << std::min(attempt, 16)));
  std::lock_guard lk(rng_mu_);
  // Full jitter: many clients failing together do not come back together.
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(ceiling.count() / 4, ceiling.count())(rng_));
}

std::string upstream_caller::loggable(std::string_view target) const {
  std::string out = client_.base_url() + std::string(target.substr(0, 80));
  for (const auto& secret : redacted_) {
    if (secret.empty()) continue;
    for (auto at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 10))
      out.replace(at, secret.size(), "<redacted>");
  }
  return out;
}

asio::awaitable<json::object> upstream_caller::call(boost::beast::http::verb method, std::string target,
                                                    std::vector<std::pair<std::string, std::string>> headers,
                                                    std::string body, idempotency repeat) {
  int failures = 0, limited = 0;
  std::string last_error;
  unsigned last_status = 0;
  std::string last_body;
  // The limiter grants at the moment of the write, inside the client.
  std::chrono::steady_clock::time_point sent;
  bool left = false;  // whether this attempt's bytes were (being) written
  const http::send_gate gate = [this, &sent, &left]() -> asio::awaitable<void> {
    co_await limiter_.acquire();
    ++counters_.requests;
    sent = std::chrono::steady_clock::now();
    left = true;
  };
  for (;;) {
    sent = std::chrono::steady_clock::now();  // until the gate says otherwise (a failed connect never reaches it)
    left = false;
    auto r = co_await client_.request(method, target, headers, body, gate);
    if (spdlog::should_log(spdlog::level::trace))  // the arguments cost an allocation: only when asked for
      spdlog::trace("msg=upstream url={} status={} ms={}", loggable(target), r.status,
                    std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent).count());
    std::string why;
    bool retry = false;
    if (!r.ok && r.untrusted) {
      // A certificate that does not verify will not verify on the next try
      // either: fail now, and say so plainly once rather than at every poll.
      ++counters_.failures;
      const std::string msg = "the upstream's TLS certificate was not accepted (" + r.error +
                              "); if it is signed by a private CA, name that CA's PEM file in the source's ca_file";
      if (!said_untrusted_.exchange(true))
        spdlog::error("msg=\"{}\" url={}", msg, loggable(""));
      throw upstream_error(msg, 0, {});
    }
    if (!r.ok) {
      ++counters_.timeouts;
      why = r.error;
      retry = repeat == idempotency::safe || !left;
    } else if (r.status == 429) {
      ++counters_.rate_limited;
      auto wait = parse_retry_after(r.retry_after).value_or(policy_.rate_limited_wait);
      limiter_.on_rate_limited(wait);
      if (++limited > policy_.max_rate_limited) {
        ++counters_.failures;
        throw upstream_error("the upstream kept answering 429 (rate limited)", 429, r.body);
      }
      ++counters_.retries;
      spdlog::debug("msg=\"upstream rate limited\" url={} wait_ms={}", loggable(target), wait.count());
      continue;  // the limiter holds the next slot back
    } else if (r.status >= 500) {
      ++counters_.server_errors;
      why = "HTTP " + std::to_string(r.status);
      retry = repeat == idempotency::safe;
    } else if ((r.status == 401 || r.status == 403) && !credentials_hint_.empty()) {
      ++counters_.failures;
      throw upstream_error("the upstream refused the credentials (HTTP " + std::to_string(r.status) + "): check " +
                               credentials_hint_,
                           r.status, r.body);
    } else if (r.status >= 400) {
      // A 404 is an answer, not a failure of the upstream: a deletion check
      // asks for records that may be gone, and the caller decides.
      if (r.status != 404) ++counters_.failures;
      throw upstream_error("the upstream refused the request: HTTP " + std::to_string(r.status), r.status, r.body);
    } else {
      boost::system::error_code ec;
      // One arena per answer: a page's thousands of values are allocated
      // by bumping a pointer and freed at once, when the last record mapped
      // from it (moved, not copied: the same storage) has been committed.
      json::value v = json::parse(r.body, ec, json::make_shared_resource<json::monotonic_resource>());
      if (!ec && v.is_object()) {
        ++counters_.succeeded;
        limiter_.on_success();
        co_return std::move(v.get_object());
      }
      ++counters_.bad_bodies;
      why = ec ? "a body that is not JSON (" + ec.message() + ")" : "a JSON body that is not an object";
      retry = repeat == idempotency::safe;
    }
    last_error = why;
    last_status = r.status;
    last_body = r.body;
    if (!retry) {
      ++counters_.failures;
      throw upstream_error("the upstream answered " + why +
                               " to a request that is sent only once (it may have been carried out all the same)",
                           last_status, last_body);
    }
    if (++failures >= policy_.max_attempts) break;
    ++counters_.retries;
    const auto wait = backoff(failures);
    spdlog::debug("msg=\"upstream request failed; retrying\" url={} error=\"{}\" attempt={} wait_ms={}",
                  loggable(target), why, failures, wait.count());
    co_await sleep_for(wait);
  }
  ++counters_.failures;
  throw upstream_error("the upstream failed " + std::to_string(failures) + " times; last: " + last_error, last_status,
                       last_body);
}

}  // namespace freshet::sources
