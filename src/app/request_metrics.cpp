#include "app/request_metrics.hpp"

#include <fmt/format.h>

namespace freshet::app {

void request_metrics::record(std::string_view route, unsigned status, double seconds) {
  std::lock_guard lk(mu_);
  ++requests_[{std::string(route), status}];
  auto& h = latency_[std::string(route)];
  ++h.count;
  h.sum += seconds;
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) {
      ++h.counts[i];
      break;
    }
}

std::uint64_t request_metrics::total() const {
  std::lock_guard lk(mu_);
  std::uint64_t n = 0;
  for (const auto& [k, v] : requests_) n += v;
  return n;
}

void request_metrics::write_prometheus(std::string& out) const {
  std::lock_guard lk(mu_);
  out += "# HELP freshet_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE freshet_http_requests_total counter\n";
  for (const auto& [k, v] : requests_)
    out += fmt::format("freshet_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", k.first, k.second, v);
  out += "# HELP freshet_http_request_duration_seconds Time from request read to response ready.\n";
  out += "# TYPE freshet_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out += fmt::format("freshet_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", route,
                         kBuckets[i], cumulative);
    }
    out += fmt::format("freshet_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", route, h.count);
    out += fmt::format("freshet_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route, h.sum);
    out += fmt::format("freshet_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", route, h.count);
  }
}

}  // namespace freshet::app
