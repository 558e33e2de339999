// What strangers' rejected webhooks cost the store: a bounded amount per
// interval, whatever they send. Rejections are counted in memory per
// (source, reason) and written, once per interval, as one audit row each with
// the count, the window and a few samples whose values are cut short. A flood
// of 20,000 unsigned POSTs with 15 KB ids then writes a handful of small rows,
// not 20,000 large ones.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include "store/change_set.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace freshet::sources {

// A client-supplied value as it may be stored or logged: at most `max` bytes
// (cut at a UTF-8 boundary, with a marker of what was cut).
std::string truncated(std::string_view value, std::size_t max = 128);

class rejection_ledger {
 public:
  static constexpr std::size_t kSamples = 3;  // kept per (source, reason) and interval

  explicit rejection_ledger(std::chrono::milliseconds interval = std::chrono::seconds(10)) : interval_(interval) {}

  // Counts one rejection. `now_ms`: wall-clock milliseconds (injectable).
  void add(const std::string& source, const std::string& code, int status, const std::string& message,
           std::string_view webhook_id, std::int64_t now_ms);

  // The audit rows of every (source, reason) whose window has run for the
  // interval (all of them when `force`), and forgets those windows. Empty when
  // nothing is due.
  std::vector<store::audit_entry> take_due(std::int64_t now_ms, bool force = false);

 private:
  struct window {
    std::int64_t since_ms = 0, last_ms = 0;
    std::uint64_t count = 0;
    int status = 0;
    std::string message;
    std::vector<std::string> samples;  // truncated webhook ids
  };
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, window> open_;  // (source, code); bounded by sources x codes
};

}  // namespace freshet::sources
