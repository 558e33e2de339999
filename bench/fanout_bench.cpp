// The project's own load generator for the hub (issue: fan-out benchmark).
//
//   fanout_bench fanout  --target freshet|nchan --port P --subscribers N --events M
//                        [--rate R | --burst] [--publishers K] [--server-pids a,b]
//                        [--sub-ports a,b]
//   fanout_bench publish --port P --publishers 64 --seconds S
//   fanout_bench get     --port P --path /v1/... [--header "Name: value"]... --connections K --seconds S
//
// fanout: opens N SSE subscribers (source addresses spread over 127.0.0.1-50 so
// the ephemeral port range is no limit), measures the server's memory per idle
// connection, publishes M events at R/s (or all at once with K publishers),
// and reports deliveries/s, delivery latency p50/p99/max (publish sent to
// event parsed, one clock) and loss; with --sub-ports the subscribers are
// spread over several instances (publishes still go to --port) and the
// latency is also given per instance, so the hop between instances shows.
// publish: K concurrent publishers post durable broadcasts for S seconds;
// reports acknowledged publishes/s and the ack latency p50/p99/max. get: K
// keep-alive connections GET one path for S seconds; reports requests/s (how
// fast a simulator serves a page).
// Output: one JSON line, so bench/run.sh can tabulate runs.
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clk = std::chrono::steady_clock;
using asio::use_awaitable;

namespace {

struct options {
  std::string mode;
  std::string target = "freshet";
  unsigned short port = 8080;
  int subscribers = 1000;
  int events = 100;
  double rate = 0;  // 0: burst
  int publishers = 16;
  double seconds = 10;
  std::vector<int> server_pids;
  std::vector<unsigned short> sub_ports;  // empty: subscribers on --port
  std::string path = "/";
  std::vector<std::string> headers;
  int connections = 8;
  double settle_seconds = 10;  // how long to wait for stragglers after the last publish
};

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch()).count(); }

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

long total_rss_kib(const std::vector<int>& pids) {
  long sum = 0;
  for (int p : pids) sum += rss_kib(p);
  return sum;
}

// Numbers after `"t":` and `"s":` in a frame: publish time and sequence.
bool find_number(std::string_view frame, std::string_view key, std::int64_t& out) {
  auto at = frame.find(key);
  if (at == std::string_view::npos) return false;
  const char* p = frame.data() + at + key.size();
  auto [end, ec] = std::from_chars(p, frame.data() + frame.size(), out);
  return ec == std::errc{};
}

struct results {
  std::vector<std::int64_t> latencies_ns;
  std::map<unsigned short, std::vector<std::int64_t>> by_port;  // with --sub-ports
  std::int64_t received = 0;
  std::int64_t duplicates = 0;
  std::int64_t out_of_order = 0;
  clk::time_point last_delivery{};
};

struct subscriber {
  tcp::socket sock;
  unsigned short port = 0;  // the instance it reads from
  std::string buf;
  bool head_done = false;
  bool chunked = false;
  std::string dechunked;
  std::uint64_t last_id = 0;      // Freshet's event ids must rise strictly
  std::vector<bool> seen;          // by publish sequence: a second copy is a duplicate
  explicit subscriber(asio::io_context& ioc) : sock(ioc) {}
};

// Undo HTTP chunked framing (nchan answers EventSource that way), appending the
// payload of every complete chunk in `in` to `out`.
void dechunk(std::string& in, std::string& out) {
  for (;;) {
    auto eol = in.find("\r\n");
    if (eol == std::string::npos) return;
    std::size_t size = 0;
    std::from_chars(in.data(), in.data() + eol, size, 16);
    if (in.size() < eol + 2 + size + 2) return;
    out.append(in, eol + 2, size);
    in.erase(0, eol + 2 + size + 2);
  }
}

void consume_frames(subscriber& s, std::string& data, results& r, bool numeric_ids) {
  std::size_t start = 0;
  for (;;) {
    auto end = data.find("\n\n", start);
    if (end == std::string::npos) break;
    std::string_view frame(data.data() + start, end - start);
    std::int64_t t = 0, seq = 0;
    if (frame.find("data:") != std::string_view::npos && find_number(frame, "\"t\":", t) &&
        find_number(frame, "\"s\":", seq)) {
      r.latencies_ns.push_back(now_ns() - t);
      if (!r.by_port.empty()) r.by_port[s.port].push_back(r.latencies_ns.back());
      ++r.received;
      if (seq >= 0 && static_cast<std::size_t>(seq) < s.seen.size()) {
        if (s.seen[static_cast<std::size_t>(seq)]) ++r.duplicates;
        s.seen[static_cast<std::size_t>(seq)] = true;
      }
      std::int64_t id = 0;
      if (numeric_ids && frame.rfind("id: ", 0) == 0 && find_number(frame, "id: ", id)) {  // nchan's are "time:seq"
        if (static_cast<std::uint64_t>(id) <= s.last_id) ++r.out_of_order;
        s.last_id = static_cast<std::uint64_t>(id);
      }
      r.last_delivery = clk::now();
    }
    start = end + 2;
  }
  data.erase(0, start);
}

asio::awaitable<void> run_subscriber(subscriber& s, const options& o, int index, results& r, int& connected) {
  auto& sock = s.sock;
  sock.open(tcp::v4());
  // Spread over 127.0.0.1..50: each source address has its own ephemeral ports.
  sock.bind({asio::ip::make_address_v4("127.0.0." + std::to_string(1 + index % 50)), 0});
  s.port = o.sub_ports.empty() ? o.port : o.sub_ports[static_cast<std::size_t>(index) % o.sub_ports.size()];
  co_await sock.async_connect({asio::ip::make_address_v4("127.0.0.1"), s.port}, use_awaitable);
  std::string path = o.target == "nchan" ? "/sub/bench" : "/api/events";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
  char chunk[4096];
  for (;;) {
    boost::system::error_code ec;
    std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    s.buf.append(chunk, n);
    if (!s.head_done) {
      auto h = s.buf.find("\r\n\r\n");
      if (h == std::string::npos) continue;
      std::string head = s.buf.substr(0, h);
      if (head.find(" 200 ") == std::string::npos) {
        std::cerr << "subscriber " << index << " refused: " << head.substr(0, head.find("\r\n")) << "\n";
        co_return;
      }
      for (auto& c : head) c = static_cast<char>(std::tolower(c));
      s.chunked = head.find("transfer-encoding: chunked") != std::string::npos;
      s.buf.erase(0, h + 4);
      s.head_done = true;
      ++connected;
    }
    if (s.chunked) {
      dechunk(s.buf, s.dechunked);
      consume_frames(s, s.dechunked, r, o.target == "freshet");
    } else {
      consume_frames(s, s.buf, r, o.target == "freshet");
    }
  }
}

// One keep-alive publisher connection: POSTs and waits for each answer.
struct publisher {
  tcp::socket sock;
  std::string rbuf;
  explicit publisher(asio::io_context& ioc) : sock(ioc) {}
};

asio::awaitable<bool> publish_one(publisher& p, const options& o, std::int64_t seq) {
  std::string body = "{\"t\":" + std::to_string(now_ns()) + ",\"s\":" + std::to_string(seq) + "}";
  if (o.target == "freshet") body = "{\"message\":" + body + "}";
  std::string path = o.target == "nchan" ? "/pub/bench" : "/api/broadcast";
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  co_await asio::async_write(p.sock, asio::buffer(req), use_awaitable);
  // Read one response: head, then Content-Length bytes.
  char chunk[4096];
  for (;;) {
    auto h = p.rbuf.find("\r\n\r\n");
    if (h != std::string::npos) {
      std::string head = p.rbuf.substr(0, h);
      std::size_t len = 0;
      auto cl = head.find("Content-Length: ");
      if (cl == std::string::npos) cl = head.find("content-length: ");
      if (cl != std::string::npos) len = std::stoul(head.substr(cl + 16));
      if (p.rbuf.size() >= h + 4 + len) {
        bool ok = head.find(" 200 ") != std::string::npos || head.find(" 201 ") != std::string::npos ||
                  head.find(" 202 ") != std::string::npos;
        p.rbuf.erase(0, h + 4 + len);
        co_return ok;
      }
    }
    std::size_t n = co_await p.sock.async_read_some(asio::buffer(chunk), use_awaitable);
    p.rbuf.append(chunk, n);
  }
}

asio::awaitable<void> connect_publisher(publisher& p, const options& o) {
  co_await p.sock.async_connect({asio::ip::make_address_v4("127.0.0.1"), o.port}, use_awaitable);
  p.sock.set_option(tcp::no_delay(true));
}

double percentile(std::vector<std::int64_t>& v, double q) {
  if (v.empty()) return 0;
  std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

asio::awaitable<void> sleep_for(clk::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(use_awaitable);
}

asio::awaitable<void> fanout(asio::io_context& ioc, const options& o) {
  results r;
  r.latencies_ns.reserve(static_cast<std::size_t>(o.subscribers) * static_cast<std::size_t>(o.events));
  for (auto port : o.sub_ports) r.by_port[port];
  const long rss_before = total_rss_kib(o.server_pids);
  std::vector<std::unique_ptr<subscriber>> subs;
  int connected = 0;
  const auto t_connect = clk::now();
  for (int i = 0; i < o.subscribers; ++i) {
    subs.push_back(std::make_unique<subscriber>(ioc));
    subs.back()->seen.assign(static_cast<std::size_t>(o.events), false);
    asio::co_spawn(ioc, run_subscriber(*subs.back(), o, i, r, connected), [i](std::exception_ptr e) {
      if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) { std::cerr << "subscriber " << i << ": " << x.what() << "\n"; }
    });
    if (i % 200 == 199) co_await sleep_for(std::chrono::milliseconds(5));  // stay under the listen backlog
  }
  for (int w = 0; w < 600 && connected < o.subscribers; ++w) co_await sleep_for(std::chrono::milliseconds(100));
  const double connect_secs = std::chrono::duration<double>(clk::now() - t_connect).count();
  // Let the server settle: attach, free parse buffers, and give the pages they
  // leave free back once a whole 1 s tick has passed with no connection
  // coming or going (core/heap_trim.hpp): within 2 s.
  co_await sleep_for(std::chrono::seconds(3));
  const long rss_after = total_rss_kib(o.server_pids);

  std::vector<std::unique_ptr<publisher>> pubs;
  const int npub = o.rate > 0 ? std::max(1, o.publishers) : o.publishers;
  for (int i = 0; i < npub; ++i) {
    pubs.push_back(std::make_unique<publisher>(ioc));
    co_await connect_publisher(*pubs.back(), o);
  }
  std::int64_t acked = 0, failed = 0;
  const auto t_pub = clk::now();
  if (o.rate > 0) {
    // Paced: event k goes out at start + k/R on any publisher connection that is
    // free (one request in flight per connection), so a slow answer does not
    // slow the pace while connections remain.
    std::vector<int> free_pubs;
    for (int i = 0; i < npub; ++i) free_pubs.push_back(i);
    for (int k = 0; k < o.events; ++k) {
      auto due = t_pub + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * k / o.rate));
      if (due > clk::now()) co_await sleep_for(due - clk::now());
      while (free_pubs.empty()) co_await sleep_for(std::chrono::microseconds(200));
      const int which = free_pubs.back();
      free_pubs.pop_back();
      asio::co_spawn(ioc,
                     [&, k, which]() -> asio::awaitable<void> {
                       (co_await publish_one(*pubs[static_cast<std::size_t>(which)], o, k)) ? ++acked : ++failed;
                       free_pubs.push_back(which);
                     },
                     asio::detached);
    }
    while (static_cast<int>(free_pubs.size()) < npub) co_await sleep_for(std::chrono::milliseconds(1));
  } else {
    int done = 0;
    for (int i = 0; i < npub; ++i) {
      asio::co_spawn(ioc,
                     [&, i]() -> asio::awaitable<void> {
                       for (int k = i; k < o.events; k += npub)
                         (co_await publish_one(*pubs[static_cast<std::size_t>(i)], o, k)) ? ++acked : ++failed;
                       ++done;
                     },
                     asio::detached);
    }
    while (done < npub) co_await sleep_for(std::chrono::milliseconds(1));
  }
  const double publish_secs = std::chrono::duration<double>(clk::now() - t_pub).count();
  const std::int64_t expected = static_cast<std::int64_t>(o.subscribers) * acked;
  const auto settle_until = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.settle_seconds));
  while (r.received < expected && clk::now() < settle_until) co_await sleep_for(std::chrono::milliseconds(10));
  const double deliver_secs = std::chrono::duration<double>(r.last_delivery - t_pub).count();

  std::printf(
      "{\"mode\":\"fanout\",\"target\":\"%s\",\"subscribers\":%d,\"connected\":%d,\"connect_seconds\":%.2f,"
      "\"events\":%d,\"rate\":%.0f,\"publishers\":%d,\"acked\":%lld,\"publish_failed\":%lld,"
      "\"publish_seconds\":%.3f,\"deliveries\":%lld,\"expected\":%lld,\"loss\":%lld,\"duplicates\":%lld,\"out_of_order\":%lld,"
      "\"deliveries_per_second\":%.0f,\"latency_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
      "\"server_rss_kib\":{\"before\":%ld,\"after_connect\":%ld},\"bytes_per_connection\":%.0f}\n",
      o.target.c_str(), o.subscribers, connected, connect_secs, o.events, o.rate, npub, (long long)acked,
      (long long)failed, publish_secs, (long long)r.received, (long long)expected,
      (long long)(expected - r.received), (long long)r.duplicates, (long long)r.out_of_order,
      deliver_secs > 0 ? static_cast<double>(r.received) / deliver_secs : 0.0, percentile(r.latencies_ns, 0.5),
      percentile(r.latencies_ns, 0.99), percentile(r.latencies_ns, 1.0), rss_before, rss_after,
      connected ? 1024.0 * static_cast<double>(rss_after - rss_before) / connected : 0.0);
  if (!r.by_port.empty()) {
    std::string per = "{\"mode\":\"fanout_by_port\"";
    for (auto& [port, v] : r.by_port) {
      char one[160];
      std::snprintf(one, sizeof one, ",\"%u\":{\"deliveries\":%zu,\"p50\":%.2f,\"p99\":%.2f}", port, v.size(),
                    percentile(v, 0.5), percentile(v, 0.99));
      per += one;
    }
    std::printf("%s}\n", per.c_str());
  }
  std::fflush(stdout);
  for (auto& s : subs) {
    boost::system::error_code ec;
    s->sock.close(ec);
  }
  for (auto& p : pubs) {
    boost::system::error_code ec;
    p->sock.close(ec);
  }
}

asio::awaitable<void> publish_throughput(asio::io_context& ioc, const options& o) {
  std::vector<std::unique_ptr<publisher>> pubs;
  for (int i = 0; i < o.publishers; ++i) {
    pubs.push_back(std::make_unique<publisher>(ioc));
    co_await connect_publisher(*pubs.back(), o);
  }
  std::int64_t acked = 0, failed = 0;
  std::vector<std::int64_t> ack_ns;  // each publish: sent to answered
  int done = 0;
  const auto start = clk::now();
  const auto stop = start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.seconds));
  for (int i = 0; i < o.publishers; ++i) {
    asio::co_spawn(ioc,
                   [&, i]() -> asio::awaitable<void> {
                     std::int64_t k = 0;
                     while (clk::now() < stop) {
                       const std::int64_t sent = now_ns();
                       const bool ok = co_await publish_one(*pubs[static_cast<std::size_t>(i)], o, k++);
                       ok ? ++acked : ++failed;
                       if (ok) ack_ns.push_back(now_ns() - sent);
                     }
                     ++done;
                   },
                   asio::detached);
  }
  while (done < o.publishers) co_await sleep_for(std::chrono::milliseconds(5));
  const double secs = std::chrono::duration<double>(clk::now() - start).count();
  std::printf("{\"mode\":\"publish\",\"target\":\"%s\",\"publishers\":%d,\"seconds\":%.2f,\"acked\":%lld,\"failed\":%lld,"
              "\"acked_per_second\":%.0f,\"ack_latency_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f}}\n",
              o.target.c_str(), o.publishers, secs, (long long)acked, (long long)failed, static_cast<double>(acked) / secs,
              percentile(ack_ns, 0.5), percentile(ack_ns, 0.99), percentile(ack_ns, 1.0));
  std::fflush(stdout);
}

// Reads one response on a keep-alive connection; returns its status and
// adds its body length to `bytes`.
asio::awaitable<int> read_response(publisher& p, std::uint64_t& bytes) {
  char chunk[65536];
  for (;;) {
    auto h = p.rbuf.find("\r\n\r\n");
    if (h != std::string::npos) {
      std::string head = p.rbuf.substr(0, h);
      for (auto& c : head) c = static_cast<char>(std::tolower(c));
      std::size_t len = 0;
      auto cl = head.find("content-length: ");
      if (cl != std::string::npos) len = std::stoul(head.substr(cl + 16));
      if (p.rbuf.size() >= h + 4 + len) {
        const int status = std::stoi(head.substr(9, 3));
        p.rbuf.erase(0, h + 4 + len);
        bytes += len;
        co_return status;
      }
    }
    std::size_t n = co_await p.sock.async_read_some(asio::buffer(chunk), use_awaitable);
    p.rbuf.append(chunk, n);
  }
}

asio::awaitable<void> get_throughput(asio::io_context& ioc, const options& o) {
  std::string req = "GET " + o.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : o.headers) req += h + "\r\n";
  req += "\r\n";
  std::vector<std::unique_ptr<publisher>> conns;
  for (int i = 0; i < o.connections; ++i) {
    conns.push_back(std::make_unique<publisher>(ioc));
    co_await connect_publisher(*conns.back(), o);
  }
  std::int64_t ok = 0, other = 0;
  std::uint64_t bytes = 0;
  int done = 0, closed = 0;
  const auto start = clk::now();
  const auto stop = start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.seconds));
  for (int i = 0; i < o.connections; ++i) {
    asio::co_spawn(ioc,
                   [&, i]() -> asio::awaitable<void> {
                     auto& c = *conns[static_cast<std::size_t>(i)];
                     // A connection the server closes (nginx does after
                     // keepalive_requests) ends that connection's loop, counted,
                     // and never leaves the run waiting for it.
                     try {
                       while (clk::now() < stop) {
                         co_await asio::async_write(c.sock, asio::buffer(req), use_awaitable);
                         (co_await read_response(c, bytes)) == 200 ? ++ok : ++other;
                       }
                     } catch (const std::exception&) {
                       ++closed;
                     }
                     ++done;
                   },
                   asio::detached);
  }
  while (done < o.connections) co_await sleep_for(std::chrono::milliseconds(5));
  const double secs = std::chrono::duration<double>(clk::now() - start).count();
  std::printf("{\"mode\":\"get\",\"path\":\"%s\",\"connections\":%d,\"seconds\":%.2f,\"ok\":%lld,\"other\":%lld,"
              "\"closed\":%d,\"requests_per_second\":%.0f,\"mib_per_second\":%.1f}\n",
              o.path.c_str(), o.connections, secs, (long long)ok, (long long)other, closed, static_cast<double>(ok) / secs,
              static_cast<double>(bytes) / secs / (1 << 20));
  std::fflush(stdout);
}

options parse(int argc, char** argv) {
  options o;
  if (argc < 2) throw std::runtime_error("usage: fanout_bench fanout|publish [options]");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--target") o.target = next();
    else if (a == "--port") o.port = static_cast<unsigned short>(std::stoi(next()));
    else if (a == "--subscribers") o.subscribers = std::stoi(next());
    else if (a == "--events") o.events = std::stoi(next());
    else if (a == "--rate") o.rate = std::stod(next());
    else if (a == "--burst") o.rate = 0;
    else if (a == "--publishers") o.publishers = std::stoi(next());
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--settle") o.settle_seconds = std::stod(next());
    else if (a == "--path") o.path = next();
    else if (a == "--header") o.headers.push_back(next());
    else if (a == "--connections") o.connections = std::stoi(next());
    else if (a == "--sub-ports") {
      std::stringstream ss(next());
      std::string p;
      while (std::getline(ss, p, ',')) o.sub_ports.push_back(static_cast<unsigned short>(std::stoi(p)));
    } else if (a == "--server-pids") {
      std::stringstream ss(next());
      std::string p;
      while (std::getline(ss, p, ',')) o.server_pids.push_back(std::stoi(p));
    } else throw std::runtime_error("unknown option " + a);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    options o = parse(argc, argv);
    asio::io_context ioc(1);
    asio::co_spawn(ioc,
                   o.mode == "publish" ? publish_throughput(ioc, o)
                   : o.mode == "get"   ? get_throughput(ioc, o)
                                       : fanout(ioc, o),
                   [&](std::exception_ptr e) {
                     if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) { std::cerr << "bench: " << x.what() << "\n"; }
                     ioc.stop();
                   });
    ioc.run();
  } catch (const std::exception& e) {
    std::cerr << "fanout_bench: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
