// Resuming one tenant's stream: the log read a resume costs. 100,000 events
// spread over 1,000 tenants; a subscriber of one tenant resumes from the
// start of the log (BM_ReplayOneTenant) or from the middle, and the cost
// should follow its tenant's events, not everybody's. BM_ReplayAll reads the
// same range unfiltered, for scale. Google Benchmark; the log is built once.
#include "store/sqlite_store.hpp"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <future>

namespace {

using namespace freshet;

constexpr int kEvents = 100'000, kTenants = 1000;

store::sqlite_store& shared_log() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("freshet-replay-bench-" + std::to_string(::getpid()) + ".db");
  static store::sqlite_store* log = [] {
    std::filesystem::remove(path);
    auto* l = new store::sqlite_store({.path = path.string(), .max_batch = 4096});
    std::vector<std::future<void>> acks;
    for (int i = 0; i < kEvents; ++i) {
      core::event_draft d;
      d.type = core::event_type::change;
      d.source = "s";
      d.object = "laptops";
      d.tenant = "t" + std::to_string(i % kTenants);
      d.body["op"] = "updated";
      d.body["record_id"] = std::to_string(i);
      auto p = std::make_shared<std::promise<void>>();
      acks.push_back(p->get_future());
      l->enqueue(std::move(d), [p](boost::system::error_code, core::event_ptr) { p->set_value(); });
    }
    for (auto& a : acks) a.get();
    return l;
  }();
  return *log;
}

void BM_ReplayOneTenant(benchmark::State& state) {
  auto& log = shared_log();
  const core::topic_filter one{{}, {"t17"}};
  const std::uint64_t after = static_cast<std::uint64_t>(state.range(0));
  std::size_t got = 0;
  for (auto _ : state) {
    auto events = log.read_range(after, log.last_id(), one, 512);
    got = events.size();
    benchmark::DoNotOptimize(events);
  }
  state.counters["events"] = static_cast<double>(got);
}
BENCHMARK(BM_ReplayOneTenant)->Arg(0)->Arg(kEvents / 2)->Unit(benchmark::kMicrosecond);

void BM_ReplayAll(benchmark::State& state) {
  auto& log = shared_log();
  for (auto _ : state) {
    auto events = log.read_range(0, 100, core::topic_filter{}, 512);
    benchmark::DoNotOptimize(events);
  }
}
BENCHMARK(BM_ReplayAll)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
