#include "app/server_app.hpp"

#include "app/api.hpp"
#include "app/auth.hpp"
#include "app/open_store.hpp"
#include "app/reload.hpp"
#include "core/clock.hpp"
#include "core/work_gate.hpp"
#include "http/server.hpp"
#include "hub/hub.hpp"
#include "jobs/refresh_jobs.hpp"
#include "rules/goal_tracker.hpp"
#include "rules/notification_service.hpp"
#include "sources/sync_service.hpp"
#include "sources/webhook_intake.hpp"
#include "store/data_dir_lock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

namespace freshet::app {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kShutdownGrace = std::chrono::milliseconds(4000);
// The blocking pool's bound (two threads): 64 tasks on it at once is a few tens
// of milliseconds of queued reads; 256 more page reads may wait their turn
// before the next is told to come back in a second.
constexpr std::size_t kReadSlots = 64;
constexpr std::size_t kReadWaiters = 256;

tcp::endpoint parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  const int port = std::stoi(listen.substr(colon + 1));
  return {asio::ip::make_address(host), static_cast<unsigned short>(port)};
}

asio::awaitable<void> every(std::chrono::milliseconds period, std::function<void()> f,
                            const std::atomic<bool>& stopping) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!stopping) {
    t.expires_after(period);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!stopping) f();
  }
}

}  // namespace

int run_server(const config& cfg, const run_options& opts) {
  const auto& sc = cfg.server;
  std::filesystem::create_directories(sc.data_dir);
  store::data_dir_lock lock(sc.data_dir);
  if (!sc.log_level.empty()) spdlog::set_level(spdlog::level::from_str(sc.log_level));
  if (sc.auth == auth_mode::none)
    spdlog::warn("msg=\"authentication is off (auth = \\\"none\\\"): anyone who reaches {} may read and publish\"",
                 sc.listen);

  // The store's engine; everything below sees only its interface.
  std::unique_ptr<store::event_store> log_owner = open_store(cfg);
  store::event_store& log = *log_owner;

  // One io_context per core, each run by one thread (the nginx model): a
  // connection stays on the worker that accepted it, so its state needs no
  // lock and fan-out posts once per worker, not once per connection. Worker 0
  // also runs the acceptor, the signal handler and the tickers.
  const unsigned threads = sc.threads > 0 ? sc.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<asio::io_context>> workers;
  std::vector<asio::any_io_executor> worker_executors;
  for (unsigned i = 0; i < threads; ++i) {
    workers.push_back(std::make_unique<asio::io_context>(1));
    worker_executors.push_back(workers.back()->get_executor());
  }
  asio::io_context& main_ioc = *workers.front();
  asio::thread_pool blocking(2);  // log reads for resume: disk I/O stays off the workers
  // At most kReadSlots tasks on that pool at once (queued or running): a
  // resuming stream waits for a slot, a record or page read waits while
  // fewer than kReadWaiters others do and is refused with 503 beyond them
  // (core/work_gate.hpp, docs/hardening.md).
  core::work_gate reads(blocking.get_executor(), kReadSlots, kReadWaiters);

  hub::hub subscribers(worker_executors, log.last_id(), std::chrono::seconds(sc.slow_client_seconds));
  // Goals recompute on the blocking pool after commits to their objects.
  std::unique_ptr<rules::goal_tracker> goals;
  if (!cfg.goals.empty()) goals = std::make_unique<rules::goal_tracker>(cfg.goals, cfg.sources, log, blocking.get_executor());
  // Rules read committed events back from the log; the listener only wakes them.
  std::unique_ptr<rules::notification_service> notifications;
  if (!cfg.rules.empty())
    notifications = std::make_unique<rules::notification_service>(rules::sections_of(cfg), log, open_outbox(cfg, log),
                                                                   std::chrono::seconds(cfg.store.lease_seconds));
  log.set_commit_listener(
      [&subscribers, g = goals.get(), n = notifications.get()](const std::vector<core::event_ptr>& batch) {
        subscribers.publish(batch);
        if (g) g->on_commit(batch);
        if (n) n->on_commit();
      });

  hub::stream_context streams{subscribers, log, reads, std::chrono::seconds(sc.keepalive_seconds),
                              sc.send_buffer_bytes};
  authenticator auth(sc.auth, cfg.tokens, cfg.jwt);
  // The sync engine runs on a thread of its own; it outlives the log (whose
  // writer completes its last commits onto the engine's executor).
  std::unique_ptr<sources::sync_service> sync;
  std::unique_ptr<sources::webhook_intake> intake;
  std::unique_ptr<jobs::refresh_jobs> refresh;
  if (!cfg.sources.empty()) {
    sync = std::make_unique<sources::sync_service>(cfg.sources, log, std::chrono::seconds(cfg.store.lease_seconds));
    intake = std::make_unique<sources::webhook_intake>(cfg.sources, log, [s = sync.get()](const std::string& name) {
      return s->find(name);
    });
    refresh = std::make_unique<jobs::refresh_jobs>(
        cfg.sources,
        jobs::refresh_jobs::limits{std::chrono::seconds(cfg.server.refresh_cooldown_seconds),
                                   std::chrono::seconds(cfg.server.refresh_timeout_seconds)},
        log, *sync);
  }
  api handler(cfg, auth, streams, sync.get(), intake.get(), refresh.get(), goals.get());
  const http::server_limits limits{sc.max_header_bytes,
                                   sc.max_body_bytes,
                                   std::chrono::seconds(sc.read_timeout_seconds),
                                   std::chrono::seconds(sc.idle_timeout_seconds),
                                   static_cast<std::size_t>(sc.max_connections),
                                   static_cast<std::size_t>(sc.max_connections_per_address)};
  std::unique_ptr<http::server> server_owner;
  try {
    server_owner = std::make_unique<http::server>(main_ioc, worker_executors, parse_listen(sc.listen), limits, handler);
  } catch (const boost::system::system_error& e) {
    // The first thing a newcomer meets when something else has the port.
    throw std::runtime_error(
        http::listen_failure(sc.listen, e.code(), "is another Freshet running? use --port or [server] listen"));
  }
  http::server& server = *server_owner;
  handler.attach_server(&server);
  handler.attach_notifications(notifications.get());
  server.start();
  // Signals from the other instances: hand-offs to a source's leader, retries
  // for the rules' leader.
  log.set_signal_listener([s = sync.get(), n = notifications.get()](const std::string& topic, const std::string& body) {
    if (s) s->on_signal(topic, body);
    if (n && topic == "rules") n->on_signal(body);
  });
  if (sync) sync->start();
  if (goals && log.shared() && sync)
    goals->set_publisher([s = sync.get()](const std::string& source) {
      auto* src = s->find(source);
      return src && src->leading();
    });
  if (goals) goals->start();
  if (notifications) {
    const auto port = server.local_endpoint().port();
    std::string link = cfg.notifications.dashboard_url;
    if (link.empty()) {
      auto host = server.local_endpoint().address();
      link = "http://" + (host.is_unspecified() ? std::string("127.0.0.1") : host.to_string()) + ":" + std::to_string(port);
    }
    notifications->start(port, link);
  }

  std::atomic<bool> stopping{false};
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  for (auto& w : workers) work.push_back(asio::make_work_guard(*w));
  asio::co_spawn(main_ioc,
                 every(std::chrono::milliseconds(1000),
                       [&] {
                         handler.tick();
                         if (intake) intake->flush_rejections();
                       },
                       stopping),
                 asio::detached);
  asio::co_spawn(main_ioc,
                 every(std::chrono::seconds(sc.keepalive_seconds), [&] { subscribers.keepalive_tick(); }, stopping),
                 asio::detached);

  // SIGHUP reloads what can change while running (tokens, log level) and says
  // what else changed but waits for a restart; it never stops the server.
  auto hangups = std::make_unique<asio::signal_set>(main_ioc, SIGHUP);
  config live = cfg;  // what runs now: the start's config with each reload's tokens and log level
  std::function<void()> on_hangup = [&] {
    hangups->async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (cfg.path.empty()) {
        spdlog::warn("msg=\"SIGHUP: nothing to reload; this config is built in (the demo)\"");
      } else {
        auto loaded = load_config(cfg.path);
        if (auto* err = std::get_if<config_error>(&loaded)) {
          spdlog::error("msg=\"SIGHUP: reload refused; still running with the config loaded before\" error=\"{}\"",
                        err->message);
        } else {
          const auto& fresh = std::get<config>(loaded);
          const auto plan = plan_reload(live, fresh);
          if (plan.tokens) auth.replace_tokens(fresh.tokens, fresh.jwt);
          live.tokens = fresh.tokens;
          live.jwt = fresh.jwt;
          live.server.log_level = fresh.server.log_level;
          std::string later;
          for (const auto& s : plan.needs_restart) later += (later.empty() ? "" : " ") + s;
          // At warn: an operator who quieted the log still sees what a SIGHUP did.
          spdlog::warn("msg=\"SIGHUP: config reloaded\" path={} tokens={} log_level={} needs_restart=\"{}\"", cfg.path,
                       plan.tokens ? std::to_string(fresh.tokens.size() + fresh.jwt.size()) + "_applied" : std::string("unchanged"),
                       plan.log_level.empty() ? std::string("unchanged") : plan.log_level,
                       later.empty() ? std::string("nothing") : later);
          // After the line above, so that a quieter level does not hide it.
          if (!plan.log_level.empty()) spdlog::set_level(spdlog::level::from_str(plan.log_level));
        }
      }
      if (!stopping) on_hangup();
    });
  };
  on_hangup();

  auto signals = std::make_unique<asio::signal_set>(main_ioc, SIGINT, SIGTERM);
  signals->async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("msg=\"stopping\" signal={}", sig);
    stopping = true;
    hangups->cancel();
    if (goals) goals->stop();
    if (sync) sync->stop();
    if (notifications) notifications->stop();
    server.stop();
    subscribers.close_all();
    // Requests in flight finish and streams end (WebSocket peers get a close
    // frame); then nothing holds the workers.
    asio::co_spawn(
        main_ioc,
        [&]() -> asio::awaitable<void> {
          const auto give_up = std::chrono::steady_clock::now() + kShutdownGrace;
          asio::steady_timer t(main_ioc);
          while (server.open_connections() != 0 && std::chrono::steady_clock::now() < give_up) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          if (server.open_connections() != 0)
            spdlog::warn("msg=\"closing connections still open after the grace period\" open={}",
                         server.open_connections());
          work.clear();
          for (auto& w : workers) w->stop();
        },
        asio::detached);
  });

  // Announced only now that SIGTERM is handled: whoever starts Freshet and
  // stops it as soon as it says it listens gets an orderly stop.
  // (The harnesses wait for this line, too.)
  spdlog::info("msg=listening address={}:{} data_dir={} threads={} auth={} sources={}",
               server.local_endpoint().address().to_string(), server.local_endpoint().port(), sc.data_dir, threads,
               sc.auth == auth_mode::none ? "none" : "tokens", cfg.sources.size());
  if (opts.on_listening) opts.on_listening(server.local_endpoint().port());

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&, i] { workers[i]->run(); });
  main_ioc.run();
  for (auto& t : pool) t.join();
  reads.close();  // what still waits for a slot ends with its worker's context
  blocking.join();
  const auto committed = log.counters().committed;
  // Teardown order: the log first (its writer may still hand a last batch to
  // the hub, which posts into the stopped workers); then what lives on the
  // workers' io_contexts; then the contexts, whose pending coroutine frames
  // detach from the hub as they are destroyed; the hub goes last.
  if (sync) sync->stop();
  if (intake) intake->flush_rejections(true);  // the last window's counts, before the log closes
  if (notifications) notifications->stop();
  handler.attach_notifications(nullptr);
  log_owner.reset();
  notifications.reset();
  sync.reset();
  signals.reset();
  hangups.reset();
  handler.attach_server(nullptr);
  server_owner.reset();
  workers.clear();
  spdlog::info("msg=stopped events_committed={}", committed);
  return 0;
}

}  // namespace freshet::app
