#include "rules/notifier.hpp"

#include "core/clock.hpp"
#include "core/standard_webhooks.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>

namespace freshet::rules {

namespace json = boost::json;

namespace {

std::chrono::milliseconds parse_retry_after(const std::string& v) {
  long long s = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (ec != std::errc() || s < 0) return std::chrono::seconds(1);  // an HTTP date or garbage: a short wait
  return std::chrono::seconds(std::min<long long>(s, 3600));
}

}  // namespace

bool slack_permanent_error(std::string_view body) {
  static constexpr std::string_view kPermanent[] = {"invalid_payload", "channel_not_found", "channel_is_archived",
                                                    "no_service", "action_prohibited", "invalid_token",
                                                    "no_active_hooks", "team_disabled"};
  for (auto p : kPermanent)
    if (body.find(p) != std::string_view::npos) return true;
  return false;
}

outbound_request build_request(const app::notifier_config& n, const notification& msg, std::int64_t now_s) {
  outbound_request r;
  r.headers.emplace_back("Content-Type", "application/json");
  if (n.kind == "slack") {
    json::object body{{"text", msg.text}};
    if (n.blocks) {
      std::string context = "*" + msg.rule + "*";
      if (!msg.tenant.empty()) context += " · " + msg.tenant;
      if (msg.count > 1) context += " · " + std::to_string(msg.count) + " changes";
      body["blocks"] = json::array{
          json::object{{"type", "section"}, {"text", json::object{{"type", "mrkdwn"}, {"text", msg.text}}}},
          json::object{{"type", "context"},
                       {"elements", json::array{json::object{{"type", "mrkdwn"}, {"text", context}}}}}};
    }
    r.body = json::serialize(body);
    return r;
  }
  json::object data{{"id", msg.webhook_id},
                    {"rule", msg.rule},
                    {"object", msg.object},
                    {"tenant", msg.tenant.empty() ? json::value(nullptr) : json::value(msg.tenant)},
                    {"text", msg.text},
                    {"count", msg.count},
                    {"records", msg.records},
                    {"first_event_id", std::to_string(msg.first_event)},
                    {"last_event_id", std::to_string(msg.last_event)}};
  r.body = json::serialize(json::object{
      {"type", "notification"},
      {"timestamp", core::format_iso8601_ms(std::chrono::system_clock::time_point(std::chrono::seconds(now_s)))},
      {"data", std::move(data)}});
  std::string sigs;
  for (const auto& s : n.secrets)
    if (auto key = core::decode_webhook_secret(s)) {
      if (!sigs.empty()) sigs += ' ';
      sigs += core::sign_webhook(*key, msg.webhook_id, now_s, r.body);
    }
  r.headers.emplace_back("webhook-id", msg.webhook_id);
  r.headers.emplace_back("webhook-timestamp", std::to_string(now_s));
  r.headers.emplace_back("webhook-signature", sigs);
  return r;
}

answer_verdict classify_answer(const std::string& kind, const http::upstream_response& r) {
  if (!r.ok) {
    if (r.untrusted) return {answer_kind::failing, {}, "TLS certificate not trusted: " + r.error};
    return {answer_kind::retry, {}, r.error.empty() ? "no answer" : r.error};
  }
  const std::string head = r.body.substr(0, 200);
  if (r.status >= 200 && r.status < 300) return {answer_kind::delivered, {}, "ok"};
  if (r.status == 429) return {answer_kind::rate_limited, parse_retry_after(r.retry_after), "rate limited (429)"};
  if (kind == "slack") {
    if (r.status >= 400 && r.status < 500 && slack_permanent_error(r.body))
      return {answer_kind::failing, {}, "Slack refused the webhook: " + head};
    return {answer_kind::retry, {}, "HTTP " + std::to_string(r.status) + ": " + head};
  }
  if (r.status == 410) return {answer_kind::disabled, {}, "the receiver answered 410 Gone: endpoint disabled"};
  return {answer_kind::retry, {}, "HTTP " + std::to_string(r.status) + ": " + head};
}

}  // namespace freshet::rules
