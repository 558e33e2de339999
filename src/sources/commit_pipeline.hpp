// Page commits of one fetch, in flight while the next pages are fetched: the
// store's fsync and the upstream's latency overlap instead of adding up. At
// most `max_in_flight` commits are pending (a bound on memory); submit()
// waits only past that. The store applies them in the order submitted.
//
// Thread-safety: one executor (the fetch's).
#pragma once

#include "store/event_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>

namespace freshet::sources {

class commit_pipeline {
 public:
  // Every set submitted is fenced by `fence` (the source's lease), if any.
  commit_pipeline(store::event_store& log, boost::asio::any_io_executor ex, std::size_t max_in_flight,
                  std::optional<store::fence> fence = std::nullopt);

  boost::asio::awaitable<void> submit(store::change_set cs);
  // Waits for every pending commit; throws if any failed.
  boost::asio::awaitable<void> drain();
  // What the commits done so far changed.
  const store::change_result& totals() const { return state_->totals; }

 private:
  std::optional<store::fence> fence_;
  struct state {
    explicit state(boost::asio::any_io_executor ex) : wake(ex) {}
    boost::asio::steady_timer wake;
    std::size_t in_flight = 0;
    store::change_result totals;
    std::optional<boost::system::error_code> failed;
  };
  boost::asio::awaitable<void> wait_below(std::size_t n);

  store::event_store& log_;
  boost::asio::any_io_executor ex_;
  const std::size_t max_in_flight_;
  std::shared_ptr<state> state_;  // shared with the completions, which may outlive a failed fetch
};

}  // namespace freshet::sources
