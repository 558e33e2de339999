#include "sources/rejection_ledger.hpp"

#include <gtest/gtest.h>

namespace freshet::sources {
namespace {

TEST(RejectionLedger, AFloodBecomesOneRowPerReasonAndInterval) {
  rejection_ledger ledger(std::chrono::seconds(10));
  const std::string huge(15'000, 'w');
  const std::int64_t t0 = 1'800'000'000'000;
  for (int i = 0; i < 20'000; ++i) ledger.add("hti", "bad_signature", 401, "No match.", huge, t0 + i / 10);
  ledger.add("hti", "missing_signature", 401, "Needs headers.", "", t0);
  EXPECT_TRUE(ledger.take_due(t0 + 5'000).empty());  // the window is still open

  auto rows = ledger.take_due(t0 + 10'000);
  ASSERT_EQ(rows.size(), 2u);
  const auto& bad = rows[0];  // ordered by (source, code)
  EXPECT_EQ(bad.outcome, "rejected");
  EXPECT_EQ(bad.detail.at("code"), "bad_signature");
  EXPECT_EQ(bad.detail.at("count").as_uint64(), 20'000u);
  const auto& samples = bad.detail.at("sample_webhook_ids").as_array();
  ASSERT_EQ(samples.size(), rejection_ledger::kSamples);
  // Stored values are cut short, with a word of what was cut.
  EXPECT_LT(samples[0].as_string().size(), 100u);
  EXPECT_NE(std::string(samples[0].as_string()).find("(15000 bytes)"), std::string::npos);
  EXPECT_LT(bad.who.size(), 100u);
  EXPECT_TRUE(ledger.take_due(t0 + 20'000).empty());  // taken once
}

TEST(RejectionLedger, ForceTakesOpenWindows) {
  rejection_ledger ledger(std::chrono::seconds(10));
  ledger.add("s", "bad_signature", 401, "m", "id-1", 1000);
  EXPECT_EQ(ledger.take_due(1001, true).size(), 1u);
}

TEST(Truncated, CutsAtAUtf8Boundary) {
  const std::string s = "ab\xc3\xa9" "cd";  // é spans bytes 2-3
  EXPECT_EQ(truncated(s, 3).substr(0, 2), "ab");
  EXPECT_EQ(truncated("short", 10), "short");
}

}  // namespace
}  // namespace freshet::sources
