#include "sources/source_sync.hpp"

#include "core/clock.hpp"
#include "sources/airtable_connector.hpp"
#include "sources/airtable_webhook_client.hpp"
#include "sources/commit_pipeline.hpp"
#include "sources/knack_connector.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>

namespace freshet::sources {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::as_tuple;
using asio::use_awaitable;

struct source_sync::loop_state {
  explicit loop_state(asio::any_io_executor ex) : wake(ex) {}
  asio::steady_timer wake;
  bool hinted = false;  // a webhook asked for a fetch
};

namespace {
// Pages of a full read committing while the next are fetched: 4 pages of
// 1,000 records is a few MiB held at most.
constexpr std::size_t kPagesInFlight = 4;

retry_policy policy_for(const app::source_config& cfg) {
  retry_policy p;
  // Airtable refuses for 30 s after a breach and does not say so (2.5).
  if (cfg.kind == "airtable") p.rate_limited_wait = std::chrono::seconds(30);
  return p;
}
}  // namespace

source_sync::source_sync(const app::source_config& cfg, store::event_store& log, asio::any_io_executor ex)
    : cfg_(cfg), log_(log), ex_(ex), limiter_(cfg.requests_per_second, cfg.rate_margin_percent / 100) {
  for (const auto& o : cfg_.objects) stats_[o.name] = std::make_unique<object_counters>();
  if (cfg_.kind == "webhook") return;  // nothing to poll: records arrive by webhook only
  // The credential's limit holds for the whole deployment, whichever
  // instance calls (the leader's polls, a refresh on any instance).
  limiter_.share_pace(log_, "upstream:" + cfg_.name);
  client_ = std::make_unique<http::upstream_client>(cfg_.base_url, std::chrono::seconds(cfg_.timeout_seconds), 16,
                                                    cfg_.ca_file);
  caller_ = std::make_unique<upstream_caller>(*client_, limiter_, policy_for(cfg_), upstream_counters_);
  if (cfg_.kind == "knack")
    caller_->credentials_hint("the Knack application id in " + cfg_.app_id_env + " and the REST API key in " +
                              cfg_.api_key_env + " (Settings > API & Code in the Knack builder)");
  else if (cfg_.kind == "airtable")
    caller_->credentials_hint("the Airtable token in " + cfg_.token_env +
                              ": it needs the scopes data.records:read, schema.bases:read (and webhook:manage for "
                              "webhooks) and access to the base in " + cfg_.base_id_env);
  // Loaded as secrets, so kept out of the logs like them (they appear in
  // Airtable's paths).
  caller_->redact({cfg_.app_id, cfg_.base_id});
  if (cfg_.kind == "knack") connector_ = std::make_unique<knack_connector>(cfg_, *caller_);
  else connector_ = std::make_unique<airtable_connector>(cfg_, *caller_);
  if (cfg_.kind == "airtable" && !cfg_.webhook_url.empty())
    hooks_ = std::make_unique<airtable_webhook_client>(*this, *caller_, log_);
}

source_sync::~source_sync() = default;

std::string source_sync::state_key(std::string_view what, const std::string& object) const {
  return std::string(what) + ":" + object;
}

std::string source_sync::watermark(const std::string& object) const {
  auto it = watermarks_.find(object);
  return it == watermarks_.end() ? std::string() : it->second;
}

const app::object_config* source_sync::find_object(std::string_view name_or_key) const {
  for (const auto& o : cfg_.objects)
    if (o.name == name_or_key || o.key == name_or_key) return &o;
  return nullptr;
}

void source_sync::load_shared_state() {
  auto state = log_.load_sync_state(cfg_.name);
  for (const auto& o : cfg_.objects) {
    if (auto it = state.find(state_key("watermark", o.name)); it != state.end()) watermarks_[o.name] = it->second;
    if (auto it = state.find(state_key("reconciled", o.name)); it != state.end()) {
      std::int64_t ms = 0;
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), ms);
      last_reconcile_[o.name] = ms;
    }
  }
  if (hooks_) hooks_->load(state);
}

asio::awaitable<void> source_sync::prepare() {
  load_shared_state();
  if (connector_) co_await connector_->prepare();
  prepared_ = true;
}

asio::awaitable<void> source_sync::ensure_prepared() {
  if (prepared_ || !connector_) co_return;
  co_await connector_->prepare();
  prepared_ = true;
}

void source_sync::hand_to_leader(json::object what) {
  ++handoffs_sent_;
  signal_instances(what);
}

void source_sync::signal_instances(const json::object& what) {
  log_.send_signal("sync:" + cfg_.name, json::serialize(what));
}

void source_sync::on_signal(const std::string& body) {
  boost::system::error_code ec;
  auto parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return;
  asio::post(ex_, [this, what = std::move(parsed.get_object())] {
    const auto* d = what.if_contains("do");
    const std::string op = d && d->is_string() ? std::string(d->get_string()) : std::string();
    if (op == "registered") {
      // The leader made a new Airtable webhook: its secret verifies the
      // pings that reach this instance from now on.
      if (!leading() && hooks_) {
        try {
          hooks_->load(log_.load_sync_state(cfg_.name));
        } catch (const std::exception& e) {
          spdlog::warn("msg=\"cannot read the new webhook registration\" source={} error=\"{}\"", cfg_.name, e.what());
        }
      }
      return;
    }
    if (!leading()) return;  // for the leader (this one, if it sent it as a follower and leads now)
    ++handoffs_taken_;
    const auto* o = what.if_contains("object");
    const std::string object = o && o->is_string() ? std::string(o->get_string()) : std::string();
    if (op == "hint") {
      hint(object);
    } else if (op == "check") {
      std::vector<std::string> ids;
      if (const auto* a = what.if_contains("ids"); a && a->is_array())
        for (const auto& v : a->get_array())
          if (v.is_string()) ids.emplace_back(v.get_string());
      check_records(object, std::move(ids));
    } else if (op == "ping" && hooks_) {
      hooks_->on_ping();
    }
  });
}

store::fence source_sync::lease_fence() const {
  const std::uint64_t token = lease_token_;
  if (!token)
    throw std::runtime_error("source '" + cfg_.name + "' is led by another instance (it holds the source's lease)");
  return {cfg_.name, token};
}

asio::awaitable<store::change_result> source_sync::commit(store::change_set cs, bool fenced) {
  if (fenced) cs.fence = lease_fence();
  auto [ec, r] = co_await log_.async_apply(std::move(cs), as_tuple(use_awaitable));
  if (ec) throw std::runtime_error("the store refused the commit: " + ec.message());
  co_return r;
}

asio::awaitable<object_sync_result> source_sync::sync_object(const app::object_config& obj, bool full,
                                                             const std::string& tenant, const progress_fn& progress) {
  if (!connector_) throw std::runtime_error("source '" + cfg_.name + "' is fed by webhooks only");
  // A tenant's refresh runs on whichever instance was asked, leader or not:
  // it writes no watermark, so it needs no lease (the store diffs its pages
  // against whatever the leader committed). A follower reads what the
  // connector needs first (Knack: the field types).
  const bool fenced = tenant.empty();
  co_await ensure_prepared();
  object_sync_result res;
  res.object = obj.name;
  auto& counters = *stats_.at(obj.name);
  const std::string since = watermark(obj.name);
  fetch_request req;
  req.what = (full || since.empty() || !tenant.empty()) ? fetch_request::mode::full : fetch_request::mode::incremental;
  req.since = since;
  req.tenant = tenant;
  res.full = req.what == fetch_request::mode::full;
  const std::int64_t started_ms = core::wall_ms();

  // A full read commits page by page (progress, bounded memory), without
  // waiting for each commit before fetching on; an incremental one keeps its
  // few pages and commits them with the watermark.
  std::vector<store::record_upsert> held;
  commit_pipeline pages(log_, ex_, kPagesInFlight, fenced ? std::optional<store::fence>(lease_fence()) : std::nullopt);
  page_sink sink = [&](std::vector<store::record_upsert> recs, const fetch_progress& p) -> asio::awaitable<void> {
    res.fetched += recs.size();
    if (progress) progress(obj.name, "fetching", p);
    if (!res.full) {
      for (auto& r : recs) held.push_back(std::move(r));
      co_return;
    }
    store::change_set cs;
    cs.objects.push_back({cfg_.name, obj.name, obj.watch_fields, std::move(recs), {}, std::nullopt, {}});
    co_await pages.submit(std::move(cs));
    if (progress) progress(obj.name, "applying", p);
  };

  // On failure, pages already submitted still commit (each is whole).
  fetch_outcome out = co_await connector_->fetch(obj, req, sink);
  co_await pages.drain();

  store::change_set last;
  store::object_changes oc{cfg_.name, obj.name, obj.watch_fields, std::move(held), {}, std::nullopt, {}};
  if (res.full && out.complete) {
    oc.keep_only = std::move(out.seen_ids);
    oc.keep_only_tenant = tenant;
    res.reconciled = true;
  } else if (res.full) {
    spdlog::warn("msg=\"listing changed while it was read; deletions wait for the next full read\" source={} object={}",
                 cfg_.name, obj.name);
  }
  last.objects.push_back(std::move(oc));
  // A tenant's refresh says nothing about the watermark of the whole object.
  if (tenant.empty() && out.watermark != since && !out.watermark.empty())
    last.state.push_back({cfg_.name, state_key("watermark", obj.name), out.watermark});
  if (res.reconciled && tenant.empty())
    last.state.push_back({cfg_.name, state_key("reconciled", obj.name), std::to_string(started_ms)});
  last.synced.push_back({cfg_.name, obj.name, tenant, started_ms});
  const auto final_result = co_await commit(std::move(last), fenced);
  const auto& paged = pages.totals();
  res.created = paged.created + final_result.created;
  res.updated = paged.updated + final_result.updated;
  res.deleted = paged.deleted + final_result.deleted;
  res.unchanged = paged.unchanged + final_result.unchanged;
  if (tenant.empty() && !out.watermark.empty()) watermarks_[obj.name] = out.watermark;
  if (res.reconciled && tenant.empty()) last_reconcile_[obj.name] = started_ms;

  counters.created += res.created;
  counters.updated += res.updated;
  counters.deleted += res.deleted;
  if (res.full) ++counters.full_reads;
  counters.last_success_ms = core::wall_ms();
  co_return res;
}

asio::awaitable<object_sync_result> source_sync::apply_ids(const app::object_config& obj, std::vector<std::string> ids,
                                                           std::vector<std::string> destroyed,
                                                           std::vector<store::change_set::state_write> also) {
  object_sync_result res;
  res.object = obj.name;
  std::vector<store::record_upsert> got;
  if (!ids.empty()) {
    fetch_request req;
    req.what = fetch_request::mode::ids;
    req.ids = std::move(ids);
    const page_sink keep = [&](std::vector<store::record_upsert> recs, const fetch_progress&) -> asio::awaitable<void> {
      for (auto& r : recs) got.push_back(std::move(r));
      co_return;
    };
    auto out = co_await connector_->fetch(obj, req, keep);
    // The upstream answered that these do not exist (Knack: 404 by id).
    for (auto& id : out.missing_ids) destroyed.push_back(std::move(id));
  }
  res.fetched = got.size();
  store::change_set cs;
  cs.objects.push_back({cfg_.name, obj.name, obj.watch_fields, std::move(got), std::move(destroyed), std::nullopt, {}});
  cs.state = std::move(also);
  auto r = co_await commit(std::move(cs));
  res.created = r.created;
  res.updated = r.updated;
  res.deleted = r.deleted;
  res.unchanged = r.unchanged;
  auto& counters = *stats_.at(obj.name);
  counters.created += r.created;
  counters.updated += r.updated;
  counters.deleted += r.deleted;
  co_return res;
}

void source_sync::check_records(const std::string& object, std::vector<std::string> ids) {
  const app::object_config* obj = find_object(object);
  if (!obj || ids.empty()) return;
  if (!leading()) {
    json::array list;
    for (auto& id : ids) list.emplace_back(id);
    hand_to_leader({{"do", "check"}, {"object", object}, {"ids", std::move(list)}});
    return;
  }
  asio::co_spawn(
      ex_,
      [this, obj, ids = std::move(ids)]() mutable -> asio::awaitable<void> {
        if (stopping_) co_return;
        try {
          auto r = co_await apply_ids(*obj, std::move(ids), {}, {});
          spdlog::debug("msg=\"records checked by id\" object={} fetched={} deleted={}", obj->name, r.fetched, r.deleted);
        } catch (const std::exception& e) {
          // The next reconcile finds it; nothing is lost by waiting.
          spdlog::warn("msg=\"records not checked by id\" object={} error=\"{}\"", obj->name, e.what());
        }
      },
      asio::detached);
}

void source_sync::hint(const std::string& object) {
  if (!leading()) {
    note_webhook();
    hand_to_leader({{"do", "hint"}, {"object", object}});
    return;
  }
  asio::post(ex_, [this, object] {
    for (auto& [name, loop] : loops_) {
      const auto* o = find_object(name);
      if (!object.empty() && find_object(object) && o != find_object(object)) continue;
      stats_.at(name)->last_webhook_ms = core::wall_ms();
      loop->hinted = true;
      loop->wake.cancel();
    }
  });
}

void source_sync::note_webhook() {
  for (auto& [name, c] : stats_) c->last_webhook_ms = core::wall_ms();
}

asio::awaitable<void> source_sync::poll_loop(const app::object_config* obj) {
  auto& loop = *loops_.at(obj->name);
  auto& counters = *stats_.at(obj->name);
  const std::int64_t min_ms = obj->poll_min_seconds * 1000LL, max_ms = obj->poll_max_seconds * 1000LL;
  std::int64_t interval = min_ms;
  while (!stopping_) {
    loop.hinted = false;
    if (!leading()) {
      // Another instance leads this source: it polls; this one waits to be
      // needed (the lease loop sets the token when it takes over).
      counters.interval_ms = 1000;
      loop.wake.expires_after(std::chrono::seconds(1));
      co_await loop.wake.async_wait(as_tuple(use_awaitable));
      continue;
    }
    const auto last = last_reconcile_.count(obj->name) ? last_reconcile_[obj->name] : 0;
    const bool full = watermark(obj->name).empty() || core::wall_ms() - last >= obj->reconcile_seconds * 1000LL;
    ++counters.polls;
    try {
      auto r = co_await sync_object(*obj, full);
      const bool changed = r.created + r.updated + r.deleted > 0;
      interval = changed ? min_ms : std::min(max_ms, interval + interval / 2);
      if (r.created + r.updated + r.deleted)
        spdlog::info("msg=synced source={} object={} mode={} fetched={} created={} updated={} deleted={}", cfg_.name,
                     obj->name, r.full ? "full" : "incremental", r.fetched, r.created, r.updated, r.deleted);
    } catch (const std::exception& e) {
      ++counters.errors;
      interval = std::min(max_ms, interval * 2);
      spdlog::warn("msg=\"sync failed; will retry\" source={} object={} error=\"{}\" retry_in_ms={}", cfg_.name,
                   obj->name, e.what(), interval);
    }
    // Pings are arriving: polling is only the safety net.
    const bool webhooks_live = core::wall_ms() - counters.last_webhook_ms.load() < max_ms;
    const std::int64_t wait = webhooks_live ? max_ms : interval;
    counters.interval_ms = wait;
    if (loop.hinted || stopping_) continue;  // a hint arrived during the fetch: one more, now
    loop.wake.expires_after(std::chrono::milliseconds(wait));
    co_await loop.wake.async_wait(as_tuple(use_awaitable));
  }
}

void source_sync::start() {
  if (!connector_) return;
  for (const auto& o : cfg_.objects) {
    loops_[o.name] = std::make_unique<loop_state>(ex_);
    asio::co_spawn(ex_, poll_loop(&o), asio::detached);
  }
  if (hooks_) hooks_->start();
}

void source_sync::stop() {
  asio::post(ex_, [this] {
    stopping_ = true;
    for (auto& [name, loop] : loops_) loop->wake.cancel();
    if (hooks_) hooks_->stop();
  });
}

}  // namespace freshet::sources
