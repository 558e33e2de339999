#include "app/demo_command.hpp"

#include "app/config.hpp"
#include "app/server_app.hpp"
#include "app/simulate_command.hpp"
#include "core/standard_webhooks.hpp"
#include "http/server.hpp"
#include "sim/knack_simulator.hpp"
#include "sim/slack_receiver.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <thread>

namespace freshet::app {

namespace asio = boost::asio;

namespace {

// The demo must know its own URL before it serves, to tell the simulator
// where to send webhooks: with --port 0 it asks the kernel for a free port.
unsigned short free_loopback_port() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

}  // namespace

std::string demo_config_text(const std::string& source_block, int port, const std::string& data_dir,
                             const std::string& deadline) {
  std::string src = replace_all(source_block, "\"KNACK_APP_ID\"", "\"FRESHET_DEMO_KNACK_APP_ID\"");
  src = replace_all(src, "\"KNACK_API_KEY\"", "\"FRESHET_DEMO_KNACK_API_KEY\"");
  // The simulator announces each change: the Knack webhook is a hint to read.
  src = replace_all(src, "kind = \"knack\"\n", "kind = \"knack\"\nwebhook_secret_env = \"FRESHET_DEMO_WEBHOOK_SECRET\"\n");
  std::string toml;
  toml += "# The config `freshet demo` runs with (auth is off: loopback only).\n";
  toml += "[server]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n";
  toml += "data_dir = \"" + data_dir + "\"\nauth = \"none\"\n";
  // Short enough to try the Refresh button twice in a demo.
  toml += "refresh_cooldown_seconds = 30\nrefresh_timeout_seconds = 60\n\n";
  toml += src;
  toml += "\n[[goals]]\nname = \"laptops_donated\"\nlabel = \"Laptops donated\"\nobject = \"laptops\"\n"
          "where = { status = \"Donated\" }\ntarget = 3500\ndeadline = " + deadline + "\n";
  toml += demo_rules_text();
  return toml;
}

// The demo's rules, delivered to the built-in Slack receiver: a donation
// arrives, laptops become ready (coalesced), a training session nears its
// capacity, the goal passes a quarter mark or falls behind its pace.
std::string demo_rules_text() {
  return R"toml(
[notifications]
allow_private_targets = true   # the demo's Slack receiver is on loopback

[[notifiers]]
name = "slack"
kind = "slack"
url_env = "FRESHET_DEMO_SLACK_URL"

[[rules]]
name = "new_donation"
object = "donations"
when = 'op = "created"'
notify = ["slack"]
message = "A new donation: {organisation}, {laptops} laptops ({tenant})"

[[rules]]
name = "ready_for_donation"
object = "laptops"
when = 'status becomes "Ready for Donation"'
notify = ["slack"]
message = "{serial} ({model}) is Ready for Donation in {tenant}"
summary = "{count} laptops became Ready for Donation in {tenant}: {names}"
name_field = "serial"
coalesce_seconds = 10

[[rules]]
name = "session_nearly_full"
object = "training_sessions"
when = 'registrations >= 0.9 * capacity and not old.registrations >= 0.9 * capacity'
notify = ["slack"]
message = "{title} is nearly full: {registrations} of {capacity} ({tenant})"

[[rules]]
name = "donation_milestones"
goal = "laptops_donated"
thresholds = [25, 50, 75, 100]
notify = ["slack"]
message = "{label}: {value} of {target}, past {threshold}%"

[[rules]]
name = "donation_pace"
goal = "laptops_donated"
pace_days = 14
at = "09:00"
notify = ["slack"]
message = "Behind pace: {value} of {target}; at {per_day}/day you reach it on {projected}, after the {deadline} deadline"
)toml";
}

int run_demo(const demo_options& o) {
  std::string data_dir = o.data_dir;
  const bool temporary = data_dir.empty();  // removed again when the demo ends
  if (data_dir.empty()) {
    char tmpl[] = "/tmp/freshet-demo-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("freshet demo: cannot make a temporary data dir");
      return 1;
    }
    data_dir = tmpl;
  }
  const unsigned short port = o.port == 0 ? free_loopback_port() : static_cast<unsigned short>(o.port);

  // The simulated Knack app, on a thread of its own.
  sim::knack_sim_options so;
  so.dataset = "hti";
  so.seed = static_cast<std::uint64_t>(o.seed);
  sim::knack_simulator simulator(so);
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    std::cerr << "freshet demo: no random bytes for the webhook secret\n";
    return 1;
  }
  asio::io_context sim_ioc(1);
  simulator.enable_webhooks(sim_ioc.get_executor(), "http://127.0.0.1:" + std::to_string(port) + "/api/webhooks/hti", key);
  http::server_limits sim_limits;
  sim_limits.stamp_arrivals = true;  // as `freshet simulate` serves it
  http::server sim_server(sim_ioc, {sim_ioc.get_executor()}, {asio::ip::make_address("127.0.0.1"), 0}, sim_limits,
                          simulator);
  sim_server.start();
  // The rules' Slack messages go to a receiver of the demo's own.
  sim::slack_receiver slack;
  http::server slack_server(sim_ioc, {sim_ioc.get_executor()}, {asio::ip::make_address("127.0.0.1"), 0},
                            http::server_limits{}, slack);
  slack_server.start();
  const std::string slack_url = "http://127.0.0.1:" + std::to_string(slack_server.local_endpoint().port());
  setenv("FRESHET_DEMO_SLACK_URL", (slack_url + "/services/DEMO/HTI/donations").c_str(), 1);
  const std::string sim_url = "http://127.0.0.1:" + std::to_string(sim_server.local_endpoint().port());
  bool stopping = false;  // read and written on the simulator's thread only
  if (o.changes_per_second > 0)
    asio::co_spawn(sim_ioc, trickle([&] { simulator.apply_changes(1); }, o.changes_per_second, stopping),
                   asio::detached);
  std::thread sim_thread([&] { sim_ioc.run(); });
  auto stop_simulator = [&] {
    asio::post(sim_ioc, [&] {
      stopping = true;
      sim_server.stop();
      slack_server.stop();
      sim_ioc.stop();
    });
    sim_thread.join();
  };

  // The demo's secrets live in its own environment only.
  const std::string secret = "whsec_" + core::base64_encode(key);
  setenv("FRESHET_DEMO_WEBHOOK_SECRET", secret.c_str(), 1);
  setenv("FRESHET_DEMO_KNACK_APP_ID", simulator.app_id().c_str(), 1);
  setenv("FRESHET_DEMO_KNACK_API_KEY", simulator.api_key().c_str(), 1);
  // The goal's deadline: half a year from today.
  const std::time_t in_half_a_year = std::time(nullptr) + 182 * 86400;
  std::tm tm{};
  localtime_r(&in_half_a_year, &tm);
  char deadline[16];
  std::strftime(deadline, sizeof deadline, "%Y-%m-%d", &tm);
  auto loaded =
      parse_config(demo_config_text(simulator.freshet_config(sim_url), port, data_dir, deadline), "(demo config)");
  if (auto* err = std::get_if<config_error>(&loaded)) {
    std::cerr << "freshet demo: " << err->message << "\n";
    stop_simulator();
    return 1;
  }
  spdlog::info("msg=\"demo: authentication is off, so the demo listens on loopback only\" data_dir={}", data_dir);
  run_options ro;
  ro.on_listening = [&sim_url, &slack_url](unsigned short p) {
    std::cout << "Freshet demo: open http://127.0.0.1:" << p << "/  (Ctrl-C stops it)\n"
              << "Simulated Knack app (hti): " << sim_url << "  (POST /_sim/changes {\"count\":N} makes changes)\n"
              << "Slack receiver for the rules: " << slack_url << "/_sim/messages" << std::endl;
  };
  auto remove_temporary = [&] {
    if (!temporary) return;
    std::error_code ec;
    std::filesystem::remove_all(data_dir, ec);
  };
  int rc = 1;
  try {
    rc = run_server(std::get<config>(loaded), ro);
  } catch (...) {
    stop_simulator();
    remove_temporary();
    throw;
  }
  stop_simulator();
  remove_temporary();
  return rc;
}

}  // namespace freshet::app
