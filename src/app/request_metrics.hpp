// Request counts by route and status, and a latency histogram per route, for
// /metrics and /api/stats. Routes are the router's fixed labels, so the label
// set stays small whatever clients send.
//
// Thread-safety: all members may be called from any thread.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace freshet::app {

class request_metrics {
 public:
  static constexpr std::array<double, 13> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1.0,   2.5,  5.0};

  void record(std::string_view route, unsigned status, double seconds);

  // Prometheus text: freshet_http_requests_total and
  // freshet_http_request_duration_seconds.
  void write_prometheus(std::string& out) const;
  std::uint64_t total() const;

 private:
  struct histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};  // per bucket, not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;  // guards both maps
  std::map<std::pair<std::string, unsigned>, std::uint64_t> requests_;
  std::map<std::string, histogram> latency_;
};

}  // namespace freshet::app
