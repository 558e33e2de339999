#include "store/sqlite_store.hpp"

#include "store/queries.hpp"
#include "store/schema.hpp"
#include "store/sqlite_db.hpp"
#include "eventually.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <random>
#include <set>
#include <thread>

namespace freshet::store {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("freshet-log-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  sqlite_store_options opts() const { return {.path = (dir_ / "f.db").string()}; }
  // Retention by age on a clock the test moves, a pass after every commit.
  template <class Clock>
  sqlite_store_options aged(Clock& clock, std::chrono::seconds age) const {
    auto o = opts();
    o.retain_age = age;
    o.prune_every = std::chrono::milliseconds(0);
    o.wall_ms = clock.source();
    return o;
  }

  static core::event_ptr append(sqlite_store& log, std::string tenant, std::string text) {
    core::event_draft d;
    d.type = core::event_type::message;
    d.tenant = std::move(tenant);
    d.body["message"] = text;
    std::promise<core::event_ptr> p;
    log.enqueue(std::move(d), [&](boost::system::error_code ec, core::event_ptr ev) {
      EXPECT_FALSE(ec) << ec.message();
      p.set_value(ev);
    });
    return p.get_future().get();
  }

  std::filesystem::path dir_;
};

TEST_F(SqliteStoreTest, IdsAreContiguousAndSurviveReopen) {
  {
    sqlite_store log(opts());
    EXPECT_EQ(log.last_id(), 0u);
    EXPECT_EQ(append(log, "a", "one")->id, 1u);
    EXPECT_EQ(append(log, "b", "two")->id, 2u);
  }
  sqlite_store log(opts());
  EXPECT_EQ(log.first_id(), 1u);
  EXPECT_EQ(log.last_id(), 2u);
  EXPECT_EQ(append(log, "a", "three")->id, 3u);
}

TEST_F(SqliteStoreTest, ListenerSeesEveryCommitInOrderBeforeTheAck) {
  sqlite_store log(opts());
  std::vector<std::uint64_t> seen;
  std::mutex mu;
  log.set_commit_listener([&](const std::vector<core::event_ptr>& batch) {
    std::lock_guard lk(mu);
    for (auto& e : batch) seen.push_back(e->id);
  });
  constexpr int kN = 500;
  std::vector<std::promise<std::uint64_t>> acks(kN);
  for (int i = 0; i < kN; ++i) {
    core::event_draft d;
    d.body["message"] = i;
    log.enqueue(std::move(d), [&, i](boost::system::error_code ec, core::event_ptr ev) {
      std::lock_guard lk(mu);
      // The hub hears of an event before its publisher is acknowledged.
      EXPECT_TRUE(std::find(seen.begin(), seen.end(), ev->id) != seen.end());
      acks[i].set_value(ev->id);
    });
  }
  for (int i = 0; i < kN; ++i) EXPECT_EQ(acks[i].get_future().get(), std::uint64_t(i + 1));
  std::lock_guard lk(mu);
  ASSERT_EQ(seen.size(), std::size_t(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(seen[i], std::uint64_t(i + 1));
  // Concurrent appends share transactions: fewer commits than events.
  EXPECT_LT(log.counters().transactions, std::uint64_t(kN));
}

TEST_F(SqliteStoreTest, ReadRangeFiltersAndLimits) {
  sqlite_store log(opts());
  for (int i = 0; i < 10; ++i) append(log, i % 2 ? "odd" : "even", "m" + std::to_string(i));
  core::topic_filter odd{{}, {"odd"}};
  auto got = log.read_range(0, 10, odd, 100);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0]->id, 2u);
  EXPECT_EQ(got[4]->id, 10u);
  EXPECT_NE(got[0]->sse_frame.find("id: 2\nevent: message\ndata: {"), std::string::npos);
  auto limited = log.read_range(3, 8, core::topic_filter{}, 2);
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0]->id, 4u);
  EXPECT_EQ(limited[1]->id, 5u);
  EXPECT_TRUE(log.read_range(5, 5, core::topic_filter{}, 10).empty());
}

// Replay filters in SQL, live delivery with topic_filter::matches: on a random
// log and random filters, both must pick exactly the same events.
TEST_F(SqliteStoreTest, ReadRangeAgreesWithTheLiveFilter) {
  sqlite_store log(opts());
  std::mt19937 rng(7);
  const std::vector<std::string> objects{"", "laptops", "donations"}, tenants{"", "a", "b", "c"};
  const core::event_type types[] = {core::event_type::change, core::event_type::message, core::event_type::metric};
  struct row {
    std::uint64_t id;
    core::event_type type;
    std::string object, tenant;
  };
  std::vector<row> all;
  for (int i = 0; i < 300; ++i) {
    core::event_draft d;
    d.type = types[rng() % 3];
    d.object = objects[rng() % objects.size()];
    d.tenant = tenants[rng() % tenants.size()];
    d.body["n"] = i;
    std::promise<core::event_ptr> p;
    row r{0, d.type, d.object, d.tenant};
    log.enqueue(std::move(d), [&](boost::system::error_code, core::event_ptr ev) { p.set_value(ev); });
    r.id = p.get_future().get()->id;
    all.push_back(r);
  }
  for (int k = 0; k < 200; ++k) {
    core::topic_filter f;
    for (const auto& o : {"laptops", "donations", "other"})
      if (rng() % 3 == 0) f.objects.push_back(o);
    for (const auto& t : {"a", "b", "c", "z"})
      if (rng() % 3 == 0) f.tenants.push_back(t);
    const std::uint64_t after = rng() % 300, upto = after + rng() % 120;
    std::vector<std::uint64_t> want, got;
    for (const auto& r : all)
      if (r.id > after && r.id <= upto && f.matches(r.type, r.object, r.tenant)) want.push_back(r.id);
    for (const auto& e : log.read_range(after, upto, f, 1000)) got.push_back(e->id);
    ASSERT_EQ(got, want) << "filter " << f.label() << " range (" << after << ", " << upto << "]";
  }
}

TEST_F(SqliteStoreTest, RetentionByCountMovesTheFirstId) {
  auto o = opts();
  o.retain_events = 10;
  o.prune_every = std::chrono::milliseconds(0);
  sqlite_store log(o);
  for (int i = 0; i < 30; ++i) append(log, "", "x");
  append(log, "", "last");  // the pass after this commit sees all 31
  for (int i = 0; i < 100 && log.first_id() < 21; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(log.first_id(), 21u);
  EXPECT_EQ(log.last_id(), 31u);
  EXPECT_GT(log.counters().pruned, 0u);
  EXPECT_TRUE(log.read_range(0, 20, core::topic_filter{}, 100).empty());
}

// A clock the test moves: retention by age with no sleeping.
struct manual_clock {
  std::atomic<std::int64_t> ms{1'800'000'000'000};
  std::function<std::int64_t()> source() {
    return [this] { return ms.load(); };
  }
  void advance(std::chrono::milliseconds d) { ms += d.count(); }
};

using testing_support::eventually;

TEST_F(SqliteStoreTest, RetentionByAgeDropsOldEvents) {
  manual_clock clock;
  const auto o = aged(clock, std::chrono::seconds(60));
  sqlite_store log(o);
  for (int i = 0; i < 5; ++i) append(log, "", "old");
  clock.advance(std::chrono::seconds(61));
  append(log, "", "new");
  ASSERT_TRUE(eventually([&] { return log.first_id() == 6; }));
  auto left = log.read_range(0, 6, core::topic_filter{}, 10);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]->id, 6u);
}

// What retention deletes is the oldest run of expired events, never one from
// the middle: a clock that stepped back stamps an event early, and deleting it
// alone would leave a hole that a resume across it could not see.
TEST_F(SqliteStoreTest, RetentionByAgeTakesOnlyAPrefixOfTheLog) {
  manual_clock clock;
  const auto o = aged(clock, std::chrono::seconds(3600));
  sqlite_store log(o);
  append(log, "", "first");                   // id 1 at T
  clock.advance(-std::chrono::hours(2));
  append(log, "", "stamped early");           // id 2 at T - 2 h
  clock.advance(std::chrono::minutes(150));
  append(log, "", "third");                   // id 3 at T + 30 min: id 2 is expired, id 1 not
  append(log, "", "a pass after this commit");
  EXPECT_EQ(log.first_id(), 1u);
  EXPECT_EQ(log.read_range(0, 4, core::topic_filter{}, 10).size(), 4u);
  clock.advance(std::chrono::minutes(60));    // T + 90 min: ids 1 and 2 expired
  append(log, "", "later");
  ASSERT_TRUE(eventually([&] { return log.first_id() == 3; }));
  const auto left = log.read_range(0, 5, core::topic_filter{}, 10);
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left.front()->id, 3u);
  EXPECT_EQ(log.counters().pruned, 2u);
}

// Schema 5: retention no longer needs the events' time index (each append paid
// for it), and delivery ids age out through an index of their own.
TEST_F(SqliteStoreTest, TheSchemaKeepsOnlyTheIndexesRetentionUses) {
  { sqlite_store log(opts()); }
  connection db(opts().path, false);
  statement names(db.get(), "SELECT name FROM sqlite_master WHERE type='index' AND name NOT LIKE 'sqlite_%'");
  std::set<std::string> indexes;
  while (names.step()) indexes.insert(std::string(names.column_text(0)));
  EXPECT_EQ(indexes.count("events_at"), 0u);
  EXPECT_EQ(indexes.count("events_tenant"), 1u);
  statement plan(db.get(), "EXPLAIN QUERY PLAN DELETE FROM webhook_deliveries WHERE at_ms < 5");
  std::string steps;
  while (plan.step()) steps += std::string(plan.column_text(3)) + "\n";
  EXPECT_NE(steps.find("webhook_deliveries_at"), std::string::npos) << steps;
}

TEST_F(SqliteStoreTest, IdsNeverRestartAfterRetentionEmptiedTheLog) {
  manual_clock clock;
  const auto o = aged(clock, std::chrono::seconds(3600));
  {
    sqlite_store log(o);
    for (int i = 0; i < 3; ++i) append(log, "", "x");
    clock.advance(std::chrono::hours(48));
    // Age retention empties the log: the resume horizon is the next id.
    ASSERT_TRUE(eventually([&] { return log.first_id() == 4; }));
    EXPECT_TRUE(log.read_range(0, 3, core::topic_filter{}, 10).empty());
  }
  sqlite_store log(o);
  // MAX(id) of the empty table is 0; the high-water mark is not.
  EXPECT_EQ(log.last_id(), 3u);
  EXPECT_EQ(log.first_id(), 4u);
  const auto snap = log.read([](connection& db) { return read_snapshot(db, "s", "o", {}, "", 10); });
  EXPECT_EQ(snap.last_event_id, 3u);
  EXPECT_EQ(append(log, "", "after")->id, 4u);
}

TEST_F(SqliteStoreTest, RecordsVersionMovesWithEveryRecordWriteEvenWithoutAnEvent) {
  auto apply = [](sqlite_store& log, change_set cs) {
    std::promise<change_result> p;
    log.enqueue_changes(std::move(cs), [&](boost::system::error_code ec, change_result r) {
      EXPECT_FALSE(ec) << ec.message();
      p.set_value(r);
    });
    return p.get_future().get();
  };
  auto upsert = [](std::string note) {
    change_set cs;
    object_changes oc{"s", "o", {"status"}, {}, {}, std::nullopt, {}};
    oc.upserts.push_back({"r1", "t", boost::json::object{{"status", "a"}, {"note", note}}});
    cs.objects.push_back(std::move(oc));
    return cs;
  };
  std::uint64_t v1 = 0, v2 = 0;
  {
    sqlite_store log(opts());
    EXPECT_EQ(apply(log, upsert("x")).events, 1u);
    v1 = log.records_version();
    // `note` is not watched: no event, but the stored record changed.
    EXPECT_EQ(apply(log, upsert("y")).events, 0u);
    v2 = log.records_version();
    EXPECT_GT(v2, v1);
    apply(log, upsert("y"));  // the same again: nothing written
    EXPECT_EQ(log.records_version(), v2);
  }
  sqlite_store log(opts());
  EXPECT_EQ(log.records_version(), v2);
  const auto snap = log.read([](connection& db) { return read_snapshot(db, "s", "o", {}, "", 10); });
  EXPECT_EQ(snap.records_version, v2);
}

TEST_F(SqliteStoreTest, AuditRowsAgeOutLikeEvents) {
  manual_clock clock;
  const auto o = aged(clock, std::chrono::seconds(3600));
  sqlite_store log(o);
  auto audit = [&](std::string who) {
    change_set cs;
    cs.audit.push_back({"webhook", "s", std::move(who), "rejected", {}});
    std::promise<void> p;
    log.enqueue_changes(std::move(cs), [&](boost::system::error_code, change_result) { p.set_value(); });
    p.get_future().get();
  };
  audit("old");
  clock.advance(std::chrono::hours(2));
  audit("new");
  ASSERT_TRUE(eventually([&] { return log.counters().audit_pruned == 1; }));
  const auto rows = log.read([](connection& db) { return list_audit(db, 0, 10); });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].who, "new");
}

TEST_F(SqliteStoreTest, QueueIsBoundedInBytes) {
  auto o = opts();
  o.max_pending_bytes = 400;
  sqlite_store log(o);
  core::event_draft big;
  big.body["message"] = std::string(1000, 'x');
  std::promise<boost::system::error_code> p;
  log.enqueue(std::move(big), [&](boost::system::error_code ec, core::event_ptr) { p.set_value(ec); });
  EXPECT_EQ(p.get_future().get(), make_error_code(errc::store_overloaded));
  EXPECT_EQ(append(log, "", "small")->id, 1u);  // what fits still goes through
}

TEST_F(SqliteStoreTest, FullQueueIsRefusedWithOverloaded) {
  auto o = opts();
  o.max_pending = 0;
  sqlite_store log(o);
  std::promise<boost::system::error_code> p;
  log.enqueue({}, [&](boost::system::error_code ec, core::event_ptr) { p.set_value(ec); });
  EXPECT_EQ(p.get_future().get(), make_error_code(errc::store_overloaded));
  EXPECT_EQ(log.counters().rejected, 1u);
}

// Schema 6 moved records from a table keyed by (source, object, id) to a rowid
// table with that key in a unique index. A data dir of schema 5 keeps every
// record, its tenant and its event id, in id order, and upserts still find
// their row by the key.
TEST_F(SqliteStoreTest, RecordsOfASchema5DataDirSurviveTheMoveToARowidTable) {
  {
    connection db(opts().path, true);
    migrate(db, 5);
    db.exec("INSERT INTO records VALUES ('s','o','b','t2','h','{\"n\":2}',7), ('s','o','a','t1','h','{\"n\":1}',9), "
            "('s','p','a','t1','h','{\"n\":3}',8)");
  }
  sqlite_store log(opts());
  connection db(opts().path, false);
  statement sql(db.get(), "SELECT sql FROM sqlite_master WHERE name='records'");
  ASSERT_TRUE(sql.step());
  EXPECT_EQ(std::string(sql.column_text(0)).find("WITHOUT ROWID"), std::string::npos);
  const auto page = read_snapshot(db, "s", "o", {}, "", 10);
  ASSERT_EQ(page.records.size(), 2u);
  EXPECT_EQ(page.records[0].id, "a");
  EXPECT_EQ(page.records[0].data, "{\"n\":1}");
  EXPECT_EQ(page.records[1].id, "b");
  EXPECT_EQ(page.records[1].tenant, "t2");
  const auto tenant = read_snapshot(db, "s", "o", {"t2"}, "", 10);
  ASSERT_EQ(tenant.records.size(), 1u);
  EXPECT_EQ(tenant.records[0].id, "b");
  const auto rec = find_record(db, "s", "p", "a");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->updated_event_id, 8u);
  // The key is still unique: a second row for (s, o, a) is refused.
  EXPECT_THROW(db.exec("INSERT INTO records VALUES ('s','o','a','t1','h','{}',10)"), sqlite_error);
  statement plan(db.get(), "EXPLAIN QUERY PLAN SELECT data FROM records WHERE source='s' AND object='o' AND id='a'");
  std::string steps;
  while (plan.step()) steps += std::string(plan.column_text(3)) + "\n";
  EXPECT_NE(steps.find("records_key"), std::string::npos) << steps;
}

int page_size_of(const std::string& path) {
  connection db(path, false);
  statement q(db.get(), "PRAGMA page_size");
  return q.step() ? static_cast<int>(q.column_int(0)) : 0;
}

TEST_F(SqliteStoreTest, ANewDataDirHasLargePagesAndAnOldOneKeepsItsOwn) {
  { sqlite_store log(opts()); append(log, "t", "one"); }
  EXPECT_EQ(page_size_of(opts().path), kNewFilePageSize);

  // A file made before (SQLite's default 4 KiB pages, schema 5) opens, migrates
  // and takes appends with its own page size: only VACUUM could change it.
  const auto old_path = (dir_ / "old.db").string();
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(old_path.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
    connection db(old_path, false);
    migrate(db, 5);
  }
  auto o = opts();
  o.path = old_path;
  {
    sqlite_store log(o);
    EXPECT_EQ(append(log, "t", "after")->id, 1u);
  }
  EXPECT_EQ(page_size_of(old_path), 4096);
  sqlite_store again(o);
  EXPECT_EQ(again.last_id(), 1u);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { sqlite_store log(opts()); }
  {
    connection db(opts().path, false);
    db.exec("PRAGMA user_version=999");
  }
  EXPECT_THROW(sqlite_store log(opts()), sqlite_error);
}

}  // namespace
}  // namespace freshet::store
