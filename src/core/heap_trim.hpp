// Gives the heap's free pages back to the kernel once a burst of connection
// set-ups (or tear-downs) has ended.
//
// Why: a connection's request buffer and parser (a few KiB) are freed when it
// becomes a live stream, but glibc keeps the freed memory in its arenas, and
// the pages between the stream objects that outlive them stay resident. After
// 1,000 subscribers connect, about 1 MiB of such free pages is 1 KiB of RSS
// per idle connection (docs/benchmarks.md). `malloc_trim` returns whole free
// pages in every arena (madvise), not only the top of the heap.
//
// When: it walks every arena's free lists under their locks, a few
// milliseconds on a large heap, so it runs once the churn has been quiet for
// a whole tick (the server's 1 s ticker), and under churn that never stops at
// most every `max_ticks_dirty` ticks, never on the request path; and only
// once at least `min_churn` connections came or went since the last trim (a
// lone request on a new connection leaves too little behind to be worth it).
//
// Thread-safety: tick() from one thread (the ticker's); counters() from any.
// The trim itself may run while other threads allocate (glibc locks each
// arena in turn).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

namespace freshet::core {

struct heap_trim_counters {
  std::uint64_t trims = 0;           // trims done
  std::uint64_t bytes_released = 0;  // resident bytes they gave back (RSS before less after, when it fell)
};

struct heap_trim_options {
  std::uint64_t min_churn = 64;        // activity since the last trim that makes one worth it
  std::uint32_t max_ticks_dirty = 30;  // under churn that never pauses, trim after this many ticks anyway
};

class heap_trimmer {
 public:
  // `activity` is a count that moves whenever the heap churns (here: the
  // connections opened plus those closed). `trim` gives free memory back and
  // says how many resident bytes it released; by default trim_heap().
  heap_trimmer(std::function<std::uint64_t()> activity, heap_trim_options opts = {},
               std::function<std::size_t()> trim = {});

  // One tick: trims when the activity moved by min_churn or more since the
  // last trim and then stood still for this whole tick, or has kept moving
  // for max_ticks_dirty ticks. Returns whether it trimmed.
  bool tick();

  heap_trim_counters counters() const { return {trims_.load(), bytes_released_.load()}; }

 private:
  std::function<std::uint64_t()> activity_;
  std::function<std::size_t()> trim_;
  const heap_trim_options opts_;
  std::uint64_t last_seen_ = 0;       // the activity at the last tick
  std::uint64_t at_last_trim_ = 0;    // the activity when the last trim ran
  std::uint32_t ticks_moving_ = 0;    // consecutive ticks that saw it move since the last trim
  std::atomic<std::uint64_t> trims_{0}, bytes_released_{0};
};

// malloc_trim(0), measured: the resident bytes it released (0 if RSS did not fall).
std::size_t trim_heap();

// This process's resident set in bytes (/proc/self/statm), 0 if unreadable.
std::size_t resident_bytes();

}  // namespace freshet::core
