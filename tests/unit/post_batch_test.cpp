#include "core/post_batch.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <gtest/gtest.h>

#include <string>

namespace freshet::core {
namespace {

namespace asio = boost::asio;

TEST(PostBatch, EachExecutorGetsOnePostThatRunsItsWorkInOrder) {
  asio::io_context a, b;
  std::string ran_a, ran_b;
  {
    post_batch batch;
    for (char c : std::string("xyz")) post_batched(a.get_executor(), [&ran_a, c] { ran_a += c; });
    post_batched(b.get_executor(), [&ran_b] { ran_b += '1'; });
    post_batched(b.get_executor(), [&ran_b] { ran_b += '2'; });
    // Nothing is posted while the batch is open.
    EXPECT_EQ(a.poll(), 0u);
    EXPECT_EQ(b.poll(), 0u);
  }
  a.restart();
  b.restart();
  EXPECT_EQ(a.poll(), 1u);  // one handler ran all three
  EXPECT_EQ(b.poll(), 1u);
  EXPECT_EQ(ran_a, "xyz");
  EXPECT_EQ(ran_b, "12");
}

TEST(PostBatch, WithNoBatchOpenEveryCallPostsAtOnce) {
  asio::io_context a;
  int ran = 0;
  for (int i = 0; i < 3; ++i) post_batched(a.get_executor(), [&ran] { ++ran; });
  EXPECT_EQ(a.poll(), 3u);
  EXPECT_EQ(ran, 3);
}

TEST(PostBatch, AStrandIsNotMergedWithItsInnerExecutor) {
  asio::io_context a;
  auto strand = asio::make_strand(a.get_executor());
  std::string ran;
  {
    post_batch batch;
    post_batched(a.get_executor(), [&ran] { ran += 'p'; });
    post_batched(strand, [&ran] { ran += 's'; });
    post_batched(a.get_executor(), [&ran] { ran += 'q'; });
  }
  a.run();
  // Two posts: the plain one (p, q in order) and the strand's.
  EXPECT_EQ(ran.size(), 3u);
  EXPECT_LT(ran.find('p'), ran.find('q'));
  EXPECT_NE(ran.find('s'), std::string::npos);
}

TEST(PostBatch, BatchesNestAndTheInnerPostsWhenItCloses) {
  asio::io_context a;
  std::string ran;
  {
    post_batch outer;
    post_batched(a.get_executor(), [&ran] { ran += 'o'; });
    {
      post_batch inner;
      post_batched(a.get_executor(), [&ran] { ran += 'i'; });
    }
    EXPECT_EQ(a.poll(), 1u);  // the inner batch's post
    EXPECT_EQ(ran, "i");
    a.restart();
    post_batched(a.get_executor(), [&ran] { ran += 'p'; });  // the outer batch again
    EXPECT_EQ(a.poll(), 0u);
  }
  a.restart();
  EXPECT_EQ(a.poll(), 1u);
  EXPECT_EQ(ran, "iop");
}

}  // namespace
}  // namespace freshet::core
