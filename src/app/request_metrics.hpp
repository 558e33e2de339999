// Request counts by route and status, and a latency histogram per route, for
// /metrics and /api/stats. Routes are the router's fixed labels (kRoutes), so
// the label set stays small whatever clients send, and every counter is an
// atomic in a fixed slot: recording a request takes no lock and allocates
// nothing on the event loops; reading aggregates the slots.
//
// Thread-safety: all members may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace freshet::app {

class request_metrics {
 public:
  static constexpr std::array<double, 13> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1.0,   2.5,  5.0};
  // Every label a request is counted under: the route table's patterns
  // (routes.cpp; a unit test keeps the two in step), then what matched no
  // route. Anything else counts as "/other".
  static constexpr std::array<std::string_view, 20> kRoutes = {
      "/healthz", "/readyz", "/metrics", "/api/events", "/api/ws", "/api/objects",
      "/api/objects/{object}/records", "/api/objects/{object}/records/{id}", "/api/webhooks/{source}",
      "/api/refresh", "/api/jobs/{id}", "/api/broadcast", "/api/stats", "/api/audit", "/api/notifications",
      "/api/notifications/{id}/retry", "/api/openapi.json", "/api/other", "/static", "/other"};

  // The slot of a label, "/other"'s for one not listed. constexpr, so the
  // route table finds each route's slot at compile time (routes.cpp) and a
  // request is counted without comparing strings.
  static constexpr std::size_t kOtherSlot = kRoutes.size() - 1;
  static constexpr std::size_t slot_of(std::string_view label) {
    for (std::size_t i = 0; i < kRoutes.size(); ++i)
      if (kRoutes[i] == label) return i;
    return kOtherSlot;
  }

  void record(std::size_t slot, unsigned status, double seconds);
  void record(std::string_view route, unsigned status, double seconds) { record(slot_of(route), status, seconds); }

  // Prometheus text: freshet_http_requests_total and
  // freshet_http_request_duration_seconds.
  void write_prometheus(std::string& out) const;
  std::uint64_t total() const;

 private:
  static constexpr unsigned kStatuses = 600;  // 100-599; anything else counts as 599
  // Threads count into shards of their own (a thread takes the next shard
  // the first time it records), so that two workers answering the same route
  // do not fight over one cache line; reads add the shards up.
  static constexpr std::size_t kShards = 4;
  struct alignas(64) slot {
    std::array<std::atomic<std::uint64_t>, kStatuses - 100> by_status{};
    std::array<std::atomic<std::uint64_t>, kBuckets.size()> buckets{};  // per bucket, not cumulative
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_ns{0};
  };
  using shard = std::array<slot, kRoutes.size()>;
  std::array<shard, kShards> shards_{};
  std::atomic<std::size_t> next_shard_{0};
};

}  // namespace freshet::app
