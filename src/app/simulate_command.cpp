#include "app/simulate_command.hpp"

#include "http/server.hpp"
#include "core/standard_webhooks.hpp"
#include "sim/datasets.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <iostream>
#include <thread>

namespace freshet::app {

namespace asio = boost::asio;

namespace {

asio::ip::tcp::endpoint parse_endpoint(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen must be host:port");
  return {asio::ip::make_address(listen.substr(0, colon)),
          static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)))};
}

// The change trickle: one plausible change every 1/rate seconds.
asio::awaitable<void> trickle(sim::knack_simulator& simulator, double per_second, const bool& stopping) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / per_second));
  auto next = std::chrono::steady_clock::now();
  while (!stopping) {
    next += period;
    t.expires_at(next);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!stopping) simulator.apply_changes(1);
  }
}

}  // namespace

int run_simulate(const simulate_options& opts) {
  if (opts.kind != "knack") {
    std::cerr << "freshet simulate: the " << opts.kind
              << " simulator is not built yet; this build simulates knack only\n";
    return 2;
  }
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
  // Two single-threaded workers: enough that the simulator is never what a
  // sync benchmark measures (its state is one mutex).
  asio::io_context w0(1), w1(1);
  if (!webhook_key.empty()) simulator.enable_webhooks(w1.get_executor(), opts.webhook_url, webhook_key);
  http::server server(w0, {w0.get_executor(), w1.get_executor()}, parse_endpoint(opts.listen), http::server_limits{},
                      simulator);
  server.start();
  std::cout << "Knack simulator (" << opts.knack.dataset << ", seed " << opts.knack.seed << ") on http://"
            << server.local_endpoint().address().to_string() << ":" << server.local_endpoint().port()
            << "  app id: " << simulator.app_id() << "  api key: " << simulator.api_key() << std::endl;
  bool stopping = false;
  auto work0 = asio::make_work_guard(w0);
  auto work1 = asio::make_work_guard(w1);
  if (opts.changes_per_second > 0) asio::co_spawn(w0, trickle(simulator, opts.changes_per_second, stopping), asio::detached);
  asio::signal_set signals(w0, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    stopping = true;
    server.stop();
    work0.reset();
    work1.reset();
    w0.stop();
    w1.stop();
  });
  std::thread t1([&] { w1.run(); });
  w0.run();
  t1.join();
  return 0;
}

}  // namespace freshet::app
