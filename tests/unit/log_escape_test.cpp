#include "app/logging.hpp"

#include <gtest/gtest.h>

namespace freshet::app {
namespace {

TEST(LogEscape, ControlCharactersCannotForgeALineOrWriteANul) {
  using namespace std::string_literals;
  EXPECT_EQ(escape_control_chars("/api/x\nts=forged level=error msg=owned"),
            "/api/x\\nts=forged level=error msg=owned");
  EXPECT_EQ(escape_control_chars("a\0b"s), "a\\x00b");
  EXPECT_EQ(escape_control_chars("\r\t\x1b[31m\x7f"), "\\r\\t\\x1b[31m\\x7f");
  EXPECT_EQ(escape_control_chars("plain /api/objects?x=\"1\" caf\xc3\xa9"), "plain /api/objects?x=\"1\" caf\xc3\xa9");
}

}  // namespace
}  // namespace freshet::app
