// Posts that one thread makes in a burst, gathered so that each executor gets
// one post for all of them. The store's writer completes a whole committed
// batch at once (tens of appends, each waiting on some worker's event loop,
// and the hub's delivery to every worker): posted one by one, each post can
// find its worker asleep and wake it again (an eventfd write, an epoll_ctl and
// a context switch each), and every post takes the worker's queue lock. With
// a batch open, a worker is woken once per commit and runs the lot in order.
//
// Use: open a `post_batch` on the stack around the burst; `post_batched()`
// anywhere below it on that thread joins the batch (with no batch open it
// posts at once). The batch posts when it is closed. Functions given for the
// same executor run in the order they were given, in one handler on it;
// executors are told apart by equality, so a strand is never merged with
// another strand or with its inner executor.
//
// Thread-safety: a batch belongs to the thread that opened it; batches nest
// (the inner one posts when it closes).
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <utility>
#include <vector>

namespace freshet::core {

class post_batch {
 public:
  post_batch();
  ~post_batch();
  post_batch(const post_batch&) = delete;
  post_batch& operator=(const post_batch&) = delete;

  // Posts everything gathered so far (the destructor does this too).
  void flush();

 private:
  friend void post_batched(const boost::asio::any_io_executor& ex, std::function<void()> f);
  struct for_executor {
    boost::asio::any_io_executor executor;
    std::vector<std::function<void()>> work;
  };
  std::vector<for_executor> pending_;
  post_batch* outer_;
};

// asio::post(ex, f), or into the thread's open batch.
void post_batched(const boost::asio::any_io_executor& ex, std::function<void()> f);

}  // namespace freshet::core
