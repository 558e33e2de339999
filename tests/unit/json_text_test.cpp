#include "core/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <random>

namespace freshet::core {
namespace {

namespace json = boost::json;

TEST(JsonText, NumbersReadAsPeopleWriteThem) {
  EXPECT_EQ(to_json(json::value(0.0)), "0");
  EXPECT_EQ(to_json(json::value(0.113)), "0.113");
  EXPECT_EQ(to_json(json::value(180.0)), "180");
  EXPECT_EQ(to_json(json::value(12.25)), "12.25");
  EXPECT_EQ(to_json(json::value(-3500.0)), "-3500");
  EXPECT_EQ(to_json(json::value(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(to_json(json::parse(R"({"a":[1,-2,18446744073709551615,true,null,"x"]})")),
            R"({"a":[1,-2,18446744073709551615,true,null,"x"]})");
}

TEST(JsonText, StringsAreEscapedAndNeverHoldARawNewline) {
  EXPECT_EQ(to_json(json::value("a\"b\\c\nd\re\tf\x01g é")), "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g é\"");
}

TEST(JsonText, DoublesReadBackExactly) {
  // The shortest text that reads back the same double (read with from_chars:
  // Boost.JSON 1.81's parser may be an ulp off on its own).
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> real(-1e6, 1e6);
  for (int i = 0; i < 20000; ++i) {
    const double d = real(rng) / static_cast<double>(1 + rng() % 1000);
    const std::string text = to_json(json::value(d));
    double back = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), back);
    ASSERT_TRUE(ec == std::errc() && p == text.data() + text.size()) << text;
    EXPECT_EQ(back, d) << text;
    EXPECT_EQ(text.find('E'), std::string::npos) << text;
  }
}

TEST(JsonText, DocumentsReadBackAsTheSameDocument) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    json::object o;
    o["i"] = static_cast<std::int64_t>(rng());
    o["u"] = static_cast<std::uint64_t>(rng()) | (std::uint64_t{1} << 63);
    o["s"] = std::string(1, static_cast<char>(rng() % 128)) + "x\u00e9";
    o["n"] = json::array{json::value(static_cast<double>(rng() % 100000)), json::value(nullptr), json::value(i % 2 == 0)};
    o["o"] = json::object{{"k", "v"}};
    auto back = json::parse(to_json(o)).as_object();
    back["n"].as_array()[0] = back["n"].as_array()[0].to_number<double>();  // a whole double reads back as an integer
    EXPECT_EQ(json::value(back), json::value(o)) << to_json(o);
  }
}

}  // namespace
}  // namespace freshet::core
