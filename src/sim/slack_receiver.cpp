#include "sim/slack_receiver.hpp"

#include "core/clock.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace freshet::sim {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using status = bhttp::status;

namespace {

constexpr auto kSpacing = std::chrono::seconds(1);  // Slack: one message per second per webhook

http::response text_reply(const http::request& req, status s, std::string body, std::string_view type = "text/plain") {
  http::response res{s, req.version()};
  res.set(bhttp::field::content_type, type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

boost::asio::awaitable<http::handler_result> slack_receiver::handle(http::request& req, const http::request_context&) {
  co_return http::handler_result{answer(req), {}};
}

http::response slack_receiver::answer(const http::request& req) {
  std::string path(req.target());
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  if (path.starts_with("/_sim/")) return sim_route(req, path);
  if (!path.starts_with("/services/") || req.method() != bhttp::verb::post)
    return text_reply(req, status::not_found, "no_service");

  std::lock_guard lk(mu_);
  // Configured bad URLs answer Slack's error for them.
  const std::string last = path.substr(path.rfind('/') + 1);
  static const std::pair<std::string_view, status> kErrors[] = {{"invalid_payload", status::bad_request},
                                                                {"action_prohibited", status::forbidden},
                                                                {"channel_not_found", status::not_found},
                                                                {"no_service", status::not_found},
                                                                {"channel_is_archived", status::gone}};
  for (auto [name, st] : kErrors)
    if (last == name) {
      ++refused_;
      return text_reply(req, st, std::string(name));
    }
  if (fault_count_ > 0) {
    --fault_count_;
    ++injected_;
    auto res = text_reply(req, static_cast<status>(fault_status_), fault_status_ == 429 ? "rate_limited" : "internal_error");
    if (fault_status_ == 429) {
      res.set(bhttp::field::retry_after, std::to_string(fault_retry_after_));
      ++rate_limited_;
    }
    return res;
  }
  const auto now = std::chrono::steady_clock::now();
  if (auto it = last_accepted_.find(path); it != last_accepted_.end() && now - it->second < kSpacing) {
    ++rate_limited_;
    auto res = text_reply(req, status::too_many_requests, "rate_limited");
    res.set(bhttp::field::retry_after, "1");
    return res;
  }
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec);
  const json::object* o = !ec && body.is_object() ? &body.get_object() : nullptr;
  const bool has_text = o && ((o->contains("text") && o->at("text").is_string() && !o->at("text").get_string().empty()) ||
                              (o->contains("blocks") && o->at("blocks").is_array()));
  if (!has_text) {
    ++refused_;
    return text_reply(req, status::bad_request, "invalid_payload");
  }
  last_accepted_[path] = now;
  messages_.push_back(json::object{{"url", path},
                                   {"text", o->contains("text") ? o->at("text") : json::value("")},
                                   {"at_ms", core::wall_ms()},
                                   {"body", *o}});
  return text_reply(req, status::ok, "ok");
}

http::response slack_receiver::sim_route(const http::request& req, const std::string& path) {
  std::lock_guard lk(mu_);
  if (path == "/_sim/messages" && req.method() == bhttp::verb::get)
    return text_reply(req, status::ok,
                      json::serialize(json::object{{"messages", messages_},
                                                   {"rate_limited", rate_limited_},
                                                   {"refused", refused_},
                                                   {"injected", injected_}}),
                      "application/json");
  if (path == "/_sim/reset" && req.method() == bhttp::verb::post) {
    messages_.clear();
    last_accepted_.clear();
    rate_limited_ = refused_ = injected_ = 0;
    fault_count_ = 0;
    return text_reply(req, status::ok, "{}", "application/json");
  }
  if (path == "/_sim/faults" && req.method() == bhttp::verb::post) {
    boost::system::error_code ec;
    auto v = json::parse(req.body(), ec);
    if (ec || !v.is_object() || !v.get_object().contains("status") || !v.get_object().at("status").is_int64())
      return text_reply(req, status::bad_request, R"({"error":"expected {\"status\":429,\"count\":N}"})", "application/json");
    const auto& o = v.get_object();
    fault_status_ = static_cast<unsigned>(o.at("status").get_int64());
    fault_count_ = o.contains("count") && o.at("count").is_int64() ? static_cast<unsigned>(o.at("count").get_int64()) : 1;
    fault_retry_after_ =
        o.contains("retry_after") && o.at("retry_after").is_int64() ? static_cast<unsigned>(o.at("retry_after").get_int64()) : 1;
    return text_reply(req, status::ok, "{}", "application/json");
  }
  return text_reply(req, status::not_found, R"({"error":"unknown simulator route"})", "application/json");
}

}  // namespace freshet::sim
