#include "app/request_metrics.hpp"

#include <fmt/format.h>

namespace freshet::app {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

void request_metrics::record(std::size_t r, unsigned status, double seconds) {
  if (r >= kRoutes.size()) r = kOtherSlot;
  // Per thread and per instance: a test may hold several request_metrics.
  thread_local const request_metrics* owner = nullptr;
  thread_local std::size_t mine = 0;
  if (owner != this) {
    owner = this;
    mine = next_shard_.fetch_add(1, relaxed) % kShards;
  }
  slot& s = shards_[mine][r];
  s.by_status[(status >= 100 && status < kStatuses ? status : kStatuses - 1) - 100].fetch_add(1, relaxed);
  s.count.fetch_add(1, relaxed);
  s.sum_ns.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), relaxed);
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) {
      s.buckets[i].fetch_add(1, relaxed);
      break;
    }
}

std::uint64_t request_metrics::total() const {
  std::uint64_t n = 0;
  for (const auto& sh : shards_)
    for (const auto& s : sh) n += s.count.load(relaxed);
  return n;
}

void request_metrics::write_prometheus(std::string& out) const {
  out += "# HELP freshet_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE freshet_http_requests_total counter\n";
  auto sum = [&](std::size_t r, auto field) {
    std::uint64_t n = 0;
    for (const auto& sh : shards_) n += field(sh[r]).load(relaxed);
    return n;
  };
  for (std::size_t r = 0; r < kRoutes.size(); ++r)
    for (unsigned st = 100; st < kStatuses; ++st)
      if (const auto v = sum(r, [st](const slot& s) -> const auto& { return s.by_status[st - 100]; }))
        out += fmt::format("freshet_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", kRoutes[r], st, v);
  out += "# HELP freshet_http_request_duration_seconds Time from request read to response ready.\n";
  out += "# TYPE freshet_http_request_duration_seconds histogram\n";
  for (std::size_t r = 0; r < kRoutes.size(); ++r) {
    const auto count = sum(r, [](const slot& s) -> const auto& { return s.count; });
    if (count == 0) continue;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += sum(r, [i](const slot& s) -> const auto& { return s.buckets[i]; });
      out += fmt::format("freshet_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", kRoutes[r],
                         kBuckets[i], cumulative);
    }
    out += fmt::format("freshet_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", kRoutes[r],
                       count);
    out += fmt::format("freshet_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", kRoutes[r],
                       static_cast<double>(sum(r, [](const slot& s) -> const auto& { return s.sum_ns; })) / 1e9);
    out += fmt::format("freshet_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", kRoutes[r], count);
  }
}

}  // namespace freshet::app
