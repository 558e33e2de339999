#include "rules/dispatcher.hpp"

#include "http/upstream_client.hpp"
#include "rules/notifier.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <random>

namespace freshet::rules {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
// Slack allows one message per second per webhook URL; a little more than a
// second apart, so that jitter on the way never lands two within one second.
constexpr std::int64_t kSlackSpacingMs = 1050;
constexpr auto kIdle = 60s;                      // nothing due: look again at least this often
constexpr std::int64_t kHeldForever = INT64_MAX;
}  // namespace

struct dispatcher::target {
  const app::notifier_config* cfg = nullptr;
  std::string origin, path_and_query, host, port;
  std::unique_ptr<http::upstream_client> client;
  std::unique_ptr<asio::steady_timer> timer;
  bool woken = false;
  std::int64_t held_until = 0;  // 0: free; a failing or disabled notifier waits until then
  // Guarded by the dispatcher's mu_:
  notifier_status status;
};

dispatcher::dispatcher(rule_sections cfg, outbox& box, std::function<std::string(const notification&)> summary,
                       std::function<void(const notification&)> delivered)
    : opts_(cfg.notifications),
      box_(box),
      guard_{cfg.notifications.allow_private_targets, 0},
      summary_(std::move(summary)),
      delivered_(std::move(delivered)) {
  for (const auto& n : cfg.notifiers) {
    auto t = std::make_unique<target>();
    t->cfg = &n;
    t->status = {n.name, n.kind, "ok", {}, 0, 0, 0, 0};
    auto u = boost::urls::parse_uri(n.url);
    if (!u || u->host().empty()) {
      t->status.state = "failing";
      t->status.reason = "the URL in " + n.url_env + " cannot be parsed";
      t->held_until = kHeldForever;
    } else {
      t->host = u->host();
      t->port = u->has_port() ? std::string(u->port()) : (u->scheme() == "https" ? "443" : "80");
      t->origin = std::string(u->scheme()) + "://" + std::string(u->encoded_host_and_port());
      t->path_and_query = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
      if (u->has_query()) t->path_and_query += "?" + std::string(u->encoded_query());
      t->client = std::make_unique<http::upstream_client>(t->origin, std::chrono::seconds(opts_.timeout_seconds), 2);
    }
    t->timer = std::make_unique<asio::steady_timer>(ioc_);
    targets_.push_back(std::move(t));
  }
}

dispatcher::~dispatcher() { stop(); }

void dispatcher::start(unsigned short own_port) {
  guard_.own_port = own_port;
  for (auto& t : targets_) asio::co_spawn(ioc_, run_target(*t), asio::detached);
  asio::co_spawn(ioc_, run_windows(), asio::detached);
  thread_ = std::thread([this] { ioc_.run(); });
}

void dispatcher::stop() {
  if (stopping_.exchange(true)) return;
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

void dispatcher::wake() {
  asio::post(ioc_, [this] {
    for (auto& t : targets_) {
      t->woken = true;
      t->timer->cancel();
    }
  });
}

void dispatcher::resume(const std::string& notifier) {
  asio::post(ioc_, [this, notifier] {
    for (auto& t : targets_)
      if (t->cfg->name == notifier && t->client) {
        t->held_until = 0;
        t->woken = true;
        t->timer->cancel();
        std::lock_guard lk(mu_);
        t->status.state = "ok";
        t->status.reason.clear();
      }
  });
}

std::vector<notifier_status> dispatcher::statuses() const {
  std::lock_guard lk(mu_);
  std::vector<notifier_status> out;
  for (const auto& t : targets_) out.push_back(t->status);
  return out;
}

std::int64_t dispatcher::retry_delay_ms(int step) const {
  const auto& s = opts_.retry_seconds;
  const double base = 1000.0 * s[static_cast<std::size_t>(step) < s.size() ? step : s.size() - 1];
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.9, 1.1);  // receivers recovering are not hit in step
  return static_cast<std::int64_t>(base * jitter(rng));
}

asio::awaitable<std::string> dispatcher::check_address(target& t) {
  // An address written in the URL needs no lookup.
  boost::system::error_code bad;
  std::string host = t.host;
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const auto literal = asio::ip::make_address(host, bad);
  if (!bad) co_return refuse_target(literal, static_cast<unsigned short>(std::stoi(t.port)), guard_);
  asio::ip::tcp::resolver resolver(ioc_);
  auto [ec, results] = co_await resolver.async_resolve(t.host, t.port, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::string();  // the request itself will fail and be retried
  for (const auto& r : results) {
    auto why = refuse_target(r.endpoint().address(), r.endpoint().port(), guard_);
    if (!why.empty()) co_return why;
  }
  co_return std::string();
}

// Sleeps up to `ms`, or not at all when woken since the last nap.
asio::awaitable<void> dispatcher::nap(target& t, std::int64_t ms) {
  if (t.woken) {
    t.woken = false;
    co_return;
  }
  t.timer->expires_after(std::chrono::milliseconds(std::max<std::int64_t>(ms, 1)));
  co_await t.timer->async_wait(asio::as_tuple(asio::use_awaitable));
  t.woken = false;
}

asio::awaitable<void> dispatcher::run_target(target& t) {
  auto set_state = [&](std::string state, std::string reason) {
    std::lock_guard lk(mu_);
    t.status.state = std::move(state);
    t.status.reason = std::move(reason);
  };
  const bool slack = t.cfg->kind == "slack";
  while (!stopping_) {
    std::int64_t now = box_.now_ms();
    if (t.held_until > now) {
      co_await nap(t, t.held_until == kHeldForever ? std::chrono::milliseconds(kIdle).count()
                                                     : std::min<std::int64_t>(t.held_until - now, 60'000));
      continue;
    }
    std::int64_t next = 0;
    std::optional<notification> msg;
    bool unreadable = false;
    try {
      msg = box_.next_due(t.cfg->name, &next);
    } catch (const std::exception& e) {
      spdlog::error("msg=\"cannot read the outbox\" notifier={} error=\"{}\"", t.cfg->name, e.what());
      unreadable = true;
    }
    if (unreadable) {
      co_await nap(t, 1000);
      continue;
    }
    if (!msg) {
      co_await nap(t, next ? next - now : std::chrono::milliseconds(kIdle).count());
      continue;
    }
    if (slack) {
      const auto last = last_slack_send_[t.cfg->url];
      if (last && now < last + kSlackSpacingMs) {
        co_await nap(t, last + kSlackSpacingMs - now);
        continue;
      }
    }
    if (auto why = co_await check_address(t); !why.empty()) {
      spdlog::error("msg=\"notifier refused: target not allowed\" notifier={} reason=\"{}\"", t.cfg->name, why);
      set_state("failing", why);
      t.held_until = kHeldForever;
      continue;
    }
    const auto req = build_request(*t.cfg, *msg, box_.now_ms() / 1000);
    if (slack) last_slack_send_[t.cfg->url] = box_.now_ms();
    auto answer = co_await t.client->request(boost::beast::http::verb::post, t.path_and_query, req.headers, req.body);
    const auto verdict = classify_answer(t.cfg->kind, answer);
    now = box_.now_ms();
    const int status = answer.ok ? static_cast<int>(answer.status) : 0;
    const std::string said = answer.ok ? answer.body.substr(0, 200) : verdict.reason;
    bool unrecorded = false;
    try {
      switch (verdict.kind) {
        case answer_kind::delivered: {
          box_.record_attempt(msg->id, status, said, attempt_outcome::delivered);
          {
            std::lock_guard lk(mu_);
            ++t.status.sent;
            if (t.status.state != "ok") {
              t.status.state = "ok";
              t.status.reason.clear();
            }
          }
          if (delivered_) delivered_(*msg);
          break;
        }
        case answer_kind::rate_limited: {
          box_.record_attempt(msg->id, status, said, attempt_outcome::wait, now + verdict.retry_after.count(),
                              msg->step);
          if (slack) last_slack_send_[t.cfg->url] = now + verdict.retry_after.count() - kSlackSpacingMs;
          std::lock_guard lk(mu_);
          ++t.status.rate_limited;
          break;
        }
        case answer_kind::failing:
        case answer_kind::disabled: {
          const bool disabled = verdict.kind == answer_kind::disabled;
          spdlog::error("msg=\"notifier {}; its messages wait\" notifier={} reason=\"{}\"",
                        disabled ? "disabled" : "failing", t.cfg->name, verdict.reason);
          box_.record_attempt(msg->id, status, said, attempt_outcome::wait, now, msg->step);
          set_state(disabled ? "disabled" : "failing", verdict.reason);
          t.held_until = disabled ? kHeldForever : now + std::chrono::milliseconds(kFailingProbe).count();
          break;
        }
        case answer_kind::retry: {
          const int step = msg->step + 1;
          if (static_cast<std::size_t>(step) >= opts_.retry_seconds.size()) {
            spdlog::warn("msg=\"notification failed after every retry; kept for a retry by hand\" notifier={} id={} "
                         "reason=\"{}\"", t.cfg->name, msg->id, verdict.reason);
            box_.record_attempt(msg->id, status, said, attempt_outcome::failed);
            std::lock_guard lk(mu_);
            ++t.status.failed;
          } else {
            box_.record_attempt(msg->id, status, said, attempt_outcome::retry, now + retry_delay_ms(step), step);
            std::lock_guard lk(mu_);
            ++t.status.retried;
          }
          break;
        }
      }
    } catch (const std::exception& e) {
      // The attempt is not recorded: the message stays due and goes again
      // (at least once; the receiver deduplicates by webhook-id).
      spdlog::error("msg=\"cannot record a delivery attempt\" notifier={} error=\"{}\"", t.cfg->name, e.what());
      unrecorded = true;
    }
    if (unrecorded) co_await nap(t, 1000);
  }
}

asio::awaitable<void> dispatcher::run_windows() {
  asio::steady_timer timer(ioc_);
  std::int64_t last_prune = 0;
  for (unsigned round = 0; !stopping_; ++round) {
    try {
      if (box_.close_windows(summary_) > 0) wake();
      if (round % 4 == 0) box_.counts();  // refreshes what /api/stats shows, about once a second
      const auto now = box_.now_ms();
      if (now - last_prune > 60'000) {
        box_.prune(now - std::int64_t{opts_.keep_hours} * 3'600'000);
        last_prune = now;
      }
    } catch (const std::exception& e) {
      spdlog::error("msg=\"cannot close coalescing windows\" error=\"{}\"", e.what());
    }
    timer.expires_after(250ms);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace freshet::rules
