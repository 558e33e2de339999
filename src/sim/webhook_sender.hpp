// Outbound webhooks of the Knack simulator. Knack has no signed webhook of its
// own (upstream-apis.md 1.9), so this is a Freshet-defined body, signed per
// Standard Webhooks, such as a user would configure from a Knack Flow:
//   {"type":"record.updated","object":"object_1","record_id":"…","timestamp":"…"}
// A receiver should treat it as a hint to fetch, never as the record's data.
//
// Delivery: at most kMaxInFlight at once (beyond: dropped and counted), each
// retried after 1 s and 2 s on a non-2xx answer or no answer (3 attempts).
//
// Thread-safety: send() from any thread; the counters are atomic.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <string>

namespace freshet::sim {

class webhook_sender {
 public:
  static constexpr int kMaxInFlight = 256;

  webhook_sender(boost::asio::any_io_executor ex, std::string url, std::string key);

  // op: created | updated | deleted.
  void send(const std::string& op, const std::string& object, const std::string& record_id);

  std::uint64_t sent() const { return sent_.load(); }       // answered 2xx
  std::uint64_t failed() const { return failed_.load(); }   // gave up after every attempt
  std::uint64_t dropped() const { return dropped_.load(); } // over kMaxInFlight

 private:
  boost::asio::any_io_executor ex_;
  const std::string url_;
  const std::string key_;
  std::atomic<std::uint64_t> next_id_{1}, sent_{0}, failed_{0}, dropped_{0};
  std::atomic<int> in_flight_{0};
};

}  // namespace freshet::sim
