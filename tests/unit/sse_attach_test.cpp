// The seam of DESIGN.md's snapshot-plus-stream recipe: a client that reads its
// snapshot when its EventSource opens must get every event committed after
// that. So an SSE stream is attached to the hub before its response head is
// written: at the moment the first byte reaches the client, the stream already
// counts as attached.
#include "hub/streams.hpp"
#include "store/sqlite_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include <filesystem>

namespace freshet::hub {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TEST(SseAttach, TheStreamIsAttachedBeforeTheClientSeesItsHead) {
  const auto dir = std::filesystem::temp_directory_path() / ("freshet-sse-attach-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    asio::io_context ioc(1);
    store::sqlite_store log({.path = (dir / "f.db").string()});
    hub h({ioc.get_executor()}, log.last_id());
    asio::thread_pool blocking(1);
    core::work_gate reads(blocking.get_executor(), 4, 4);
    stream_context ctx{h, log, reads};

    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client(ioc);
    client.connect(acceptor.local_endpoint());
    tcp::socket server_side = acceptor.accept();
    asio::co_spawn(ioc, serve_sse(ctx, std::move(server_side), subscription{}),
                   asio::detached);

    // Step the loop one handler at a time until the head reaches the client.
    std::optional<std::size_t> attached_at_head;
    for (int i = 0; i < 10'000 && !attached_at_head; ++i) {
      ioc.run_one_for(std::chrono::milliseconds(5));
      if (client.available() > 0) attached_at_head = h.stats().sse;
    }
    ASSERT_TRUE(attached_at_head.has_value()) << "no response head arrived";
    EXPECT_EQ(*attached_at_head, 1u);

    h.close_all();
    client.close();
    for (int i = 0; i < 1000 && h.stats().sse != 0; ++i) ioc.run_one_for(std::chrono::milliseconds(5));
    EXPECT_EQ(h.stats().sse, 0u);
    blocking.join();
  }
  std::filesystem::remove_all(dir);
}

// A live stream is callbacks (hub/pump.hpp): the coroutine that set it up has
// returned while the stream is still attached, it still delivers, and it
// detaches (its end action runs) when the client closes.
TEST(SseAttach, ALiveStreamOutlivesItsCoroutineAndEndsWhenTheClientCloses) {
  const auto dir = std::filesystem::temp_directory_path() / ("freshet-sse-live-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    asio::io_context ioc(1);
    store::sqlite_store log({.path = (dir / "f.db").string()});
    hub h({ioc.get_executor()}, log.last_id());
    asio::thread_pool blocking(1);
    core::work_gate reads(blocking.get_executor(), 4, 4);
    stream_context ctx{h, log, reads};

    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client(ioc);
    client.connect(acceptor.local_endpoint());
    bool returned = false;
    asio::co_spawn(ioc, serve_sse(ctx, acceptor.accept(), subscription{}), [&](std::exception_ptr) { returned = true; });
    for (int i = 0; i < 10'000 && !(returned && client.available() > 0); ++i) ioc.run_one_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(returned) << "serve_sse's coroutine is still running once the stream is live";
    EXPECT_EQ(h.stats().sse, 1u);

    h.publish({core::make_event(7, core::event_type::message, "", "", R"({"id":"7","type":"message"})")});
    std::string got;
    for (int i = 0; i < 10'000 && got.find("id: 7\n") == std::string::npos; ++i) {
      ioc.run_one_for(std::chrono::milliseconds(5));
      while (client.available() > 0) {
        char buf[4096];
        got.append(buf, client.read_some(asio::buffer(buf)));
      }
    }
    EXPECT_NE(got.find("id: 7\n"), std::string::npos) << got;

    client.close();
    for (int i = 0; i < 10'000 && h.stats().sse != 0; ++i) ioc.run_one_for(std::chrono::milliseconds(5));
    EXPECT_EQ(h.stats().sse, 0u);
    blocking.join();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace freshet::hub
