#include "app/simulate_command.hpp"

#include "http/server.hpp"
#include "core/standard_webhooks.hpp"
#include "sim/airtable_datasets.hpp"
#include "sim/datasets.hpp"
#include "sim/slack_receiver.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <iostream>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace freshet::app {

namespace asio = boost::asio;

namespace {

asio::ip::tcp::endpoint parse_endpoint(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen must be host:port");
  return {asio::ip::make_address(listen.substr(0, colon)),
          static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)))};
}

// Serves `handler` until a signal: one thread accepts (and runs the trickle),
// and each connection is served by one of eight single-threaded workers.
// That many, so that a worker busy rendering a 1,000-record page seldom
// holds back reading another connection's request; and the simulator counts
// arrivals against its rate limit by the kernel's stamp of their arrival,
// not by when they were read, so a late read cannot bunch arrivals that were
// sent evenly spaced. `prepare` runs with a worker's
// executor before serving; `banner` is printed once listening.
int serve(const simulate_options& opts, http::request_handler& handler, std::function<void()> one_change,
          const std::function<void(asio::any_io_executor)>& prepare,
          const std::function<std::string(unsigned short)>& banner) {
  constexpr int kWorkers = 8;
  asio::io_context acceptor(1);
  std::vector<std::unique_ptr<asio::io_context>> workers;
  std::vector<asio::any_io_executor> executors;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<asio::io_context>(1));
    executors.push_back(workers.back()->get_executor());
  }
  prepare(executors.front());
  std::unique_ptr<http::server> owner;
  try {
    http::server_limits limits;
    limits.stamp_arrivals = true;  // the rate limit judges arrivals as they reach the host
    owner = std::make_unique<http::server>(acceptor, executors, parse_endpoint(opts.listen), limits, handler);
  } catch (const boost::system::system_error& e) {
    std::cerr << "freshet simulate: "
              << http::listen_failure(opts.listen, e.code(), "is another simulator running? use --listen") << "\n";
    return 1;
  }
  http::server& server = *owner;
  server.start();
  std::cout << banner(server.local_endpoint().port()) << std::endl;
  bool stopping = false;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : workers) guards.push_back(asio::make_work_guard(*w));
  if (opts.changes_per_second > 0)
    asio::co_spawn(acceptor, trickle(std::move(one_change), opts.changes_per_second, stopping), asio::detached);
  asio::signal_set signals(acceptor, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    stopping = true;
    server.stop();
    for (auto& g : guards) g.reset();
    for (auto& w : workers) w->stop();
    acceptor.stop();
  });
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  acceptor.run();
  for (auto& t : threads) t.join();
  return 0;
}

int run_knack(const simulate_options& opts) {
  if (!sim::knack_dataset_exists(opts.knack.dataset)) {
    std::cerr << "freshet simulate: unknown data set '" << opts.knack.dataset << "' (knack has: hti, schools)\n";
    return 2;
  }
  sim::knack_simulator simulator(opts.knack);
  std::string webhook_key;
  if (!opts.webhook_url.empty()) {
    auto key = core::decode_webhook_secret(opts.webhook_secret);
    if (opts.webhook_secret.empty() || !key || key->size() < 16) {
      std::cerr << "freshet simulate: --webhook-url needs --webhook-secret whsec_<base64 of 24 to 64 random bytes>\n";
      return 2;
    }
    webhook_key = *key;
  }
  if (opts.print_config) {
    std::cout << simulator.freshet_config("http://" + opts.listen);
    return 0;
  }
  return serve(
      opts, simulator, [&] { simulator.apply_changes(1); },
      [&](asio::any_io_executor ex) {
        if (!webhook_key.empty()) simulator.enable_webhooks(ex, opts.webhook_url, webhook_key);
      },
      [&](unsigned short port) {
        return "Knack simulator (" + opts.knack.dataset + ", seed " + std::to_string(opts.knack.seed) +
               ") on http://127.0.0.1:" + std::to_string(port) + "  app id: " + simulator.app_id() +
               "  api key: " + simulator.api_key();
      });
}

int run_airtable(const simulate_options& opts) {
  if (!sim::airtable_dataset_exists(opts.airtable.dataset)) {
    std::cerr << "freshet simulate: unknown data set '" << opts.airtable.dataset << "' (airtable has: services)\n";
    return 2;
  }
  if (!opts.webhook_url.empty()) {
    std::cerr << "freshet simulate: Airtable webhooks are registered through its Webhooks API "
                 "(POST /v0/bases/{base}/webhooks), not --webhook-url\n";
    return 2;
  }
  sim::airtable_simulator simulator(opts.airtable);
  if (opts.print_config) {
    std::cout << simulator.freshet_config("http://" + opts.listen);
    return 0;
  }
  return serve(
      opts, simulator, [&] { simulator.apply_changes(1); },
      [&](asio::any_io_executor ex) { simulator.enable_pings(std::move(ex)); },
      [&](unsigned short port) {
        return "Airtable simulator (" + opts.airtable.dataset + ", seed " + std::to_string(opts.airtable.seed) +
               ") on http://127.0.0.1:" + std::to_string(port) + "  base id: " + simulator.base_id() +
               "  token: " + simulator.token();
      });
}

int run_slack(const simulate_options& opts) {
  sim::slack_receiver receiver;
  return serve(
      opts, receiver, [] {}, [](asio::any_io_executor) {},
      [](unsigned short port) {
        return "Slack webhook receiver on http://127.0.0.1:" + std::to_string(port) +
               "  post to /services/<any path>; received: /_sim/messages";
      });
}

}  // namespace

// The change trickle: one plausible change every 1/rate seconds.
asio::awaitable<void> trickle(std::function<void()> one_change, double per_second, const bool& stopping) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / per_second));
  auto next = std::chrono::steady_clock::now();
  while (!stopping) {
    next += period;
    t.expires_at(next);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!stopping) one_change();
  }
}

int run_simulate(const simulate_options& opts) {
  if (opts.kind == "knack") return run_knack(opts);
  if (opts.kind == "airtable") return run_airtable(opts);
  if (opts.kind == "slack") {
    if (opts.changes_per_second > 0 || opts.print_config) {
      std::cerr << "freshet simulate slack: --changes-per-second and --print-config are for knack and airtable\n";
      return 2;
    }
    return run_slack(opts);
  }
  std::cerr << "freshet simulate: unknown kind '" << opts.kind << "': knack, airtable or slack\n";
  return 2;
}

}  // namespace freshet::app
