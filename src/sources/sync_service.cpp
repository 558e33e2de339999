#include "sources/sync_service.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

namespace freshet::sources {

namespace asio = boost::asio;

sync_service::sync_service(const std::vector<app::source_config>& sources, store::event_store& log,
                           std::chrono::milliseconds lease_ttl)
    : log_(log), lease_ttl_(lease_ttl) {
  for (const auto& s : sources) sources_[s.name] = std::make_unique<source_sync>(s, log, ioc_.get_executor());
}

sync_service::~sync_service() { stop(); }

source_sync* sync_service::find(const std::string& source) {
  auto it = sources_.find(source);
  return it == sources_.end() ? nullptr : it->second.get();
}

asio::awaitable<void> sync_service::keep_lease(source_sync& s) {
  asio::steady_timer next(ioc_);
  const std::string& name = s.config().name;
  while (!stopping_) {
    // A Redis round trip on this thread: well under a millisecond, at most
    // the store's timeout when Redis is away (then nobody can commit anyway).
    std::optional<std::uint64_t> token;
    bool reachable = true;
    try {
      token = log_.hold_lease(name, lease_ttl_);
    } catch (const std::exception& e) {
      reachable = false;
      spdlog::warn("msg=\"cannot renew a source's lease\" source={} error=\"{}\"", name, e.what());
    }
    const bool was = s.leading();
    if (token && !was && started_.count(name)) {
      // Taking over: the leader before moved the watermarks and cursors on.
      try {
        s.load_shared_state();
      } catch (const std::exception& e) {
        spdlog::warn("msg=\"cannot read the source's sync state on taking it over; retrying\" source={} error=\"{}\"",
                     name, e.what());
        token.reset();  // lead only once the state is read: tried again at the next round
        try {
          log_.release_lease(name);
        } catch (const std::exception&) {
          // It expires by itself.
        }
      }
    }
    s.set_lease_token(token.value_or(0));
    if (token && !was) spdlog::info("msg=\"leading the source\" source={} token={}", name, *token);
    if (!token && was) spdlog::warn("msg=\"another instance leads the source now\" source={} reachable={}", name, reachable);
    next.expires_after(lease_ttl_ / 3);
    co_await next.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> sync_service::bring_up(source_sync& s) {
  asio::steady_timer retry(ioc_);
  // A follower verifies the source's Airtable pings with the registration
  // the leader stored (and hands them to it).
  try {
    s.load_shared_state();
  } catch (const std::exception& e) {
    spdlog::warn("msg=\"cannot read the source's sync state\" source={} error=\"{}\"", s.config().name, e.what());
  }
  // Only the source's leader reads its upstream, even to start.
  while (!stopping_ && !s.leading()) {
    retry.expires_after(std::chrono::milliseconds(200));
    co_await retry.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  while (!stopping_) {
    try {
      co_await s.prepare();
      s.start();
      started_.insert(s.config().name);
      spdlog::info("msg=\"sync started\" source={} kind={} objects={}", s.config().name, s.config().kind,
                   s.config().objects.size());
      co_return;
    } catch (const std::exception& e) {
      spdlog::warn("msg=\"cannot start the sync of a source; retrying in 15 s\" source={} error=\"{}\"",
                   s.config().name, e.what());
    }
    retry.expires_after(std::chrono::seconds(15));
    co_await retry.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void sync_service::on_signal(const std::string& topic, const std::string& body) {
  if (topic.rfind("sync:", 0) != 0) return;
  if (auto* s = find(topic.substr(5))) s->on_signal(body);
}

void sync_service::start() {
  for (auto& [name, s] : sources_) {
    asio::co_spawn(ioc_, keep_lease(*s), asio::detached);
    asio::co_spawn(ioc_, bring_up(*s), asio::detached);
  }
  thread_ = std::thread([this] {
    auto work = asio::make_work_guard(ioc_);
    ioc_.run();
  });
}

void sync_service::stop() {
  if (stopping_.exchange(true)) return;
  for (auto& [name, s] : sources_) {
    s->stop();
    if (s->leading()) {
      s->set_lease_token(0);
      try {
        log_.release_lease(name);  // a clean stop hands the source on at once
      } catch (const std::exception&) {
      }
    }
  }
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace freshet::sources
