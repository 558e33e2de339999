// Waits for what another thread (a store's writer, a retention pass) does
// in its own time: polls `p` for up to five seconds, a bound that ends the
// test rather than hang it. The answer is p's, never the clock's.
#pragma once

#include <chrono>
#include <thread>

namespace freshet::testing_support {

template <class Pred>
bool eventually(Pred p) {
  for (int i = 0; i < 1000; ++i) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return p();
}

}  // namespace freshet::testing_support
