#include "hub/subscriber_index.hpp"

#include "hub/stream_queue.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <random>

namespace freshet::hub {
namespace {

namespace asio = boost::asio;

std::vector<std::uint64_t> ids_taken(stream_queue& q) {
  std::vector<std::uint64_t> ids;
  for (const auto& e : q.take()) ids.push_back(e->id);
  return ids;
}

// The index only narrows whom the shard asks: every connection must end up
// with exactly what pushing every batch to every connection gives (the
// filter's answer), for random filters and batches, with subscriptions added
// and removed between batches.
TEST(SubscriberIndex, DeliversWhatEveryFilterMatchesAndNothingElse) {
  asio::io_context ioc;
  std::mt19937 rng(20261202);
  const std::vector<std::string> tenants{"anoka", "hennepin", "ramsey", "dakota"};
  const std::vector<std::string> objects{"laptops", "donations"};
  auto pick = [&](const std::vector<std::string>& from) {
    std::vector<std::string> out;
    for (const auto& s : from)
      if (rng() % 3 == 0) out.push_back(s);
    return out;
  };
  struct pair_of_queues {
    std::shared_ptr<stream_queue> indexed, reference;
  };
  std::vector<pair_of_queues> subs;
  subscriber_index index;
  auto subscribe = [&] {
    core::topic_filter f{pick(objects), pick(tenants)};
    pair_of_queues p{std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, f, 1 << 24),
                     std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, f, 1 << 24)};
    index.add(p.indexed);
    subs.push_back(std::move(p));
  };
  for (int i = 0; i < 40; ++i) subscribe();

  std::uint64_t id = 0;
  const std::vector<core::event_type> types{core::event_type::change, core::event_type::change, core::event_type::job,
                                            core::event_type::metric, core::event_type::message};
  for (int round = 0; round < 400; ++round) {
    std::vector<core::event_ptr> batch;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      const auto type = types[rng() % types.size()];
      const std::string object = rng() % 5 == 0 ? "" : objects[rng() % objects.size()];
      const std::string tenant = rng() % 4 == 0 ? "" : tenants[rng() % tenants.size()];
      batch.push_back(core::make_event(++id, type, object, tenant, "{}"));
    }
    index.deliver(routed_batch(batch));
    for (auto& s : subs) s.reference->push(batch);
    if (round % 10 == 9) {
      for (auto& s : subs) ASSERT_EQ(ids_taken(*s.indexed), ids_taken(*s.reference)) << "filter " << s.indexed->filter().label();
      // Churn: one subscription goes, one comes.
      const std::size_t gone = rng() % subs.size();
      index.remove(subs[gone].indexed.get());
      subs.erase(subs.begin() + static_cast<std::ptrdiff_t>(gone));
      subscribe();
    }
  }
  EXPECT_EQ(index.size(), subs.size());
}

TEST(SubscriberIndex, AnEventOfOneTenantAsksOnlyThatTenantsAndTheUnfilteredSubscriptions) {
  asio::io_context ioc;
  subscriber_index index;
  auto make = [&](std::vector<std::string> tenants) {
    auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{{}, std::move(tenants)},
                                            1 << 20);
    index.add(q);
    return q;
  };
  auto anoka = make({"anoka"}), both = make({"anoka", "ramsey"}), ramsey = make({"ramsey"}), all = make({});
  index.deliver(routed_batch({core::make_event(1, core::event_type::change, "laptops", "anoka", "{}"),
                              core::make_event(2, core::event_type::change, "laptops", "ramsey", "{}")}));
  EXPECT_EQ(ids_taken(*anoka), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(ids_taken(*both), (std::vector<std::uint64_t>{1, 2}));  // once each, though listed under both
  EXPECT_EQ(ids_taken(*ramsey), (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(ids_taken(*all), (std::vector<std::uint64_t>{1, 2}));
  // A broadcast without a tenant reaches every subscription; a change without one only the unfiltered.
  index.deliver(routed_batch({core::make_event(3, core::event_type::message, "", "", "{}"),
                              core::make_event(4, core::event_type::change, "laptops", "", "{}")}));
  EXPECT_EQ(ids_taken(*anoka), (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(ids_taken(*both), (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(ids_taken(*ramsey), (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(ids_taken(*all), (std::vector<std::uint64_t>{3, 4}));
  index.remove(anoka.get());
  index.deliver(routed_batch({core::make_event(5, core::event_type::change, "laptops", "anoka", "{}")}));
  EXPECT_TRUE(ids_taken(*anoka).empty());
  EXPECT_EQ(ids_taken(*both), (std::vector<std::uint64_t>{5}));
}

}  // namespace
}  // namespace freshet::hub
