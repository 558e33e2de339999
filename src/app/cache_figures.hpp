// What a user of a cache-first API asks of it: how many reads the store
// answered, how many of those were 304s from an ETag, and how few upstream
// requests stood behind them. For /api/stats ("cache") and /metrics.
//
// A read never goes upstream in Freshet: the record and page routes answer
// from the store, whatever its age. What goes upstream for a client is a
// refresh it asks for (POST /api/refresh that starts a job), so a "load that
// needed an upstream request" is counted as one refresh job started; the
// other upstream requests are the sources' own polls, shared by everybody.
//
// Thread-safety: the counters are atomics; any thread may count or read.
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <cstdint>
#include <string>

namespace freshet::app {

class cache_figures {
 public:
  void served() { served_.fetch_add(1, std::memory_order_relaxed); }
  void not_modified() { not_modified_.fetch_add(1, std::memory_order_relaxed); }
  void refresh_started() { refreshes_.fetch_add(1, std::memory_order_relaxed); }

  // `upstream_requests`: every request the sources sent upstream (polls,
  // refreshes, retries), which the reads counted here are measured against.
  boost::json::object stats(std::uint64_t upstream_requests) const;
  void write_prometheus(std::string& out) const;

 private:
  std::atomic<std::uint64_t> served_{0};        // 200s of the record and page routes
  std::atomic<std::uint64_t> not_modified_{0};  // their 304s (If-None-Match)
  std::atomic<std::uint64_t> refreshes_{0};     // refresh jobs started for a client
};

}  // namespace freshet::app
