#include "app/cache_figures.hpp"

#include <fmt/format.h>

namespace freshet::app {

boost::json::object cache_figures::stats(std::uint64_t upstream_requests) const {
  const auto served = served_.load(std::memory_order_relaxed), not_modified = not_modified_.load(std::memory_order_relaxed);
  const auto refreshes = refreshes_.load(std::memory_order_relaxed);
  const auto reads = served + not_modified;
  boost::json::object out{{"reads", reads},
                          {"served_from_store", served},
                          {"not_modified", not_modified},
                          {"refreshes_started", refreshes},
                          {"upstream_requests", upstream_requests}};
  // Ratios are null until there is something to divide by, not 0 or 1.
  out["no_upstream_share"] =
      reads + refreshes ? boost::json::value(static_cast<double>(reads) / static_cast<double>(reads + refreshes))
                        : boost::json::value(nullptr);
  out["reads_per_upstream_request"] =
      upstream_requests ? boost::json::value(static_cast<double>(reads) / static_cast<double>(upstream_requests))
                        : boost::json::value(nullptr);
  return out;
}

void cache_figures::write_prometheus(std::string& out) const {
  out += "# HELP freshet_store_reads_total Record and page reads answered from the store, by answer.\n";
  out += "# TYPE freshet_store_reads_total counter\n";
  out += fmt::format("freshet_store_reads_total{{answer=\"served\"}} {}\n", served_.load(std::memory_order_relaxed));
  out += fmt::format("freshet_store_reads_total{{answer=\"not_modified\"}} {}\n", not_modified_.load(std::memory_order_relaxed));
  out += "# HELP freshet_refreshes_started_total Tenant refresh jobs started for a client (each reads upstream).\n";
  out += "# TYPE freshet_refreshes_started_total counter\n";
  out += fmt::format("freshet_refreshes_started_total {}\n", refreshes_.load(std::memory_order_relaxed));
}

}  // namespace freshet::app
