#include "app/sync_command.hpp"
#include "core/json_text.hpp"

#include "sources/source_sync.hpp"
#include "sources/task_group.hpp"
#include "store/data_dir_lock.hpp"
#include "store/sqlite_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

namespace freshet::app {

namespace asio = boost::asio;
namespace json = boost::json;

int run_sync_once(const config& cfg, const sync_options& opts) {
  std::vector<const source_config*> chosen;
  for (const auto& s : cfg.sources)
    if (opts.source.empty() || s.name == opts.source) chosen.push_back(&s);
  if (chosen.empty()) {
    std::cerr << "freshet sync: " << (opts.source.empty() ? "the config has no [[sources]]"
                                                          : "no source named '" + opts.source + "' in the config")
              << "\n";
    return 2;
  }
  std::filesystem::create_directories(cfg.server.data_dir);
  store::data_dir_lock lock(cfg.server.data_dir);
  store::sqlite_store log({.path = (std::filesystem::path(cfg.server.data_dir) / "freshet.db").string(),
                           .retain_events = cfg.server.retain_events,
                           .retain_age = std::chrono::hours(cfg.server.retain_hours),
                           .max_batch = static_cast<std::size_t>(cfg.server.max_batch_events)});
  asio::io_context ioc(1);
  std::vector<std::unique_ptr<sources::source_sync>> syncs;
  json::object summary;
  json::array per_object;
  bool ok = true;
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t created = 0, updated = 0, deleted = 0, requests = 0, retries = 0, rate_limited = 0, fetched = 0;

  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (const auto* src : chosen) {
          if (src->kind == "webhook") continue;  // nothing to read: its records arrive by webhook
          auto& sync = *syncs.emplace_back(std::make_unique<sources::source_sync>(*src, log, ioc.get_executor()));
          // The data dir's lock makes this the only writer: the SQLite store
          // grants the source's lease at once.
          sync.set_lease_token(log.hold_lease(src->name, std::chrono::seconds(60)).value_or(0));
          try {
            co_await sync.prepare();
          } catch (const std::exception& e) {
            ok = false;
            per_object.push_back({{"source", src->name}, {"error", e.what()}});
            continue;
          }
          // Every object at once: they share the source's rate limiter, which
          // keeps the pace, while one object's latency overlaps another's.
          sources::task_group group(ioc.get_executor());
          std::vector<json::object> results(src->objects.size());
          auto one = [&](std::size_t i) -> asio::awaitable<void> {
            const auto& obj = src->objects[i];
            json::object& o = results[i];
            o = {{"source", src->name}, {"object", obj.name}};
            try {
              auto r = co_await sync.sync_object(obj, opts.full, opts.tenant);
              o["mode"] = r.full ? "full" : "incremental";
              o["fetched"] = r.fetched;
              fetched += r.fetched;
              o["created"] = r.created;
              o["updated"] = r.updated;
              o["deleted"] = r.deleted;
              o["unchanged"] = r.unchanged;
              created += r.created;
              updated += r.updated;
              deleted += r.deleted;
            } catch (const std::exception& e) {
              ok = false;
              o["error"] = e.what();
            }
          };
          for (std::size_t i = 0; i < src->objects.size(); ++i)
            if (opts.tenant.empty() || !src->objects[i].tenant_field.empty())  // else nothing of the tenant's there
              group.spawn(one(i));
          co_await group.wait();
          for (auto& o : results)
            if (!o.empty()) per_object.push_back(std::move(o));
          requests += sync.upstream().requests.load();
          retries += sync.upstream().retries.load();
          rate_limited += sync.upstream().rate_limited.load();
        }
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();

  summary["ok"] = ok;
  if (!opts.tenant.empty()) summary["tenant"] = opts.tenant;
  summary["objects"] = std::move(per_object);
  summary["created"] = created;
  summary["updated"] = updated;
  summary["deleted"] = deleted;
  summary["requests"] = requests;
  summary["retries"] = retries;
  summary["rate_limited"] = rate_limited;
  summary["last_event_id"] = std::to_string(log.last_id());
  summary["duration_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << core::to_json(summary) << std::endl;
  if (ok && !opts.tenant.empty() && fetched == 0) {
    // A tenant is a value of some object's tenant_field; the upstream had no
    // record with this one (as a refresh says of a tenant it does not know).
    const bool stored = [&] {
      for (const auto* s : chosen)
        for (const auto& o : s->objects)
          if (!o.tenant_field.empty() && log.tenant_has_records(s->name, o.name, opts.tenant)) return true;
      return false;
    }();
    if (!stored) {
      std::cerr << "freshet sync: unknown tenant '" << opts.tenant
                << "': the upstream has no record with it in a tenant_field (check the spelling; tenants are "
                   "values of the objects' tenant_field)\n";
      return 2;
    }
  }
  return ok ? 0 : 1;
}

}  // namespace freshet::app
