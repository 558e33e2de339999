// The store writer's transaction for one sync page: 1,000 new records
// applied by change_applier between BEGIN IMMEDIATE and COMMIT, each with its
// `created` event encoded and inserted, as the writer does. range(0) = 0:
// the writer also serializes each record's canonical JSON and hashes it (as
// before 2026-12-02); 1: that was done before the transaction, on the
// caller's thread (store::prepare_upserts, what enqueue_changes does now),
// and is not timed. The time is the transaction's: how long every other
// commit waits behind one page. Google Benchmark; one SQLite file.
#include "core/event.hpp"
#include "store/change_applier.hpp"
#include "store/sqlite_store.hpp"
#include "store/sqlite_db.hpp"

#include <benchmark/benchmark.h>

#include <filesystem>

namespace {

using namespace freshet;

constexpr int kPage = 1000;

store::change_set page(int first) {
  store::change_set cs;
  auto& oc = cs.objects.emplace_back();
  oc.source = "knack";
  oc.object = "students";
  for (int i = first; i < first + kPage; ++i) {
    store::record_upsert up;
    up.id = "r" + std::to_string(i);
    up.tenant = "school-" + std::to_string(i % 97);
    up.fields = {{"name", "Student " + std::to_string(i)}, {"year", "Year " + std::to_string(7 + i % 7)},
                 {"school_code", up.tenant}, {"email", "s" + std::to_string(i) + "@example.org"},
                 {"score", i % 100}, {"active", i % 3 != 0}, {"modified", "2026-12-02T10:15:03.120Z"}};
    oc.upserts.push_back(std::move(up));
  }
  return cs;
}

void BM_WriterTransactionPerPage(benchmark::State& state) {
  const bool prepared = state.range(0) != 0;
  const auto path = std::filesystem::temp_directory_path() /
                    ("freshet-store-write-bench-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  { store::sqlite_store schema({.path = path.string()}); }  // creates the schema, then lets go of the file
  store::connection db(path.string(), false);
  store::change_applier applier(db);
  store::statement insert(db.get(), "INSERT INTO events(id,type,source,object,tenant,at,at_ms,data) VALUES(?,?,?,?,?,?,?,?)");
  std::uint64_t next = 1;
  const std::string at = "2026-12-02T10:15:03.120Z";
  auto emit = [&](core::event_draft d) {
    const std::uint64_t id = next++;
    std::string json = core::encode_event_json(id, d, at);
    insert.bind(1, static_cast<std::int64_t>(id)).bind(2, core::to_string(d.type)).bind(3, d.source);
    insert.bind(4, d.object).bind(5, d.tenant).bind(6, at).bind(7, std::int64_t{0}).bind(8, json);
    insert.step();
    insert.reset();
    auto ev = core::make_event(id, d.type, std::move(d.object), std::move(d.tenant), std::move(json));
    benchmark::DoNotOptimize(ev);
    return id;
  };
  int first = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto cs = page(first);
    first += kPage;
    if (prepared) store::prepare_upserts(cs);
    state.ResumeTiming();
    db.exec("BEGIN IMMEDIATE");
    auto r = applier.apply(cs, emit, 0, at);
    db.exec("COMMIT");
    benchmark::DoNotOptimize(r);
  }
  state.counters["us_per_record"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kPage / 1e6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  std::filesystem::remove(path);
}
BENCHMARK(BM_WriterTransactionPerPage)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
