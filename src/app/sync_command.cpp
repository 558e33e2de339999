#include "app/sync_command.hpp"

#include "app/open_store.hpp"
#include "core/json_text.hpp"

#include "sources/source_sync.hpp"
#include "sources/task_group.hpp"
#include "store/data_dir_lock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
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
  // On SQLite the data dir's lock makes this the file's only writer (not
  // beside a running `serve`); on Redis, several processes share the store,
  // and a source's lease says who may sync it.
  std::optional<store::data_dir_lock> lock;
  if (cfg.store.engine == store_engine::sqlite) {
    std::filesystem::create_directories(cfg.server.data_dir);
    lock.emplace(cfg.server.data_dir);
  }
  std::unique_ptr<store::event_store> log_owner = open_store(cfg);
  store::event_store& log = *log_owner;
  const auto lease_ttl = std::chrono::seconds(cfg.store.lease_seconds);
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
          // SQLite grants the source's lease at once (the data dir's lock).
          // On Redis, a running instance may lead the source: then a whole
          // sync is its to do, while one tenant's (like a refresh) needs no
          // lease.
          sync.set_lease_token(log.hold_lease(src->name, lease_ttl).value_or(0));
          if (!sync.leading() && opts.tenant.empty()) {
            ok = false;
            per_object.push_back(
                {{"source", src->name},
                 {"error", "another instance leads this source (it holds the source's lease) and syncs it; sync one "
                           "tenant with --tenant, or POST /api/refresh to a running instance"}});
            continue;
          }
          // Renewed while this sync runs: a long one must not lose it.
          // (A flag as well as the cancel: a wait that just expired cannot be
          // cancelled any more.)
          auto renew = std::make_shared<asio::steady_timer>(ioc);
          auto finished = std::make_shared<bool>(false);
          if (sync.leading())
            asio::co_spawn(
                ioc,
                [&log, &sync, renew, finished, lease_ttl, name = src->name]() -> asio::awaitable<void> {
                  for (;;) {
                    renew->expires_after(lease_ttl / 3);
                    co_await renew->async_wait(asio::as_tuple(asio::use_awaitable));
                    if (*finished) co_return;
                    std::optional<std::uint64_t> token;
                    try {
                      token = log.hold_lease(name, lease_ttl);
                    } catch (const std::exception&) {
                      // Redis away: the commits fail too; the next round retries.
                    }
                    sync.set_lease_token(token.value_or(0));
                  }
                },
                asio::detached);
          const auto done_with_source = [&log, &sync, renew, finished, name = src->name] {
            *finished = true;
            renew->cancel();
            if (!sync.leading()) return;
            try {
              log.release_lease(name);  // a serve instance may take it at once
            } catch (const std::exception&) {
            }
          };
          try {
            co_await sync.prepare();
          } catch (const std::exception& e) {
            ok = false;
            per_object.push_back({{"source", src->name}, {"error", e.what()}});
            done_with_source();
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
          done_with_source();
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
