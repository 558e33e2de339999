// A Slack incoming-webhook receiver for tests and the demo
// (`freshet simulate slack`). It behaves as Slack documents its webhooks:
//
// - POST /services/<anything>: a JSON body with "text" (or "blocks") is
//   accepted with 200 "ok". More than one message per second to one URL gets
//   429 with Retry-After: 1 and "rate_limited", and is not kept.
// - A URL whose last segment is one of Slack's error strings answers it as
//   Slack would: invalid_payload (400), action_prohibited (403),
//   channel_not_found and no_service (404), channel_is_archived (410). A body
//   that is not JSON with text is 400 invalid_payload.
// - POST /_sim/faults {"status": 429|500|503, "count": N, "retry_after": S}:
//   the next N messages get that answer (a 429 storm, an outage).
// - GET /_sim/messages: what was accepted, in order, and the counts of what
//   was refused. POST /_sim/reset forgets it all.
//
// Thread-safety: handle() from any worker (one lock).
#pragma once

#include "http/server.hpp"

#include <boost/json/array.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace freshet::sim {

class slack_receiver : public http::request_handler {
 public:
  boost::asio::awaitable<http::handler_result> handle(http::request& req, const http::request_context&) override;

 private:
  http::response answer(const http::request& req);
  http::response sim_route(const http::request& req, const std::string& path);

  std::mutex mu_;
  boost::json::array messages_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_accepted_;  // per URL path
  std::uint64_t rate_limited_ = 0, refused_ = 0, injected_ = 0;
  unsigned fault_status_ = 0, fault_count_ = 0, fault_retry_after_ = 1;
};

}  // namespace freshet::sim
