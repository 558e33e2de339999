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

// One hub on one io_context over a real SQLite log, and a connected socket
// pair: `server_side` for serve_sse, `client` to read what it writes.
class SseAttach : public ::testing::Test {
 protected:
  // Made first and removed last, after the log has closed.
  struct temp_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("freshet-sse-attach-" + std::to_string(::getpid()));
    temp_dir() {
      std::filesystem::remove_all(path);
      std::filesystem::create_directories(path);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
  };
  ~SseAttach() override { blocking.join(); }
  // Runs the loop one handler at a time until `done()` or about 50 s.
  template <class Done>
  void step_until(Done done) {
    for (int i = 0; i < 10'000 && !done(); ++i) ioc.run_one_for(std::chrono::milliseconds(5));
  }

  const temp_dir dir;
  asio::io_context ioc{1};
  store::sqlite_store log{{.path = (dir.path / "f.db").string()}};
  hub h{{ioc.get_executor()}, log.last_id()};
  asio::thread_pool blocking{1};
  core::work_gate reads{blocking.get_executor(), 4, 4};
  stream_context ctx{h, log, reads};
  tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
  tcp::socket client = connected_client();
  tcp::socket server_side = acceptor.accept();

 private:
  tcp::socket connected_client() {
    tcp::socket c(ioc);
    c.connect(acceptor.local_endpoint());
    return c;
  }
};

TEST_F(SseAttach, TheStreamIsAttachedBeforeTheClientSeesItsHead) {
  asio::co_spawn(ioc, serve_sse(ctx, std::move(server_side), subscription{}), asio::detached);

  // Step the loop one handler at a time until the head reaches the client.
  std::optional<std::size_t> attached_at_head;
  step_until([&] {
    if (client.available() > 0) attached_at_head = h.stats().sse;
    return attached_at_head.has_value();
  });
  ASSERT_TRUE(attached_at_head.has_value()) << "no response head arrived";
  EXPECT_EQ(*attached_at_head, 1u);

  h.close_all();
  client.close();
  step_until([&] { return h.stats().sse == 0; });
  EXPECT_EQ(h.stats().sse, 0u);
}

// A live stream is callbacks (hub/pump.hpp): the coroutine that set it up has
// returned while the stream is still attached, it still delivers (and then
// lets go of the event), and it detaches (its end action runs) when the
// client closes.
TEST_F(SseAttach, ALiveStreamOutlivesItsCoroutineAndEndsWhenTheClientCloses) {
  bool returned = false;
  asio::co_spawn(ioc, serve_sse(ctx, std::move(server_side), subscription{}), [&](std::exception_ptr) { returned = true; });
  step_until([&] { return returned && client.available() > 0; });
  ASSERT_TRUE(returned) << "serve_sse's coroutine is still running once the stream is live";
  EXPECT_EQ(h.stats().sse, 1u);

  const auto ev = core::make_event(7, core::event_type::message, "", "", R"({"id":"7","type":"message"})");
  h.publish({ev});
  std::string got;
  step_until([&] {
    while (client.available() > 0) {
      char buf[4096];
      got.append(buf, client.read_some(asio::buffer(buf)));
    }
    return got.find("id: 7\n") != std::string::npos;
  });
  EXPECT_NE(got.find("id: 7\n"), std::string::npos) << got;
  // Once written, the idle stream holds no reference to what it delivered.
  step_until([&] { return ev.use_count() == 1; });
  EXPECT_EQ(ev.use_count(), 1);

  client.close();
  step_until([&] { return h.stats().sse == 0; });
  EXPECT_EQ(h.stats().sse, 0u);
}

}  // namespace
}  // namespace freshet::hub
