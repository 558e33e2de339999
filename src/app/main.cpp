// freshet: the one binary. Subcommands as DESIGN.md's "Command line".
#include "app/config.hpp"
#include "app/demo_command.hpp"
#include "app/init_command.hpp"
#include "app/logging.hpp"
#include "app/server_app.hpp"
#include "app/simulate_command.hpp"
#include "app/sync_command.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <csignal>
#include <iostream>
#include <string>
#include <variant>

#ifndef FRESHET_VERSION
#define FRESHET_VERSION "0.0.0"
#endif

namespace {

int run_serve(const std::string& path) {
  auto loaded = freshet::app::load_config(path);
  if (auto* err = std::get_if<freshet::app::config_error>(&loaded)) {
    std::cerr << "freshet: " << err->message << "\n";
    return 2;
  }
  return freshet::app::run_server(std::get<freshet::app::config>(loaded));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Freshet: live dashboards on top of Knack and Airtable", "freshet"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("freshet ") + FRESHET_VERSION);
  // Subcommands made from here on pass options they do not know to the app:
  // `freshet serve --config f --log-level debug` works as well as before it.
  app.fallthrough();
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")->capture_default_str();

  auto* demo = app.add_subcommand("demo", "Run the server with built-in data on loopback, no set-up");
  freshet::app::demo_options demo_opts;
  demo->add_option("--port", demo_opts.port, "Port on 127.0.0.1 (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  demo->add_option("--data-dir", demo_opts.data_dir, "Where the store lives (default: a new temporary dir)");
  demo->add_option("--changes-per-second", demo_opts.changes_per_second, "The simulated app's change trickle (0: none)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  demo->add_option("--seed", demo_opts.seed, "Seed of the simulated data set")->capture_default_str();

  auto* serve = app.add_subcommand("serve", "Run the server from a config file");
  std::string config_path;
  serve->add_option("--config", config_path, "The TOML config file")->required();

  auto* check = app.add_subcommand("check-config", "Validate a config file and exit");
  check->add_option("--config", config_path, "The TOML config file")->required();

  auto* sync = app.add_subcommand("sync", "Sync the configured sources once into the data dir and print a summary");
  freshet::app::sync_options sync_opts;
  bool once = false;
  sync->add_option("--config", config_path, "The TOML config file")->required();
  sync->add_option("--source", sync_opts.source, "Only this source");
  sync->add_option("--tenant", sync_opts.tenant, "Only this tenant's records (objects with a tenant_field)");
  sync->add_flag("--full", sync_opts.full, "Read everything, not only what changed since the last sync");
  sync->add_flag("--once", once, "Sync once and exit (the only mode; `serve` syncs continuously)")->required();

  auto* init = app.add_subcommand("init", "Print a [[sources]] block read from a Knack app's or Airtable base's schema");
  freshet::app::init_options init_opts;
  init->add_option("kind", init_opts.kind, "knack (needs KNACK_APP_ID) or airtable (AIRTABLE_BASE_ID, AIRTABLE_TOKEN)")
      ->required()->check(CLI::IsMember({"knack", "airtable"}));
  init->add_option("--base-url", init_opts.base_url, "The API's address (default: https://api.knack.com or https://api.airtable.com)");
  init->add_option("--name", init_opts.name, "The source's name (default: from the application's name, or airtable)");
  init->add_option("--ca-file", init_opts.ca_file, "PEM certificate authorities to trust instead of the system's");

  auto* simulate = app.add_subcommand("simulate", "Serve a simulated upstream API (knack or airtable) or Slack receiver (slack)");
  freshet::app::simulate_options sim;
  simulate->add_option("kind", sim.kind, "knack, airtable or slack")->required();
  simulate->add_option("--listen", sim.listen, "host:port (port 0: any free port)")->capture_default_str();
  std::string dataset;
  simulate->add_option("--dataset", dataset, "Data set: hti or schools (knack), services (airtable)");
  simulate->add_option("--seed", sim.knack.seed, "Seed for the data set and the change sequence")->capture_default_str();
  simulate->add_option("--app-id", sim.knack.app_id, "knack: application id it accepts (default: the data set's)");
  simulate->add_option("--api-key", sim.knack.api_key, "knack: API key it accepts")->capture_default_str();
  simulate->add_option("--base-id", sim.airtable.base_id, "airtable: base id it serves (default: the data set's)");
  simulate->add_option("--token", sim.airtable.token, "airtable: personal access token it accepts")->capture_default_str();
  double rps = -1;
  simulate->add_option("--requests-per-second", rps, "Rate limit it enforces (0: none; default: knack 10, airtable 5)");
  simulate->add_option("--penalty-seconds", sim.airtable.penalty_seconds, "airtable: refusal after a breach")
      ->capture_default_str();
  simulate->add_flag("--retry-after", sim.airtable.retry_after, "airtable: add Retry-After to 429s");
  simulate->add_option("--daily-limit", sim.knack.daily_limit, "Requests per day before 429 (0: not enforced)");
  std::string latency = "0:0";
  simulate->add_option("--latency-ms", latency, "Added latency MIN:MAX in milliseconds")->capture_default_str();
  simulate->add_option("--fail-rate", sim.knack.faults.fail_rate, "Share of requests answered 500/502/503")
      ->check(CLI::Range(0.0, 1.0));
  simulate->add_option("--timeout-rate", sim.knack.faults.timeout_rate, "Share of requests never answered")
      ->check(CLI::Range(0.0, 1.0));
  simulate->add_option("--truncate-rate", sim.knack.faults.truncate_rate, "Share answered with a cut-off body")
      ->check(CLI::Range(0.0, 1.0));
  simulate->add_option("--drop-rate", sim.knack.faults.drop_rate, "Share of connections closed with no answer")
      ->check(CLI::Range(0.0, 1.0));
  simulate->add_flag("--extra-keys", sim.knack.faults.extra_keys, "Add an unknown key to every JSON answer");
  simulate->add_option("--changes-per-second", sim.changes_per_second, "Change trickle rate (0: none)");
  simulate->add_option("--webhook-url", sim.webhook_url, "Send each change as a signed webhook here (http://)");
  simulate->add_option("--webhook-secret", sim.webhook_secret, "Standard Webhooks secret: whsec_<base64>");
  simulate->add_flag("--print-config", sim.print_config, "Print the [[sources]] block for Freshet and exit");

  app.add_subcommand("version", "Print the version");
  auto* help = app.add_subcommand("help", "Print this help (and `freshet SUBCOMMAND --help` for one subcommand's)");

  CLI11_PARSE(app, argc, argv);
  // A file size limit (ulimit -f) must give the store a write error it can
  // refuse and recover from (errc::store_full), not kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  if (!freshet::app::setup_logging(log_level)) {
    std::cerr << "freshet: unknown --log-level '" << log_level << "'\n";
    return 2;
  }
  try {
    if (*help) {
      std::cout << app.get_formatter()->make_help(&app, "freshet", CLI::AppFormatMode::Normal);
      return 0;
    }
    if (app.got_subcommand("version")) {
      std::cout << "freshet " << FRESHET_VERSION << "\n";
      return 0;
    }
    if (*check) {
      auto loaded = freshet::app::load_config(config_path);
      if (auto* err = std::get_if<freshet::app::config_error>(&loaded)) {
        std::cerr << "freshet: " << err->message << "\n";
        return 2;
      }
      std::cout << "freshet: " << config_path << " is valid\n";
      return 0;
    }
    if (*serve) return run_serve(config_path);
    if (*sync) {
      auto loaded = freshet::app::load_config(config_path);
      if (auto* err = std::get_if<freshet::app::config_error>(&loaded)) {
        std::cerr << "freshet: " << err->message << "\n";
        return 2;
      }
      return freshet::app::run_sync_once(std::get<freshet::app::config>(loaded), sync_opts);
    }
    if (*simulate) {
      const auto colon = latency.find(':');
      sim.knack.faults.latency_min_ms = std::stoi(latency.substr(0, colon));
      sim.knack.faults.latency_max_ms = colon == std::string::npos ? sim.knack.faults.latency_min_ms : std::stoi(latency.substr(colon + 1));
      if (sim.knack.faults.latency_max_ms < sim.knack.faults.latency_min_ms) {
        std::cerr << "freshet: --latency-ms wants MIN:MAX with MIN <= MAX\n";
        return 2;
      }
      sim.airtable.faults = sim.knack.faults;
      sim.airtable.seed = sim.knack.seed;
      if (!dataset.empty()) sim.knack.dataset = sim.airtable.dataset = dataset;
      if (rps >= 0) sim.knack.requests_per_second = sim.airtable.requests_per_second = rps;
      return freshet::app::run_simulate(sim);
    }
    if (*demo) return freshet::app::run_demo(demo_opts);
    if (*init) return freshet::app::run_init(init_opts);
  } catch (const std::exception& e) {
    // Start-up failures (cannot bind, cannot open the store) end here.
    spdlog::critical("msg=\"cannot start\" error=\"{}\"", e.what());
    return 1;
  }
  return 0;
}
