// What the Redis engine promises beyond the contract suite, against a real
// redis-server: several instances on one deployment's keys share one log
// (ids are the deployment's, each instance's listener hears every commit
// once and in order, a record changed from two instances at once makes its
// event once), Redis's durability is checked at open, and Redis going away
// is a clear refusal, not a hang, with every acknowledged event still there
// when it comes back.
#include "store/redis_store.hpp"
#include "redis/redis_connection.hpp"
#include "eventually.hpp"
#include "redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace freshet::store {
namespace {

namespace json = boost::json;
using testing_support::eventually;
using testing_support::redis_server;

const std::vector<std::string> kDurable{"--appendonly", "yes", "--appendfsync", "always"};

redis_store_options options_for(const redis_server& server, std::string prefix = "t") {
  redis_store_options o;
  o.at = server.at();
  o.key_prefix = std::move(prefix);
  o.timeout = std::chrono::milliseconds(2000);
  return o;
}

// An append's outcome, waited for.
std::pair<boost::system::error_code, core::event_ptr> append(event_store& s, std::string text) {
  core::event_draft d;
  d.body["message"] = std::move(text);
  std::promise<std::pair<boost::system::error_code, core::event_ptr>> p;
  s.enqueue(std::move(d), [&](boost::system::error_code ec, core::event_ptr ev) { p.set_value({ec, ev}); });
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

// What a listener heard, in order.
struct heard {
  std::mutex mu;
  std::vector<std::uint64_t> ids;
  void attach(event_store& s) {
    s.set_commit_listener([this](const std::vector<core::event_ptr>& batch) {
      std::lock_guard lk(mu);
      for (const auto& e : batch) ids.push_back(e->id);
    });
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return ids.size();
  }
};

TEST(RedisStore, TwoInstancesShareOneLogAndEachHearsEveryCommitOnceInOrder) {
  redis_server server(kDurable);
  redis_store a(options_for(server)), b(options_for(server));
  heard on_a, on_b;
  on_a.attach(a);
  on_b.attach(b);
  // Four writers, two on each instance, appending and applying the same
  // record set at once: the ids interleave, the commits race.
  constexpr int kEach = 100;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&, w] {
      event_store& s = w % 2 ? static_cast<event_store&>(b) : a;
      for (int i = 0; i < kEach; ++i) {
        if (i % 10 == 0) {
          change_set cs;
          object_changes oc{"s", "o", {}, {}, {}, std::nullopt, {}};
          for (int r = 0; r < 20; ++r)
            oc.upserts.push_back({"r" + std::to_string(r), "t1", json::object{{"v", i / 10}}});
          cs.objects.push_back(std::move(oc));
          apply(s, std::move(cs));
        } else {
          EXPECT_FALSE(append(s, "w" + std::to_string(w)).first);
        }
      }
    });
  for (auto& t : writers) t.join();
  const std::uint64_t last = std::max(a.last_id(), b.last_id());
  ASSERT_TRUE(eventually([&] { return on_a.size() >= last && on_b.size() >= last; }))
      << on_a.size() << " " << on_b.size() << " of " << last;
  std::vector<std::uint64_t> all;
  for (std::uint64_t id = 1; id <= last; ++id) all.push_back(id);
  EXPECT_EQ(on_a.ids, all);
  EXPECT_EQ(on_b.ids, all);

  // Each record is written by four writers at once, each at its own pace,
  // so its content may move back and forth; but every event is a move: a
  // writer that lost a race computes again, so no two events in a row
  // carry the same content (two instances writing from the same stale read
  // would make exactly that), and the last one is what is stored.
  std::map<std::string, std::vector<std::int64_t>> moves;
  for (const auto& e : a.read_range(0, last, core::topic_filter{}, 100'000)) {
    if (e->type != core::event_type::change) continue;
    const auto doc = json::parse(e->json).as_object();
    moves[std::string(doc.at("record_id").as_string())].push_back(doc.at("record").at("v").as_int64());
  }
  ASSERT_EQ(moves.size(), 20u);
  for (const auto& [id, vs] : moves) {
    for (std::size_t i = 1; i < vs.size(); ++i) EXPECT_NE(vs[i], vs[i - 1]) << id << " event " << i;
    EXPECT_EQ(a.find_record("s", "o", id)->fields.at("v").as_int64(), vs.back()) << id;
  }
  EXPECT_EQ(a.read_snapshot("s", "o", {}, "", 100).records.size(), 20u);
}

// Another instance's commit priority (a change batch that lost twice takes
// it) holds every other write back until that commit is in or the priority
// expires. A write waits it out: under load a holder's batch of a thousand
// records can take longer than the fifty quick retries and the 300
// millisecond pauses that used to bound the wait, and a refresh then
// failed as "overloaded" (seen in a sanitizer run of the scale-out suite).
TEST(RedisStore, AWriteWaitsOutAnotherInstancesCommitPriorityInsteadOfFailing) {
  redis_server server(kDurable);
  redis_store s(options_for(server));
  ASSERT_FALSE(append(s, "warm").first);
  {
    boost::asio::io_context ioc;
    auto done = boost::asio::co_spawn(
        ioc,
        [&]() -> boost::asio::awaitable<void> {
          redis::connection c(co_await boost::asio::this_coro::executor);
          co_await c.connect(server.at());
          std::vector<std::string> take{"SET", "{t}:commit_priority", "another-instance", "PX", "1500"};
          co_await c.exec(std::move(take));
        },
        boost::asio::use_future);
    ioc.run();
    done.get();
  }
  const auto started = std::chrono::steady_clock::now();
  std::promise<boost::system::error_code> changed;
  change_set cs;
  object_changes oc{"s", "o", {}, {}, {}, std::nullopt, {}};
  oc.upserts.push_back({"r1", "t1", json::object{{"v", 1}}});
  cs.objects.push_back(std::move(oc));
  s.enqueue_changes(std::move(cs), [&](boost::system::error_code ec, change_result) { changed.set_value(ec); });
  const auto appended = append(s, "after");
  const auto change_ec = changed.get_future().get();
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(change_ec) << change_ec.message();
  EXPECT_FALSE(appended.first) << appended.first.message();
  // Neither went past the priority: they waited for it to end.
  EXPECT_GE(waited, std::chrono::milliseconds(1000));
  EXPECT_EQ(s.last_id(), 3u);
}

TEST(RedisStore, RefusesRedisThatDoesNotMakeAcknowledgedWritesDurable) {
  redis_server server;  // appendonly no
  try {
    redis_store s(options_for(server));
    FAIL() << "opened on a Redis with appendonly no";
  } catch (const redis_store_error& e) {
    EXPECT_NE(std::string(e.what()).find("appendonly is no"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("accept_weaker_durability"), std::string::npos) << e.what();
  }
  auto o = options_for(server);
  o.accept_weaker_durability = true;
  redis_store s(o);
  EXPECT_NE(s.durability().find("can be lost"), std::string::npos) << s.durability();
  EXPECT_FALSE(append(s, "x").first);

  redis_server durable(kDurable);
  redis_store d(options_for(durable));
  EXPECT_EQ(d.durability(), "appendfsync always");
}

TEST(RedisStore, RedisGoneIsARefusalNotAHangAndEverythingAcknowledgedIsThereWhenItIsBack) {
  redis_server server(kDurable);
  redis_store a(options_for(server)), b(options_for(server));
  heard on_b;
  on_b.attach(b);
  std::set<std::uint64_t> acked;
  std::mutex mu;
  // Publishers keep appending through Redis's death and return.
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<std::thread> publishers;
  for (int w = 0; w < 4; ++w)
    publishers.emplace_back([&] {
      while (!stop) {
        const auto [ec, ev] = append(a, "p");
        if (!ec) {
          std::lock_guard lk(mu);
          acked.insert(ev->id);
        } else {
          EXPECT_EQ(ec, make_error_code(errc::store_unavailable)) << ec.message();
          ++refused;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
    });
  auto count = [&] {
    std::lock_guard lk(mu);
    return acked.size();
  };
  ASSERT_TRUE(eventually([&] { return count() >= 200; }));
  server.stop();  // kill -9, mid-stream
  ASSERT_TRUE(eventually([&] { return a.health() == store_health::unavailable; }));
  ASSERT_TRUE(eventually([&] { return refused > 10; }));
  // A read says so at once too (the API answers 503 for it).
  EXPECT_THROW(a.read_range(0, 10, core::topic_filter{}, 10), redis::connection_error);
  const auto before = count();
  server.start();  // the same port and AOF
  ASSERT_TRUE(eventually([&] { return a.health() == store_health::ok && count() > before + 100; }));
  stop = true;
  for (auto& t : publishers) t.join();

  // Every acknowledged event is in the log, in a store opened afresh.
  redis_store c(options_for(server));
  std::set<std::uint64_t> logged;
  for (const auto& e : c.read_range(0, c.last_id(), core::topic_filter{}, 1'000'000)) logged.insert(e->id);
  for (auto id : acked) ASSERT_TRUE(logged.count(id)) << "acknowledged event " << id << " was lost";
  // And the other instance's tail came back by itself: it heard everything.
  ASSERT_TRUE(eventually([&] { return on_b.size() >= logged.size(); })) << on_b.size() << " of " << logged.size();
  std::lock_guard lk(on_b.mu);
  EXPECT_EQ(std::set<std::uint64_t>(on_b.ids.begin(), on_b.ids.end()), logged);
  EXPECT_TRUE(std::is_sorted(on_b.ids.begin(), on_b.ids.end()));
}

TEST(RedisStore, OneLeaseHolderAtATimeAndAStaleTokenWritesNothing) {
  redis_server server(kDurable);
  redis_store a(options_for(server)), b(options_for(server));
  const auto ttl = std::chrono::milliseconds(300);
  const auto first = a.hold_lease("crm", ttl);
  ASSERT_TRUE(first);
  EXPECT_FALSE(b.hold_lease("crm", ttl)) << "held by a";
  EXPECT_EQ(a.hold_lease("crm", ttl), first) << "a renewal keeps the token";
  EXPECT_TRUE(b.hold_lease("other", ttl)) << "leases are per name";

  auto fenced = [](std::uint64_t token, std::string v) {
    change_set cs;
    object_changes oc{"crm", "o", {}, {}, {}, std::nullopt, {}};
    oc.upserts.push_back({"r1", "", json::object{{"v", v}}});
    cs.objects.push_back(std::move(oc));
    cs.state.push_back({"crm", "cursor", v});
    cs.fence = fence{"crm", token};
    return cs;
  };
  auto try_apply = [](event_store& s, change_set cs) {
    std::promise<boost::system::error_code> p;
    s.enqueue_changes(std::move(cs), [&](boost::system::error_code ec, change_result) { p.set_value(ec); });
    return p.get_future().get();
  };
  EXPECT_FALSE(try_apply(a, fenced(*first, "from a")));

  // a stops renewing (paused past its lease: SIGSTOP, a GC, a partition);
  // b takes over with a newer token.
  std::optional<std::uint64_t> taken;
  ASSERT_TRUE(eventually([&] { return (taken = b.hold_lease("crm", ttl)).has_value(); }));
  EXPECT_GT(*taken, *first);
  // a's pending commit, with its old token, is refused and writes nothing:
  // no record, no state, no event.
  const auto last = a.last_id();
  EXPECT_EQ(try_apply(a, fenced(*first, "stale")), make_error_code(errc::not_leader));
  EXPECT_EQ(a.find_record("crm", "o", "r1")->fields.at("v").as_string(), "from a");
  EXPECT_EQ(a.load_sync_state("crm").at("cursor"), "from a");
  EXPECT_EQ(a.read_last_id(), last);
  EXPECT_FALSE(try_apply(b, fenced(*taken, "from b")));
  EXPECT_EQ(a.find_record("crm", "o", "r1")->fields.at("v").as_string(), "from b");
  EXPECT_FALSE(a.hold_lease("crm", ttl)) << "a learns that it lost the lease";
  // A clean stop hands the lease on at once.
  b.release_lease("crm");
  EXPECT_TRUE(a.hold_lease("crm", ttl));
}

TEST(RedisStore, KeyPrefixesKeepDeploymentsApart) {
  redis_server server(kDurable);
  redis_store one(options_for(server, "one")), two(options_for(server, "two"));
  for (int i = 0; i < 3; ++i) append(one, "x");
  EXPECT_EQ(one.last_id(), 3u);
  EXPECT_EQ(two.last_id(), 0u);
  EXPECT_EQ(append(two, "y").second->id, 1u);
  EXPECT_TRUE(two.read_range(1, 3, core::topic_filter{}, 10).empty());
}

// What one instance's signal listener heard, in order.
struct signals_heard {
  std::mutex mu;
  std::vector<std::string> got;
  void attach(event_store& s) {
    s.set_signal_listener([this](const std::string& topic, const std::string& body) {
      std::lock_guard lk(mu);
      got.push_back(topic + "=" + body);
    });
  }
  std::vector<std::string> now() {
    std::lock_guard lk(mu);
    return got;
  }
};

TEST(RedisStore, EverySignalReachesEveryInstanceOnceAndALaterInstanceOnlyTheLaterOnes) {
  redis_server server(kDurable);
  redis_store a(options_for(server)), b(options_for(server));
  signals_heard on_a, on_b, on_c;
  on_a.attach(a);
  on_b.attach(b);
  a.send_signal("hint", "one");
  ASSERT_TRUE(eventually([&] { return on_b.now().size() == 1 && on_a.now().size() == 1; }));
  redis_store c(options_for(server));
  on_c.attach(c);
  // Two senders' signals are ordered by when Redis took them: the second is
  // sent once the first was heard, so the order below is the test's.
  b.send_signal("hint", "two");
  ASSERT_TRUE(eventually([&] { return on_a.now().size() == 2; }));
  c.send_signal("ping", "three");
  const std::vector<std::string> all{"hint=one", "hint=two", "ping=three"};
  ASSERT_TRUE(eventually([&] { return on_a.now().size() == 3 && on_b.now().size() == 3 && on_c.now().size() == 2; }));
  EXPECT_EQ(on_a.now(), all);
  EXPECT_EQ(on_b.now(), all);
  EXPECT_EQ(on_c.now(), (std::vector<std::string>{"hint=two", "ping=three"}));
  // Another deployment's signals are not heard.
  redis_store other(options_for(server, "other"));
  other.send_signal("hint", "elsewhere");
  a.send_signal("hint", "four");
  ASSERT_TRUE(eventually([&] { return on_c.now().size() == 3 && on_b.now().size() == 4; }));
  EXPECT_EQ(on_c.now().back(), "hint=four");
  EXPECT_EQ(on_b.now().back(), "hint=four");
}

TEST(RedisStore, ASharedPaceSpacesSlotsAcrossInstancesAndAPauseHoldsEveryone) {
  redis_server server(kDurable);
  redis_store a(options_for(server)), b(options_for(server));
  // Ten slots asked for faster than they come: reserved back to back, 50 ms
  // apart on Redis's clock, whichever instance asked.
  const auto spacing = std::chrono::milliseconds(50);
  std::vector<std::int64_t> slots;
  for (int i = 0; i < 10; ++i) {
    auto got = (i % 2 ? b : a).take_slot("upstream:x", spacing);
    ASSERT_TRUE(got);
    slots.push_back(got->at_us);
  }
  for (std::size_t i = 1; i < slots.size(); ++i) EXPECT_EQ(slots[i] - slots[i - 1], 50'000) << i;
  // Another pace is not held up by that one; a 429 on one instance pauses
  // its pace for the other too.
  auto other = a.take_slot("upstream:y", spacing);
  ASSERT_TRUE(other);
  EXPECT_LT(other->delay, std::chrono::milliseconds(50));
  b.pause_slots("upstream:y", std::chrono::seconds(3));
  EXPECT_TRUE(eventually([&] { return a.take_slot("upstream:y", std::chrono::microseconds(1))->delay > std::chrono::seconds(2); }));
}

TEST(RedisStore, OneJobAKeyAcrossInstancesThenItsCooldownAndAnyInstanceReadsItsState) {
  redis_server server(kDurable);
  redis_store a(options_for(server)), b(options_for(server));
  using outcome = job_claim::outcome;
  auto first = a.claim_job("refresh:north", "j1", std::chrono::seconds(60));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->result, outcome::claimed);
  auto joined = b.claim_job("refresh:north", "j2", std::chrono::seconds(60));
  EXPECT_EQ(joined->result, outcome::running);
  EXPECT_EQ(joined->job_id, "j1");
  EXPECT_EQ(b.claim_job("refresh:south", "j3", std::chrono::seconds(60))->result, outcome::claimed);
  // Only the job that holds a key ends it.
  b.end_job("refresh:north", "j2", std::chrono::seconds(30));
  a.end_job("refresh:north", "j1", std::chrono::seconds(30));
  ASSERT_TRUE(eventually([&] { return b.claim_job("refresh:north", "j4", std::chrono::seconds(60))->result == outcome::cooling; }));
  const auto cooling = b.claim_job("refresh:north", "j4", std::chrono::seconds(60));
  EXPECT_EQ(cooling->job_id, "j1");
  EXPECT_GE(cooling->retry_after, std::chrono::seconds(28));
  EXPECT_LE(cooling->retry_after, std::chrono::seconds(30));
  // No cooldown: free at once. A job whose instance died frees its key when its hold ends.
  b.end_job("refresh:south", "j3", std::chrono::seconds(0));
  ASSERT_TRUE(eventually([&] { return a.claim_job("refresh:south", "j5", std::chrono::seconds(1))->result == outcome::claimed; }));
  ASSERT_TRUE(eventually([&] { return b.claim_job("refresh:south", "j6", std::chrono::seconds(60))->result == outcome::claimed; }));
  // A job's state, written in order by one instance, read by another.
  a.put_job("j1", R"({"status":"running"})", std::chrono::seconds(60));
  a.put_job("j1", R"({"status":"succeeded"})", std::chrono::seconds(60));
  ASSERT_TRUE(eventually([&] { return b.get_job("j1") == std::optional<std::string>(R"({"status":"succeeded"})"); }));
  EXPECT_EQ(b.get_job("nope"), std::nullopt);
}

// A job's state written while Redis is away reaches it when Redis is back:
// the other instances answer GET /api/jobs/{id} from it.
TEST(RedisStore, AJobsLatestStateWaitsForRedisAndArrives) {
  redis_server server(kDurable);
  auto options = options_for(server);
  options.timeout = std::chrono::milliseconds(300);
  redis_store a(options), b(options_for(server));
  a.put_job("j1", R"({"status":"queued"})", std::chrono::seconds(60));
  ASSERT_TRUE(eventually([&] { return b.get_job("j1").has_value(); }));
  server.stop();  // kill -9
  a.put_job("j1", R"({"status":"running"})", std::chrono::seconds(60));
  a.put_job("j1", R"({"status":"succeeded"})", std::chrono::seconds(60));
  a.end_job("refresh:north", "j1", std::chrono::seconds(30));
  // Longer than the retries' spacing (1 s): tries fail meanwhile, and a
  // write that was not kept would be lost in one of them.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  server.start();  // the same port and AOF
  const auto reads = [&] {
    try {
      return b.get_job("j1") == std::optional<std::string>(R"({"status":"succeeded"})");
    } catch (const redis::connection_error&) {
      return false;  // b's connection is still on its way back
    }
  };
  ASSERT_TRUE(eventually(reads));
}

}  // namespace
}  // namespace freshet::store
