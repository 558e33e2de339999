// A second, independent load generator for the hub's fan-out (issue #15:
// "a second, independent one written for the purpose in the style of a plain
// epoll client (single-threaded, one process), so the result does not rest on
// one tool"). It shares no code with fanout_bench: raw non-blocking sockets,
// one level-triggered epoll loop, no Asio, no coroutines.
//
//   epoll_sse_bench --target freshet|nchan --port P --subscribers N --events M
//                   [--publishers K] [--server-pids a,b] [--settle S]
//
// N subscribers (HTTP/1.0, so neither server frames the stream in chunks)
// read SSE; once every one has its 200, K keep-alive publishers post M events
// as fast as answers come (one request in flight each). It reports
// deliveries/s (first publish to last delivery), latency p50/p99/max (publish
// sent to frame parsed, one monotonic clock), loss, the server's RSS per idle
// connection, and the server's CPU per delivery: the on-CPU nanoseconds of
// every thread of the server processes (/proc/PID/task/*/schedstat) from the
// first publish to the last delivery, divided by the deliveries.
// Output: one JSON line.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

// The on-CPU time of every thread of `pid`, ns (schedstat's first field).
std::int64_t cpu_ns(int pid) {
  std::int64_t sum = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    std::int64_t on_cpu = 0;
    if (f >> on_cpu) sum += on_cpu;
  }
  closedir(d);
  return sum;
}

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

struct config {
  bool nchan = false;
  int port = 0;
  int subscribers = 1000;
  int events = 1000;
  int publishers = 16;
  double settle_seconds = 15;
  std::vector<int> pids;
};

enum class kind : std::uint8_t { subscriber, publisher };

struct conn {
  kind what = kind::subscriber;
  int fd = -1;
  bool head_seen = false;
  std::string out;       // bytes still to write
  std::string in;        // bytes read and not yet consumed
  std::int64_t seq = 0;  // a publisher's next event
};

struct totals {
  int ready = 0;  // subscribers past their 200
  std::int64_t deliveries = 0, acked = 0, refused = 0, published = 0;
  std::int64_t first_publish = 0, last_delivery = 0;
  std::vector<std::int64_t> latency;
};

int open_socket(int index, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  // Source addresses 127.0.0.1..50: each has its own ephemeral ports.
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0x7f000001u + static_cast<std::uint32_t>(index % 50));
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) < 0) die("bind");
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  dst.sin_addr.s_addr = htonl(0x7f000001u);
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0 && errno != EINPROGRESS) die("connect");
  return fd;
}

void watch(int ep, conn& c, std::uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &c;
  if (epoll_ctl(ep, op, c.fd, &ev) < 0) die("epoll_ctl");
}

// Writes what is pending; asks for EPOLLOUT only while some is left.
void flush(int ep, conn& c) {
  while (!c.out.empty()) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) break;
      die("send");
    }
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  watch(ep, c, EPOLLIN | (c.out.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT)), EPOLL_CTL_MOD);
}

void queue_publish(const config& cfg, conn& p, totals& t) {
  char body[96];
  const int len = std::snprintf(body, sizeof body, cfg.nchan ? "{\"t\":%lld,\"s\":%lld}" : "{\"message\":{\"t\":%lld,\"s\":%lld}}",
                                static_cast<long long>(mono_ns()), static_cast<long long>(p.seq));
  char head[192];
  const int hlen = std::snprintf(head, sizeof head,
                                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %d\r\n\r\n",
                                 cfg.nchan ? "/pub/bench" : "/api/broadcast", len);
  p.out.append(head, static_cast<std::size_t>(hlen)).append(body, static_cast<std::size_t>(len));
  if (t.first_publish == 0) t.first_publish = mono_ns();
  ++t.published;
}

// The SSE frames in a subscriber's bytes: each event's "t" is its publish time.
void consume_stream(conn& s, totals& t) {
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = s.in.find("\n\n", start);
    if (end == std::string::npos) break;
    const std::size_t at = s.in.find("\"t\":", start);
    if (at != std::string::npos && at < end) {
      const std::int64_t sent = std::strtoll(s.in.c_str() + at + 4, nullptr, 10);
      const std::int64_t now = mono_ns();
      t.latency.push_back(now - sent);
      ++t.deliveries;
      t.last_delivery = now;
    }
    start = end + 2;
  }
  s.in.erase(0, start);
}

// One answer to a publisher: head, then Content-Length bytes. True when whole.
bool take_answer(conn& p, totals& t) {
  const std::size_t h = p.in.find("\r\n\r\n");
  if (h == std::string::npos) return false;
  std::size_t len = 0;
  for (const char* name : {"Content-Length:", "content-length:"}) {
    const std::size_t at = p.in.find(name);
    if (at != std::string::npos && at < h) len = std::strtoul(p.in.c_str() + at + 15, nullptr, 10);
  }
  if (p.in.size() < h + 4 + len) return false;
  const bool ok = p.in.compare(9, 1, "2") == 0;  // "HTTP/1.1 2xx"
  ok ? ++t.acked : ++t.refused;
  p.in.erase(0, h + 4 + len);
  return true;
}

double percentile_ms(std::vector<std::int64_t>& v, double q) {
  if (v.empty()) return 0;
  const auto k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

config parse(int argc, char** argv) {
  config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--target") c.nchan = v == "nchan";
    else if (k == "--port") c.port = std::atoi(v.c_str());
    else if (k == "--subscribers") c.subscribers = std::atoi(v.c_str());
    else if (k == "--events") c.events = std::atoi(v.c_str());
    else if (k == "--publishers") c.publishers = std::atoi(v.c_str());
    else if (k == "--settle") c.settle_seconds = std::atof(v.c_str());
    else if (k == "--server-pids") {
      for (std::size_t p = 0; p < v.size();) {
        c.pids.push_back(std::atoi(v.c_str() + p));
        const auto comma = v.find(',', p);
        p = comma == std::string::npos ? v.size() : comma + 1;
      }
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  if (c.port == 0) {
    std::fprintf(stderr, "usage: epoll_sse_bench --target freshet|nchan --port P --subscribers N --events M "
                         "[--publishers K] [--server-pids a,b] [--settle S]\n");
    std::exit(2);
  }
  return c;
}

std::int64_t servers_cpu_ns(const config& cfg) {
  std::int64_t sum = 0;
  for (int p : cfg.pids) sum += cpu_ns(p);
  return sum;
}

long servers_rss_kib(const config& cfg) {
  long sum = 0;
  for (int p : cfg.pids) sum += rss_kib(p);
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const config cfg = parse(argc, argv);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  std::vector<conn> conns(static_cast<std::size_t>(cfg.subscribers + cfg.publishers));
  totals t;
  t.latency.reserve(static_cast<std::size_t>(cfg.subscribers) * static_cast<std::size_t>(cfg.events));
  const long rss_before = servers_rss_kib(cfg);
  const std::string sub_request = std::string("GET ") + (cfg.nchan ? "/sub/bench" : "/api/events") +
                                  " HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";

  // Connects in steps of 200 so the listen backlog never overflows.
  int opened = 0;
  auto open_more = [&] {
    for (int k = 0; k < 200 && opened < cfg.subscribers; ++k, ++opened) {
      conn& c = conns[static_cast<std::size_t>(opened)];
      c.fd = open_socket(opened, cfg.port);
      c.out = sub_request;
      watch(ep, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
    }
  };
  open_more();

  std::vector<epoll_event> ready(1024);
  std::vector<char> buf(1 << 16);
  bool publishing = false;
  std::int64_t cpu_start = 0, rss_after = 0, settle_deadline = 0;
  const std::int64_t give_up = mono_ns() + 120'000'000'000;  // connecting never takes this long
  int pubs_done = 0;

  for (;;) {
    const int n = epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), 10);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      conn& c = *static_cast<conn*>(ready[static_cast<std::size_t>(i)].data.ptr);
      if (ready[static_cast<std::size_t>(i)].events & EPOLLOUT) flush(ep, c);
      if (!(ready[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      for (;;) {
        const ssize_t got = recv(c.fd, buf.data(), buf.size(), 0);
        if (got < 0 && errno == EAGAIN) break;
        if (got <= 0) {  // closed by the server
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          close(c.fd);
          c.fd = -1;
          break;
        }
        c.in.append(buf.data(), static_cast<std::size_t>(got));
        if (static_cast<std::size_t>(got) < buf.size()) break;  // drained (level-triggered: any rest comes again)
      }
      if (c.what == kind::subscriber) {
        if (!c.head_seen) {
          const std::size_t h = c.in.find("\r\n\r\n");
          if (h == std::string::npos) continue;
          if (c.in.compare(9, 3, "200") != 0) {
            std::fprintf(stderr, "subscriber refused: %.40s\n", c.in.c_str());
            return 1;
          }
          c.head_seen = true;
          c.in.erase(0, h + 4);
          ++t.ready;
        }
        consume_stream(c, t);
      } else {
        while (take_answer(c, t)) {
          c.seq += cfg.publishers;
          if (c.seq < cfg.events) {
            queue_publish(cfg, c, t);
            flush(ep, c);
          } else {
            ++pubs_done;
          }
        }
      }
    }
    const std::int64_t now = mono_ns();
    if (!publishing) {
      if (opened < cfg.subscribers && opened - t.ready < 400) open_more();
      if (t.ready == cfg.subscribers) {
        // Let the server settle, then measure and go: it frees each request's
        // parse buffers as the stream starts, and gives the pages they leave
        // free back to the kernel once a whole 1 s tick has passed with no
        // connection coming or going (core/heap_trim.hpp): within 2 s.
        timespec pause{3, 0};
        nanosleep(&pause, nullptr);
        rss_after = servers_rss_kib(cfg);
        for (int p = 0; p < cfg.publishers; ++p) {
          conn& c = conns[static_cast<std::size_t>(cfg.subscribers + p)];
          c.what = kind::publisher;
          c.seq = p;
          c.fd = open_socket(p, cfg.port);
          watch(ep, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
        }
        cpu_start = servers_cpu_ns(cfg);
        for (int p = 0; p < cfg.publishers; ++p) {
          conn& c = conns[static_cast<std::size_t>(cfg.subscribers + p)];
          if (c.seq < cfg.events) queue_publish(cfg, c, t);
          else ++pubs_done;
        }
        publishing = true;
      } else if (now > give_up) {
        std::fprintf(stderr, "only %d of %d subscribers connected\n", t.ready, cfg.subscribers);
        return 1;
      }
      continue;
    }
    const std::int64_t expected = static_cast<std::int64_t>(cfg.subscribers) * t.acked;
    if (pubs_done == cfg.publishers && settle_deadline == 0)
      settle_deadline = now + static_cast<std::int64_t>(cfg.settle_seconds * 1e9);
    if (pubs_done == cfg.publishers && (t.deliveries >= expected || now > settle_deadline)) break;
  }
  // The server's CPU up to now includes the settle wait only when deliveries
  // were missing; with none missing it ends within 10 ms of the last one.
  const std::int64_t cpu = servers_cpu_ns(cfg) - cpu_start;
  const std::int64_t expected = static_cast<std::int64_t>(cfg.subscribers) * t.acked;
  const double secs = static_cast<double>(t.last_delivery - t.first_publish) / 1e9;
  std::printf(
      "{\"mode\":\"epoll_fanout\",\"target\":\"%s\",\"subscribers\":%d,\"events\":%d,\"publishers\":%d,"
      "\"acked\":%lld,\"refused\":%lld,\"deliveries\":%lld,\"loss\":%lld,\"deliveries_per_second\":%.0f,"
      "\"latency_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},\"server_cpu_seconds\":%.3f,"
      "\"server_cpu_us_per_delivery\":%.3f,\"bytes_per_connection\":%.0f}\n",
      cfg.nchan ? "nchan" : "freshet", cfg.subscribers, cfg.events, cfg.publishers, static_cast<long long>(t.acked),
      static_cast<long long>(t.refused), static_cast<long long>(t.deliveries),
      static_cast<long long>(expected - t.deliveries), secs > 0 ? static_cast<double>(t.deliveries) / secs : 0.0,
      percentile_ms(t.latency, 0.5), percentile_ms(t.latency, 0.99), percentile_ms(t.latency, 1.0),
      static_cast<double>(cpu) / 1e9, t.deliveries ? static_cast<double>(cpu) / 1e3 / static_cast<double>(t.deliveries) : 0.0,
      cfg.subscribers ? 1024.0 * static_cast<double>(rss_after - rss_before) / cfg.subscribers : 0.0);
  return 0;
}
