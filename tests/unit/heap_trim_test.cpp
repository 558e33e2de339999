#include "core/heap_trim.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace freshet::core {
namespace {

// The trimmer over a count the test moves, with a trim that only counts.
struct fixture {
  std::uint64_t activity = 0;
  int trims = 0;
  heap_trimmer trimmer;
  explicit fixture(heap_trim_options o = {})
      : trimmer([this] { return activity; }, o, [this] {
          ++trims;
          return std::size_t{4096};
        }) {}
};

TEST(HeapTrimmer, TrimsOnceABurstHasStoodStillForATick) {
  fixture f;
  EXPECT_FALSE(f.trimmer.tick());  // nothing happened
  f.activity += 1000;              // 500 connections opened, 500 closed
  EXPECT_FALSE(f.trimmer.tick());  // still moving during this tick: wait
  f.activity += 200;
  EXPECT_FALSE(f.trimmer.tick());
  EXPECT_TRUE(f.trimmer.tick());  // a quiet tick: the burst is over
  EXPECT_EQ(f.trims, 1);
  EXPECT_FALSE(f.trimmer.tick());  // and only once
  EXPECT_FALSE(f.trimmer.tick());
  EXPECT_EQ(f.trims, 1);
  EXPECT_EQ(f.trimmer.counters().trims, 1u);
  EXPECT_EQ(f.trimmer.counters().bytes_released, 4096u);
}

TEST(HeapTrimmer, LittleChurnIsNotWorthAWalkOfTheHeap) {
  fixture f({.min_churn = 64, .max_ticks_dirty = 30});
  for (int i = 0; i < 10; ++i) {
    f.activity += 2;  // a request on a new connection now and then
    f.trimmer.tick();
    f.trimmer.tick();
  }
  EXPECT_EQ(f.trims, 0);
  f.activity += 44;  // 64 since the start: now it counts
  EXPECT_FALSE(f.trimmer.tick());
  EXPECT_TRUE(f.trimmer.tick());
}

TEST(HeapTrimmer, ChurnThatNeverPausesIsTrimmedEveryFewTicks) {
  fixture f({.min_churn = 64, .max_ticks_dirty = 5});
  int ticks = 0;
  while (f.trims == 0 && ticks < 100) {
    f.activity += 100;
    f.trimmer.tick();
    ++ticks;
  }
  EXPECT_EQ(ticks, 6);  // five ticks waiting for a pause, then trimmed anyway
  f.activity += 100;
  EXPECT_FALSE(f.trimmer.tick());  // and the count starts again
}

// GCC says -fsanitize=address with __SANITIZE_ADDRESS__, clang through __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ADDRESS_SANITIZER 1
#endif
#endif

// The real trim: pages freed between live blocks go back to the kernel.
// (Under the sanitizers malloc is theirs, and glibc's heap holds none of it.)
TEST(HeapTrim, GivesBackFreePagesBetweenLiveBlocks) {
#ifdef UNDER_ADDRESS_SANITIZER
  GTEST_SKIP() << "AddressSanitizer's allocator keeps its own heap";
#endif
  constexpr std::size_t kBlocks = 1000, kBlock = 16 * 1024;  // 16 MiB, each block below the mmap threshold
  std::vector<std::unique_ptr<char[]>> freed, kept;
  for (std::size_t i = 0; i < kBlocks; ++i) {
    freed.emplace_back(new char[kBlock]);
    std::memset(freed.back().get(), 1, kBlock);  // resident
    kept.emplace_back(new char[64]);             // pins the block's neighbours: no coalescing, no top to shrink
  }
  freed.clear();  // free but resident: a heap with holes, as connections leave it
  const std::size_t before = resident_bytes();
  ASSERT_GT(before, 0u);
  const std::size_t released = trim_heap();
  // Each 16 KiB hole holds at least three whole pages the trim can give back.
  EXPECT_GE(released, kBlocks * 3 * 4096 * 8 / 10) << "resident before: " << before;
  EXPECT_LE(resident_bytes(), before - released + 64 * 4096);
}

}  // namespace
}  // namespace freshet::core
