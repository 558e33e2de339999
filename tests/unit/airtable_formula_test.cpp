#include "sim/airtable_datasets.hpp"
#include "sim/airtable_formula.hpp"

#include <gtest/gtest.h>

namespace freshet::sim {
namespace {

// Found by fuzz_sim_filters: a deeply nested formula overflowed the stack of
// the simulator's recursive parser. Depth and size are bounded now.
TEST(AirtableFormula, NestingAndLengthAreBounded) {
  const airtable_base base = make_services(1);
  const auto& table = base.tables.front();
  auto error_of = [&](const std::string& text) {
    auto f = airtable_formula::parse(text, table);
    return std::holds_alternative<std::string>(f) ? std::get<std::string>(f) : std::string("(accepted)");
  };
  EXPECT_EQ(error_of(std::string(100'000, '(') + "1" + std::string(100'000, ')')), "the formula is nested too deeply");
  std::string chain = "'a'";
  for (int i = 0; i < 5000; ++i) chain += "&'a'";
  EXPECT_EQ(error_of(chain), "the formula is too long");
  EXPECT_EQ(error_of(std::string(30, '(') + "1=1" + std::string(30, ')')), "(accepted)");
}

}  // namespace
}  // namespace freshet::sim
