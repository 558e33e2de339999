// A config file: every key and value checked with file:line:column, never a crash.
#include "app/config.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool env = [] {
    setenv("FUZZ_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    return true;
  }();
  (void)env;
  (void)freshet::app::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  return 0;
}
