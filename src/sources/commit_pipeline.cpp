#include "sources/commit_pipeline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace freshet::sources {

namespace asio = boost::asio;

commit_pipeline::commit_pipeline(store::event_store& log, asio::any_io_executor ex, std::size_t max_in_flight,
                                 std::optional<store::fence> fence)
    : log_(log), ex_(ex), max_in_flight_(max_in_flight), fence_(std::move(fence)), state_(std::make_shared<state>(ex)) {}

asio::awaitable<void> commit_pipeline::wait_below(std::size_t n) {
  while (state_->in_flight >= n && !state_->failed) {
    state_->wake.expires_at(asio::steady_timer::time_point::max());
    co_await state_->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (state_->failed) throw std::runtime_error("the store refused a commit: " + state_->failed->message());
}

asio::awaitable<void> commit_pipeline::submit(store::change_set cs) {
  co_await wait_below(max_in_flight_);
  if (fence_) cs.fence = fence_;
  ++state_->in_flight;
  log_.enqueue_changes(std::move(cs), [s = state_, ex = ex_](boost::system::error_code ec, store::change_result r) {
    asio::post(ex, [s, ec, r] {
      --s->in_flight;
      if (ec && !s->failed) s->failed = ec;
      s->totals.created += r.created;
      s->totals.updated += r.updated;
      s->totals.deleted += r.deleted;
      s->totals.unchanged += r.unchanged;
      s->totals.events += r.events;
      s->wake.cancel();
    });
  });
}

asio::awaitable<void> commit_pipeline::drain() { co_await wait_below(1); }

}  // namespace freshet::sources
