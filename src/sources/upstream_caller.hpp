// How every connector calls its upstream: take a slot from the credential's
// rate limiter, send, and judge the answer. A 429 pauses the limiter as long
// as the upstream asks (Retry-After, or the source kind's own penalty) and is
// retried; 5xx, timeouts, cut-off or unparsable bodies are retried with
// exponential backoff and full jitter, a bounded number of times; any other
// 4xx fails at once. Only a whole JSON object is ever handed back, so a
// partial page can never be stored as if it were whole.
#pragma once

#include "http/upstream_client.hpp"
#include "sources/rate_limiter.hpp"

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>

namespace freshet::sources {

// The upstream could not be read after every retry allowed (or refused outright).
struct upstream_error : std::runtime_error {
  unsigned status;  // the last HTTP status, 0 when none arrived
  std::string body; // the last body, for 4xx that the caller may recognise
  upstream_error(const std::string& what, unsigned st, std::string b)
      : std::runtime_error(what), status(st), body(std::move(b)) {}
};

struct retry_policy {
  int max_attempts = 6;                                // 5xx, timeouts, bad bodies
  int max_rate_limited = 20;                           // 429s in a row before giving up
  std::chrono::milliseconds backoff_base{250};         // doubles each attempt
  std::chrono::milliseconds backoff_cap{8000};
  std::chrono::milliseconds rate_limited_wait{1000};   // when a 429 says nothing (Knack: 1 s; Airtable: 30 s)
};

// Counted per source, read by /api/stats and /metrics.
struct upstream_counters {
  std::atomic<std::uint64_t> requests{0};      // sent, retries included
  std::atomic<std::uint64_t> succeeded{0};
  std::atomic<std::uint64_t> rate_limited{0};  // 429s
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> server_errors{0}; // 5xx
  std::atomic<std::uint64_t> timeouts{0};      // and other transport failures
  std::atomic<std::uint64_t> bad_bodies{0};    // cut off, not JSON, not an object
  std::atomic<std::uint64_t> failures{0};      // gave up
};

// Whether a request may be sent again after an answer that leaves its fate
// unknown (a timeout, a 5xx, a cut-off body). `once`: a creation, which the
// upstream may have carried out before the answer was lost; it is repeated
// only when it certainly never left (no connection) or was refused unread (429).
enum class idempotency { safe, once };

class upstream_caller {
 public:
  upstream_caller(http::upstream_client& client, rate_limiter& limiter, retry_policy policy,
                  upstream_counters& counters);

  // Returns the parsed JSON object of a 2xx answer; throws upstream_error.
  boost::asio::awaitable<boost::json::object> call(boost::beast::http::verb method, std::string target,
                                                   std::vector<std::pair<std::string, std::string>> headers,
                                                   std::string body = {}, idempotency repeat = idempotency::safe);

  // Values that must not reach the logs (an Airtable base id, a Knack app
  // id): replaced by "<redacted>" in every logged URL.
  void redact(std::vector<std::string> secrets) { redacted_ = std::move(secrets); }
  // Which credential a 401 or 403 is about, in words that name its variables
  // ("the API key in KNACK_API_KEY ..."), for the error people read.
  void credentials_hint(std::string hint) { credentials_hint_ = std::move(hint); }

  upstream_counters& counters() { return counters_; }

 private:
  std::chrono::milliseconds backoff(int attempt);
  std::string loggable(std::string_view target) const;
  std::string credentials_hint_;

  http::upstream_client& client_;
  rate_limiter& limiter_;
  const retry_policy policy_;
  upstream_counters& counters_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::vector<std::string> redacted_;     // set before the first call
  std::atomic<bool> said_untrusted_{false};  // a certificate failure is logged once
};

}  // namespace freshet::sources
