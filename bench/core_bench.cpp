// Micro-benchmarks of the per-event work on the hot path (Google Benchmark):
// encoding an event once, matching it against a subscription, and the
// per-connection queue turn that every delivery goes through.
#include "app/request_metrics.hpp"
#include "core/event.hpp"
#include "core/topic_filter.hpp"
#include "hub/stream_queue.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

namespace {

using namespace freshet;

core::event_draft change_draft() {
  core::event_draft d;
  d.type = core::event_type::change;
  d.source = "hti";
  d.object = "laptops";
  d.tenant = "hennepin";
  d.body["op"] = "updated";
  d.body["record_id"] = "65f0c1a2b3c4d5e6f7a8b9c0";
  d.body["changed"] = {{"status", {{"old", "Received"}, {"new", "Ready for Donation"}}}};
  d.body["record"] = {{"id", "65f0c1a2b3c4d5e6f7a8b9c0"}, {"status", "Ready for Donation"}, {"county", "hennepin"},
                      {"model", "ThinkPad T480"}};
  return d;
}

void BM_EncodeChangeEvent(benchmark::State& state) {
  const auto d = change_draft();
  std::uint64_t id = 1;
  for (auto _ : state) {
    auto json = core::encode_event_json(id, d, "2026-11-22T10:15:03.120Z");
    auto ev = core::make_event(id++, d.type, d.object, d.tenant, std::move(json));
    benchmark::DoNotOptimize(ev);
  }
}
BENCHMARK(BM_EncodeChangeEvent);

void BM_FilterMatch(benchmark::State& state) {
  core::topic_filter f{{"donations", "laptops", "trainings"}, {"anoka", "hennepin", "ramsey"}};
  for (auto _ : state) benchmark::DoNotOptimize(f.matches(core::event_type::change, "laptops", "hennepin"));
}
BENCHMARK(BM_FilterMatch);

// One delivery's queue work: push a batch of one event, take it, account it.
void BM_QueuePushTake(benchmark::State& state) {
  boost::asio::io_context ioc;
  auto q = std::make_shared<hub::stream_queue>(ioc.get_executor(), hub::transport::sse, core::topic_filter{}, 1 << 20);
  const std::vector<core::event_ptr> batch{core::make_event(1, core::event_type::change, "laptops", "hennepin",
                                                            std::string(300, 'x'))};
  std::vector<core::event_ptr> out;
  for (auto _ : state) {
    q->push(batch);
    q->take(out);
    q->written(q->frame_size(*out.front()));
  }
}
BENCHMARK(BM_QueuePushTake);

// Counting one answered request, as every worker does for every request: on
// one thread, and on two at once (the contention of a shared counter).
void BM_RecordRequest(benchmark::State& state) {
  static app::request_metrics metrics;
  for (auto _ : state) metrics.record("/api/broadcast", 200, 0.0004);
}
BENCHMARK(BM_RecordRequest)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
