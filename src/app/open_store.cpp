#include "app/open_store.hpp"

#include "core/clock.hpp"
#include "rules/redis_outbox.hpp"
#include "rules/sqlite_outbox.hpp"
#include "store/redis_store.hpp"
#include "store/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace freshet::app {

namespace {
std::string sqlite_path(const config& cfg) { return (std::filesystem::path(cfg.server.data_dir) / "freshet.db").string(); }
}  // namespace

std::unique_ptr<store::event_store> open_store(const config& cfg) {
  const auto& sc = cfg.server;
  if (cfg.store.engine == store_engine::redis) {
    store::redis_store_options o;
    o.at = *redis::parse_url(cfg.store.redis_url, nullptr);  // load_config checked it
    o.key_prefix = cfg.store.key_prefix;
    o.retain_events = sc.retain_events;
    o.retain_age = std::chrono::hours(sc.retain_hours);
    o.max_batch = static_cast<std::size_t>(sc.max_batch_events);
    o.accept_weaker_durability = cfg.store.accept_weaker_durability;
    const std::string where = o.at.host + ":" + o.at.port + "/" + std::to_string(o.at.db);
    auto s = std::make_unique<store::redis_store>(std::move(o));
    spdlog::info("msg=\"store: Redis\" at=\"{}\" key_prefix=\"{}\" durability=\"{}\"", where,
                 cfg.store.key_prefix, s->durability());
    return s;
  }
  return std::make_unique<store::sqlite_store>(store::sqlite_store_options{
      .path = sqlite_path(cfg),
      .retain_events = sc.retain_events,
      .retain_age = std::chrono::hours(sc.retain_hours),  // as seconds
      .max_batch = static_cast<std::size_t>(sc.max_batch_events),
      .wall_ms = {}});
}

std::unique_ptr<rules::outbox> open_outbox(const config& cfg, store::event_store& log) {
  const auto limit = static_cast<std::size_t>(cfg.notifications.max_outbox);
  if (cfg.store.engine == store_engine::redis)
    return std::make_unique<rules::redis_outbox>(static_cast<store::redis_store&>(log), limit, core::wall_ms);
  return std::make_unique<rules::sqlite_outbox>(sqlite_path(cfg), limit, core::wall_ms);
}

}  // namespace freshet::app
