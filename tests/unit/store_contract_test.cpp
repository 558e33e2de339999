// The store's contract (store/event_store.hpp), one suite for every engine:
// a randomized sequence of appends, change sets, reads and restarts checked
// against an in-memory model (as LevelDB's tests do), and the specific cases:
// ids strictly increasing across restarts and full pruning, resume at every
// boundary, a change set committed whole or not at all. An engine joins by
// adding its factory to kEngines: SQLite on a file of the test's, Redis on
// a real redis-server the suite starts.
#include "store/event_store.hpp"
#include "store/redis_store.hpp"
#include "store/sqlite_store.hpp"
#include "eventually.hpp"
#include "redis_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace freshet::store {
namespace {

namespace json = boost::json;

struct contract_options {
  std::uint64_t retain_events = 1'000'000;
  std::chrono::seconds retain_age{168 * 3600};
  std::function<std::int64_t()> wall_ms;  // empty: the real clock
};

struct engine {
  std::string name;
  std::function<std::unique_ptr<event_store>(const std::filesystem::path& dir, const contract_options&)> open;
};

void PrintTo(const engine& e, std::ostream* os) { *os << e.name; }

// One redis-server for the suite, durable as the engine demands (AOF,
// fsync always); each test keeps its keys under a prefix of its own (the
// test's directory name), and a "restart" opens a new store on the same
// prefix.
testing_support::redis_server& shared_redis() {
  static testing_support::redis_server server({"--appendonly", "yes", "--appendfsync", "always"});
  return server;
}

const engine kEngines[] = {
    {"sqlite",
     [](const std::filesystem::path& dir, const contract_options& o) -> std::unique_ptr<event_store> {
       return std::make_unique<sqlite_store>(sqlite_store_options{.path = (dir / "f.db").string(),
                                                                  .retain_events = o.retain_events,
                                                                  .retain_age = o.retain_age,
                                                                  .prune_every = std::chrono::milliseconds(0),
                                                                  .wall_ms = o.wall_ms});
     }},
    {"redis",
     [](const std::filesystem::path& dir, const contract_options& o) -> std::unique_ptr<event_store> {
       return std::make_unique<redis_store>(redis_store_options{.at = shared_redis().at(),
                                                                .key_prefix = dir.string(),
                                                                .retain_events = o.retain_events,
                                                                .retain_age = o.retain_age,
                                                                .prune_every = std::chrono::milliseconds(0),
                                                                .wall_ms = o.wall_ms});
     }},
};

core::event_ptr append(event_store& s, std::string object, std::string tenant, std::string text) {
  core::event_draft d;
  d.type = core::event_type::message;
  d.object = std::move(object);
  d.tenant = std::move(tenant);
  d.body["message"] = std::move(text);
  std::promise<core::event_ptr> p;
  s.enqueue(std::move(d), [&](boost::system::error_code ec, core::event_ptr ev) {
    EXPECT_FALSE(ec) << ec.message();
    p.set_value(ev);
  });
  return p.get_future().get();
}

change_result apply(event_store& s, change_set cs) {
  std::promise<change_result> p;
  s.enqueue_changes(std::move(cs), [&](boost::system::error_code ec, change_result r) {
    EXPECT_FALSE(ec) << ec.message();
    p.set_value(r);
  });
  return p.get_future().get();
}

std::vector<std::uint64_t> ids_of(const std::vector<core::event_ptr>& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e->id);
  return out;
}

using testing_support::eventually;

class StoreContract : public ::testing::TestWithParam<engine> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("freshet-contract-" + std::to_string(::getpid()) + "-" + GetParam().name + "-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<event_store> open(const contract_options& o = {}) { return GetParam().open(dir_, o); }

  std::filesystem::path dir_;
};

// ---- the model ----

struct model_event {
  std::uint64_t id;
  core::event_type type;
  std::string object, tenant;
};

struct model_record {
  std::string tenant;
  json::object fields;
};

struct model {
  std::vector<model_event> events;
  std::map<std::string, std::map<std::string, model_record>> records;  // object -> id -> record
  std::map<std::string, std::string> state;
  std::uint64_t last = 0;
};

// A record's tenant never moves here: "t1", "t2" or none by its number.
std::string tenant_of(int n) { return n % 3 == 0 ? "" : n % 3 == 1 ? "t1" : "t2"; }

TEST_P(StoreContract, RandomizedOperationsAgreeWithAModel) {
  std::mt19937 rng(20261202);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<std::string> objects{"o1", "o2"};
  const std::vector<std::string> tenants{"", "t1", "t2"};
  model m;
  auto store = open();

  for (int step = 0; step < 300; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const int op = pick(100);
    if (op < 15) {  // a message event
      const std::string tenant = tenants[pick(3)];
      auto ev = append(*store, "", tenant, "m" + std::to_string(step));
      ASSERT_EQ(ev->id, m.last + 1);
      m.events.push_back({ev->id, core::event_type::message, "", tenant});
      m.last = ev->id;
    } else if (op < 55) {  // a change set: upserts or deletes of one object, maybe state and an extra event
      const std::string object = objects[pick(2)];
      auto& recs = m.records[object];
      change_set cs;
      object_changes oc{"s", object, {}, {}, {}, std::nullopt, {}};
      std::uint64_t created = 0, updated = 0, unchanged = 0, deleted = 0;
      std::multiset<std::pair<std::string, std::string>> expected;  // (record id, op)
      std::set<int> chosen;
      const int n = 1 + pick(5);
      while (static_cast<int>(chosen.size()) < n) chosen.insert(pick(12));
      const bool deleting = pick(4) == 0;
      for (int k : chosen) {
        const std::string id = "r" + std::to_string(k);
        if (deleting) {
          oc.deletes.push_back(id);
          if (recs.erase(id)) {
            ++deleted;
            expected.insert({id, "deleted"});
          }
          continue;
        }
        json::object fields{{"n", pick(3)}, {"label", "x"}};
        auto it = recs.find(id);
        if (it == recs.end()) {
          ++created;
          expected.insert({id, "created"});
        } else if (it->second.fields != fields) {
          ++updated;
          expected.insert({id, "updated"});
        } else {
          ++unchanged;
        }
        recs[id] = {tenant_of(k), fields};
        oc.upserts.push_back({id, tenant_of(k), fields});
      }
      cs.objects.push_back(std::move(oc));
      if (pick(3) == 0) {
        const std::string key = "k" + std::to_string(pick(4)), value = "v" + std::to_string(step);
        cs.state.push_back({"s", key, value});
        m.state[key] = value;
      }
      const bool extra = pick(4) == 0;
      if (extra) {
        core::event_draft d;
        d.type = core::event_type::job;
        d.body["job"] = "j" + std::to_string(step);
        cs.events.push_back(std::move(d));
      }
      const auto r = apply(*store, std::move(cs));
      EXPECT_EQ(r.created, created);
      EXPECT_EQ(r.updated, updated);
      EXPECT_EQ(r.unchanged, unchanged);
      EXPECT_EQ(r.deleted, deleted);
      const std::uint64_t made = expected.size() + (extra ? 1 : 0);
      ASSERT_EQ(r.events, made);
      ASSERT_EQ(r.last_event_id, m.last + made);
      // The set's events: the ids that follow, about the records it changed
      // (in an order of the engine's), then the extra one.
      const auto got = store->read_range(m.last, r.last_event_id, core::topic_filter{}, 1000);
      ASSERT_EQ(got.size(), made);
      std::multiset<std::pair<std::string, std::string>> seen;
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i]->id, m.last + 1 + i);
        const auto doc = json::parse(got[i]->json).as_object();
        if (got[i]->type == core::event_type::change) {
          const std::string id(doc.at("record_id").as_string());
          seen.insert({id, std::string(doc.at("op").as_string())});
          EXPECT_EQ(got[i]->object, object);
          EXPECT_EQ(got[i]->tenant, tenant_of(std::stoi(id.substr(1))));
          m.events.push_back({got[i]->id, got[i]->type, got[i]->object, got[i]->tenant});
        } else {
          EXPECT_EQ(got[i]->type, core::event_type::job);
          EXPECT_EQ(i, got.size() - 1) << "the extra events come after the record events";
          m.events.push_back({got[i]->id, got[i]->type, got[i]->object, got[i]->tenant});
        }
      }
      EXPECT_EQ(seen, expected);
      m.last = r.last_event_id;
    } else if (op < 75) {  // a range read, as a resuming subscriber makes
      const std::uint64_t after = m.last ? rng() % (m.last + 1) : 0;
      core::topic_filter f;
      if (pick(3) == 0) f.objects = {objects[pick(2)]};
      if (pick(3) == 0) f.tenants = {tenants[1 + pick(2)]};
      const std::size_t limit = 1 + pick(40);
      std::vector<std::uint64_t> want;
      for (const auto& e : m.events)
        if (e.id > after && f.matches(e.type, e.object, e.tenant) && want.size() < limit) want.push_back(e.id);
      EXPECT_EQ(ids_of(store->read_range(after, m.last, f, limit)), want) << f.label() << " after " << after;
    } else if (op < 85) {  // a snapshot of one object, whole or of one tenant
      const std::string object = objects[pick(2)];
      std::vector<std::string> scope;
      if (pick(2) == 0) scope = {tenants[1 + pick(2)]};
      const auto page = store->read_snapshot("s", object, scope, "", 1000);
      EXPECT_EQ(page.last_event_id, m.last);
      std::map<std::string, json::object> got, want;
      for (const auto& r : page.records) got[r.id] = json::parse(r.data).as_object();
      for (const auto& [id, r] : m.records[object])
        if (scope.empty() || r.tenant == scope[0]) want[id] = r.fields;
      EXPECT_EQ(got, want) << object;
      const std::string id = "r" + std::to_string(pick(12));
      const auto found = store->find_record("s", object, id);
      const auto it = m.records[object].find(id);
      ASSERT_EQ(found.has_value(), it != m.records[object].end()) << id;
      if (found) {
        EXPECT_EQ(found->fields, it->second.fields);
        EXPECT_EQ(found->tenant, it->second.tenant);
      }
      for (const auto& t : {"t1", "t2"}) {
        const bool has = std::any_of(m.records[object].begin(), m.records[object].end(),
                                     [&](const auto& kv) { return kv.second.tenant == t; });
        EXPECT_EQ(store->tenant_has_records("s", object, t), has) << t;
      }
    } else if (op < 92) {
      EXPECT_EQ(store->load_sync_state("s"), m.state);
      EXPECT_EQ(store->last_id(), m.last);
    } else {  // a restart: everything acknowledged is there, and ids go on
      store.reset();
      store = open();
      ASSERT_EQ(store->last_id(), m.last);
      EXPECT_EQ(store->first_id(), m.events.empty() ? 0 : m.events.front().id);
    }
  }
  EXPECT_GT(m.last, 100u);  // the sequence did make events
}

TEST_P(StoreContract, IdsStrictlyIncreaseAcrossRestartsAndFullPruning) {
  std::atomic<std::int64_t> now{1'800'000'000'000};
  contract_options o{.retain_events = 5, .retain_age = std::chrono::seconds(60), .wall_ms = [&] { return now.load(); }};
  std::uint64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    auto store = open(o);
    ASSERT_EQ(store->last_id(), last);
    if (round > 0) EXPECT_EQ(store->first_id(), last + 1);  // still empty, still knowing where it was
    for (int i = 0; i < 8; ++i) {
      const auto ev = append(*store, "", "", "e");
      ASSERT_GT(ev->id, last);
      last = ev->id;
    }
    // Retention by count keeps the newest five.
    ASSERT_TRUE(eventually([&] { return store->first_id() == last - 4; })) << store->first_id();
    // By age, everything: the log is empty; its bounds say so (the next id
    // is the resume horizon) and keep the high-water mark.
    now += 120'000;
    ASSERT_TRUE(eventually([&] { return store->first_id() == last + 1; })) << store->first_id();
    EXPECT_EQ(store->last_id(), last);
    EXPECT_TRUE(store->read_range(0, last, core::topic_filter{}, 100).empty());
  }
  auto store = open(o);
  EXPECT_EQ(store->last_id(), last);
  EXPECT_GT(append(*store, "", "", "after all that")->id, last);
}

TEST_P(StoreContract, ResumeAtEveryBoundaryGetsExactlyTheRest) {
  auto store = open();
  // Thirty events, some alone, some several to a change set.
  std::uint64_t last = 0;
  for (int i = 0; i < 30;) {
    if (i % 4 == 0) {
      change_set cs;
      object_changes oc{"s", "o1", {}, {}, {}, std::nullopt, {}};
      const int n = std::min(3, 30 - i);
      for (int k = 0; k < n; ++k) oc.upserts.push_back({"r" + std::to_string(i + k), "t1", json::object{{"n", i}}});
      cs.objects.push_back(std::move(oc));
      last = apply(*store, std::move(cs)).last_event_id;
      i += n;
    } else {
      last = append(*store, "o1", "t1", "e")->id;
      ++i;
    }
  }
  ASSERT_EQ(last, 30u);
  for (std::uint64_t after = 0; after <= last; ++after) {
    std::vector<std::uint64_t> rest, first_seven;
    for (std::uint64_t id = after + 1; id <= last; ++id) rest.push_back(id);
    for (std::uint64_t id = after + 1; id <= std::min<std::uint64_t>(last, after + 7); ++id) first_seven.push_back(id);
    EXPECT_EQ(ids_of(store->read_range(after, last, core::topic_filter{}, 1000)), rest) << after;
    EXPECT_EQ(ids_of(store->read_range(after, last, core::topic_filter{}, 7)), first_seven) << after;
    // Up to a point short of the end: the seam between replay and live.
    const std::uint64_t upto = std::min<std::uint64_t>(last, after + 4);
    EXPECT_EQ(ids_of(store->read_range(after, upto, core::topic_filter{}, 1000)).size(), upto - after) << after;
  }
}

TEST_P(StoreContract, AChangeSetCommitsWholeOrNotAtAll) {
  auto store = open();
  auto delivered = [](std::string note) {
    change_set cs;
    object_changes oc{"s", "o1", {}, {}, {}, std::nullopt, {}};
    oc.upserts.push_back({"r1", "t1", json::object{{"note", note}}});
    oc.upserts.push_back({"r2", "t2", json::object{{"note", note}}});
    cs.objects.push_back(std::move(oc));
    cs.state.push_back({"s", "cursor", note});
    cs.delivery = std::make_pair(std::string("s"), std::string("delivery-1"));
    core::event_draft d;
    d.type = core::event_type::job;
    cs.events.push_back(std::move(d));
    return cs;
  };
  const auto first = apply(*store, delivered("one"));
  EXPECT_FALSE(first.duplicate_delivery);
  EXPECT_EQ(first.events, 3u);
  // Records, state and events of the set are there together.
  auto page = store->read_snapshot("s", "o1", {}, "", 10);
  ASSERT_EQ(page.records.size(), 2u);
  EXPECT_EQ(page.last_event_id, first.last_event_id);
  EXPECT_EQ(store->load_sync_state("s").at("cursor"), "one");

  // The same delivery again, with other contents: nothing of it is applied.
  const auto again = apply(*store, delivered("two"));
  EXPECT_TRUE(again.duplicate_delivery);
  EXPECT_EQ(again.events, 0u);
  EXPECT_EQ(store->last_id(), first.last_event_id);
  EXPECT_EQ(store->load_sync_state("s").at("cursor"), "one");
  EXPECT_EQ(store->find_record("s", "o1", "r1")->fields.at("note").as_string(), "one");
  EXPECT_TRUE(store->read_range(first.last_event_id, first.last_event_id + 10, core::topic_filter{}, 10).empty());
  // And a restart does not forget that it was delivered.
  store.reset();
  store = open();
  EXPECT_TRUE(apply(*store, delivered("three")).duplicate_delivery);
  EXPECT_EQ(store->find_record("s", "o1", "r2")->fields.at("note").as_string(), "one");
}

TEST_P(StoreContract, TheListenerHearsEachCommitInIdOrderBeforeItsAcknowledgement) {
  auto store = open();
  std::mutex mu;
  std::vector<std::uint64_t> heard;
  store->set_commit_listener([&](const std::vector<core::event_ptr>& batch) {
    std::lock_guard lk(mu);
    for (const auto& e : batch) heard.push_back(e->id);
  });
  constexpr int kAppends = 200;
  std::vector<std::promise<bool>> acks(kAppends);
  for (int i = 0; i < kAppends; ++i) {
    core::event_draft d;
    d.body["message"] = i;
    store->enqueue(std::move(d), [&, i](boost::system::error_code ec, core::event_ptr ev) {
      std::lock_guard lk(mu);
      acks[i].set_value(!ec && std::find(heard.begin(), heard.end(), ev->id) != heard.end());
    });
  }
  for (auto& a : acks) EXPECT_TRUE(a.get_future().get());
  std::lock_guard lk(mu);
  ASSERT_EQ(heard.size(), static_cast<std::size_t>(kAppends));
  for (std::size_t i = 0; i < heard.size(); ++i) EXPECT_EQ(heard[i], i + 1);
}

TEST_P(StoreContract, SummariesAggregatesAndAuditAnswerAlike) {
  auto store = open();
  change_set cs;
  object_changes oc{"s", "o1", {}, {}, {}, std::nullopt, {}};
  // Values of every kind a field can hold, as the goal rules meet them.
  const std::vector<std::pair<std::string, json::object>> rows{
      {"t1", {{"status", "open"}, {"amount", 5}}},
      {"t1", {{"status", "open"}, {"amount", 2.5}}},
      {"t1", {{"status", "done"}, {"amount", "7"}}},
      {"t2", {{"status", "open"}, {"amount", true}}},
      {"t2", {{"status", "open"}, {"amount", nullptr}}},
      {"t2", {{"status", nullptr}, {"amount", 1}}},
      {"", {{"status", "open"}, {"amount", 100}}},
      {"t1", {{"status", "open"}, {"amount", "not a number"}}},
  };
  for (std::size_t i = 0; i < rows.size(); ++i) oc.upserts.push_back({"r" + std::to_string(i), rows[i].first, rows[i].second});
  cs.objects.push_back(std::move(oc));
  cs.synced.push_back({"s", "o1", "", 1000});
  cs.synced.push_back({"s", "o1", "t1", 5000});
  cs.synced.push_back({"s", "o1", "t3", 3000});  // synced, but no record of it is left
  for (int i = 0; i < 5; ++i) cs.audit.push_back({"sync", "s", "poller", "accepted", json::object{{"n", i}}});
  apply(*store, std::move(cs));

  const std::vector<std::pair<std::string, std::string>> open_ones{{"status", "\"open\""}};
  EXPECT_EQ(store->aggregate_records("s", "o1", {}, ""), 8.0);
  EXPECT_EQ(store->aggregate_records("s", "o1", open_ones, ""), 6.0);
  EXPECT_EQ(store->aggregate_records("s", "o1", open_ones, "amount"), 5 + 2.5 + 1 + 100);  // true is 1, text 0
  EXPECT_EQ(store->aggregate_records("s", "o1", {}, "amount"), 5 + 2.5 + 7 + 1 + 1 + 100);  // "7" counts as 7
  EXPECT_EQ(store->aggregate_records("s", "o1", {{"amount", "1"}}, ""), 2.0);  // 1 and true
  EXPECT_EQ(store->aggregate_records("s", "o1", {{"status", "null"}}, ""), 0.0);  // null equals nothing
  EXPECT_EQ(store->aggregate_records("s", "o1", {{"amount", "2.5"}}, ""), 1.0);
  const auto by_tenant = store->aggregate_records_by_tenant("s", "o1", open_ones, "amount");
  EXPECT_EQ(by_tenant, (std::map<std::string, double>{{"t1", 7.5}, {"t2", 1.0}}));

  const auto summaries = store->summarize_object("s", "o1");
  std::map<std::string, std::pair<std::uint64_t, std::int64_t>> got;
  for (const auto& t : summaries) got[t.tenant] = {t.records, t.last_sync_ms};
  EXPECT_EQ(got, (std::map<std::string, std::pair<std::uint64_t, std::int64_t>>{
                     {"", {1, 1000}}, {"t1", {4, 5000}}, {"t2", {3, 1000}}, {"t3", {0, 3000}}}));

  const auto all = store->list_audit(0, 100);
  ASSERT_EQ(all.size(), 5u);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i].id, all[i - 1].id);
  EXPECT_EQ(json::parse(all[2].detail).at("n").as_int64(), 2);
  EXPECT_EQ(all[0].kind, "sync");
  EXPECT_EQ(all[0].who, "poller");
  const auto newest = store->list_audit(0, 2, true);
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].id, all[3].id);
  EXPECT_EQ(newest[1].id, all[4].id);
  const auto after = store->list_audit(all[1].id, 2);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].id, all[2].id);
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreContract, ::testing::ValuesIn(kEngines),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace freshet::store
