#include "core/topic_filter.hpp"

#include <gtest/gtest.h>

namespace freshet::core {
namespace {

struct filter_case {
  const char* what;
  topic_filter filter;
  event_type type;
  const char* object;
  const char* tenant;
  bool expected;
};

TEST(TopicFilter, Matches) {
  const topic_filter all{};
  const topic_filter laptops{{"laptops"}, {}};
  const topic_filter hennepin{{}, {"hennepin"}};
  const topic_filter both{{"laptops", "donations"}, {"hennepin", "ramsey"}};
  const filter_case cases[] = {
      {"everything passes an empty filter", all, event_type::change, "laptops", "ramsey", true},
      {"object in the set", laptops, event_type::change, "laptops", "x", true},
      {"object outside the set", laptops, event_type::change, "donations", "x", false},
      {"an event with no object passes an object filter", laptops, event_type::message, "", "x", true},
      {"tenant in the set", hennepin, event_type::change, "laptops", "hennepin", true},
      {"another tenant's change", hennepin, event_type::change, "laptops", "ramsey", false},
      {"another tenant's message", hennepin, event_type::message, "", "ramsey", false},
      {"a global message reaches tenant subscribers", hennepin, event_type::message, "", "", true},
      {"a global metric reaches tenant subscribers", hennepin, event_type::metric, "", "", true},
      {"a tenant-less record change does not", hennepin, event_type::change, "laptops", "", false},
      {"both sets: both must match", both, event_type::change, "donations", "ramsey", true},
      {"both sets: wrong object", both, event_type::change, "trainings", "ramsey", false},
      {"both sets: wrong tenant", both, event_type::change, "laptops", "anoka", false},
  };
  for (const auto& c : cases) EXPECT_EQ(c.filter.matches(c.type, c.object, c.tenant), c.expected) << c.what;
}

TEST(TopicFilter, LabelNamesTheSets) {
  EXPECT_EQ(topic_filter{}.label(), "all");
  EXPECT_EQ((topic_filter{{"a", "b"}, {}}.label()), "objects=a,b");
  EXPECT_EQ((topic_filter{{}, {"t"}}.label()), "tenants=t");
  EXPECT_EQ((topic_filter{{"a"}, {"t", "u"}}.label()), "objects=a tenants=t,u");
}

}  // namespace
}  // namespace freshet::core
