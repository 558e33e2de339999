// The store's change sets, through the real event log on a real SQLite file:
// what makes an event and what does not.
#include "store/change_applier.hpp"

#include "store/sqlite_store.hpp"
#include "store/queries.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

namespace freshet::store {
namespace {

namespace json = boost::json;

class ChangeApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("freshet-changes-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    log_ = std::make_unique<sqlite_store>(sqlite_store_options{.path = (dir_ / "f.db").string()});
    log_->set_commit_listener([this](const std::vector<core::event_ptr>& batch) {
      for (const auto& e : batch) events_.push_back(json::parse(e->json).as_object());
    });
  }
  void TearDown() override {
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  change_result apply(change_set cs) {
    std::promise<change_result> p;
    log_->enqueue_changes(std::move(cs), [&](boost::system::error_code ec, change_result r) {
      EXPECT_FALSE(ec) << ec.message();
      p.set_value(r);
    });
    return p.get_future().get();
  }
  static object_changes upserts(std::vector<record_upsert> recs, std::vector<std::string> watch = {}) {
    return {"src", "laptops", std::move(watch), std::move(recs), {}, std::nullopt, {}};
  }
  static change_set one(object_changes oc) {
    change_set cs;
    cs.objects.push_back(std::move(oc));
    return cs;
  }
  std::vector<stored_record> stored() {
    const auto page = log_->read([](connection& db) { return read_snapshot(db, "src", "laptops", {}, "", 100); });
    std::vector<stored_record> out;
    for (const auto& r : page.records) out.push_back({r.id, r.tenant, json::parse(r.data).as_object(), 0});
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<sqlite_store> log_;
  std::vector<json::object> events_;  // filled on the writer thread, read after each apply returns
};

TEST_F(ChangeApplierTest, CreatedThenUnchangedThenUpdatedWithTheFieldDiff) {
  auto r = apply(one(upserts({{"a", "north", {{"status", "Received"}, {"county", "north"}}}})));
  EXPECT_EQ(r.created, 1u);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0]["op"], "created");
  EXPECT_EQ(events_[0]["tenant"], "north");
  EXPECT_EQ(events_[0]["record"], (json::object{{"id", "a"}, {"status", "Received"}, {"county", "north"}}));

  // The same content again (keys in another order): no event.
  r = apply(one(upserts({{"a", "north", {{"county", "north"}, {"status", "Received"}}}})));
  EXPECT_EQ(r.unchanged, 1u);
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(events_.size(), 1u);

  r = apply(one(upserts({{"a", "north", {{"status", "Wiped"}, {"county", "north"}}}})));
  EXPECT_EQ(r.updated, 1u);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1]["op"], "updated");
  EXPECT_EQ(events_[1]["changed"], json::parse(R"({"status":{"old":"Received","new":"Wiped"}})"));
  EXPECT_EQ(r.last_event_id, 2u);
}

TEST_F(ChangeApplierTest, UnwatchedFieldsUpdateTheStoreButMakeNoEvent) {
  apply(one(upserts({{"a", "", {{"status", "Received"}, {"note", "x"}}}}, {"status"})));
  auto r = apply(one(upserts({{"a", "", {{"status", "Received"}, {"note", "y"}}}}, {"status"})));
  EXPECT_EQ(r.updated, 1u);
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(stored().at(0).fields.at("note"), "y");
}

TEST_F(ChangeApplierTest, DeletesAndReconciliationMakeDeletedEvents) {
  apply(one(upserts({{"a", "n", {{"v", 1}}}, {"b", "n", {{"v", 2}}}, {"c", "s", {{"v", 3}}}})));
  events_.clear();
  object_changes del = upserts({});
  del.deletes = {"a", "zz"};  // an unknown id is nothing to delete
  EXPECT_EQ(apply(one(del)).deleted, 1u);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0]["op"], "deleted");
  EXPECT_TRUE(events_[0]["record"].is_null());
  EXPECT_EQ(events_[0]["previous"], (json::object{{"id", "a"}, {"v", 1}}));

  // Reconcile tenant "s" only: "b" (tenant n) is not listed but not in scope.
  object_changes rec = upserts({});
  rec.keep_only = std::vector<std::string>{};
  rec.keep_only_tenant = "s";
  EXPECT_EQ(apply(one(rec)).deleted, 1u);
  ASSERT_EQ(stored().size(), 1u);
  EXPECT_EQ(stored()[0].id, "b");
}

TEST_F(ChangeApplierTest, ARecordThatChangesTenantLeavesTheOldOne) {
  apply(one(upserts({{"a", "north", {{"county", "north"}}}})));
  events_.clear();
  apply(one(upserts({{"a", "south", {{"county", "south"}}}})));
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0]["op"], "deleted");
  EXPECT_EQ(events_[0]["tenant"], "north");
  EXPECT_EQ(events_[0]["moved_to"], "south");
  EXPECT_EQ(events_[1]["op"], "updated");
  EXPECT_EQ(events_[1]["tenant"], "south");
}

TEST_F(ChangeApplierTest, AReplayedDeliveryAppliesNothing) {
  change_set cs = one(upserts({{"a", "", {{"v", 1}}}}));
  cs.delivery = std::make_pair(std::string("src"), std::string("msg_1"));
  cs.audit.push_back({"webhook", "src", "msg_1", "accepted", {}});
  EXPECT_FALSE(apply(cs).duplicate_delivery);
  cs.objects[0].upserts[0].fields["v"] = 2;  // even with other content
  auto r = apply(cs);
  EXPECT_TRUE(r.duplicate_delivery);
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(stored().at(0).fields.at("v"), 1);
  auto audit = log_->read([](connection& db) { return list_audit(db, 0, 10); });
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].outcome, "accepted");
  EXPECT_EQ(audit[1].outcome, "duplicate");
}

TEST_F(ChangeApplierTest, StateAndRecordsSurviveAReopen) {
  change_set cs = one(upserts({{"a", "", {{"v", 1}}}}));
  cs.state.push_back({"src", "watermark:laptops", "123"});
  apply(cs);
  log_.reset();
  log_ = std::make_unique<sqlite_store>(sqlite_store_options{.path = (dir_ / "f.db").string()});
  EXPECT_EQ(log_->read([](connection& db) { return load_sync_state(db, "src"); }).at("watermark:laptops"), "123");
  EXPECT_EQ(stored().size(), 1u);
  EXPECT_EQ(log_->last_id(), 1u);
}

TEST_F(ChangeApplierTest, ASnapshotCarriesTheLogPositionItIsConsistentWith) {
  apply(one(upserts({{"a", "n", {{"v", 1}}}, {"b", "s", {{"v", 2}}}})));
  auto page = log_->read([](connection& db) { return read_snapshot(db, "src", "laptops", {"s"}, "", 10); });
  EXPECT_EQ(page.last_event_id, 2u);
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].id, "b");
}

}  // namespace
}  // namespace freshet::store
