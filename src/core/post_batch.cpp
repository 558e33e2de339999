#include "core/post_batch.hpp"

#include <boost/asio/post.hpp>

namespace freshet::core {

namespace {
thread_local post_batch* open_batch = nullptr;
}

post_batch::post_batch() : outer_(open_batch) { open_batch = this; }

post_batch::~post_batch() {
  open_batch = outer_;
  flush();
}

void post_batch::flush() {
  for (auto& p : pending_)
    boost::asio::post(p.executor, [work = std::move(p.work)]() mutable {
      for (auto& f : work) f();
    });
  pending_.clear();
}

void post_batched(const boost::asio::any_io_executor& ex, std::function<void()> f) {
  post_batch* b = open_batch;
  if (!b) {
    boost::asio::post(ex, std::move(f));
    return;
  }
  // A handful of workers: a linear search is the cheapest lookup.
  for (auto& p : b->pending_)
    if (p.executor == ex) {
      p.work.push_back(std::move(f));
      return;
    }
  b->pending_.push_back({ex, {}});
  b->pending_.back().work.push_back(std::move(f));
}

}  // namespace freshet::core
