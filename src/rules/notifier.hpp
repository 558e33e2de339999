// What a notifier sends and what its receiver's answer means, with no I/O:
// the Slack incoming-webhook message and the Standard Webhooks delivery, and
// the rules that turn a status and body into delivered, retry, wait or stop.
#pragma once

#include "app/config.hpp"
#include "http/upstream_client.hpp"
#include "rules/outbox.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace freshet::rules {

struct outbound_request {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Slack: {"text": ...}. Webhook: {"type":"notification","timestamp":..,"data":{..}}
// signed per Standard Webhooks with every configured secret.
outbound_request build_request(const app::notifier_config& n, const notification& msg, std::int64_t now_s);

enum class answer_kind {
  delivered,
  retry,         // a failure worth trying again on the schedule (5xx, a timeout, a refused connection)
  rate_limited,  // 429: wait retry_after, not counted against the schedule
  failing,       // Slack's permanent errors: the notifier is failing; its messages wait
  disabled,      // webhook 410: the receiver asked to stop; its messages wait
};

struct answer_verdict {
  answer_kind kind = answer_kind::retry;
  std::chrono::milliseconds retry_after{0};  // rate_limited
  std::string reason;                         // for the log, the attempt row and /api/stats
};

answer_verdict classify_answer(const std::string& kind, const http::upstream_response& r);

// Slack's error strings that no retry can fix.
bool slack_permanent_error(std::string_view body);

}  // namespace freshet::rules
