#include "core/heap_trim.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

namespace freshet::core {

heap_trimmer::heap_trimmer(std::function<std::uint64_t()> activity, heap_trim_options opts, std::function<std::size_t()> trim)
    : activity_(std::move(activity)),
      trim_(trim ? std::move(trim) : std::function<std::size_t()>(trim_heap)),
      opts_(opts),
      last_seen_(activity_()),
      at_last_trim_(last_seen_) {}

bool heap_trimmer::tick() {
  const std::uint64_t now = activity_();
  const bool moved = now != last_seen_;
  last_seen_ = now;
  if (now - at_last_trim_ < opts_.min_churn) return false;  // too little came and went to be worth a walk
  if (moved && ticks_moving_ < opts_.max_ticks_dirty) {
    ++ticks_moving_;  // the burst goes on: wait for a quiet tick
    return false;
  }
  ticks_moving_ = 0;
  at_last_trim_ = now;
  trims_.fetch_add(1, std::memory_order_relaxed);
  bytes_released_.fetch_add(trim_(), std::memory_order_relaxed);
  return true;
}

std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (got != 2) return 0;
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t trim_heap() {
  const std::size_t before = resident_bytes();
  ::malloc_trim(0);
  const std::size_t after = resident_bytes();
  return before > after ? before - after : 0;
}

}  // namespace freshet::core
