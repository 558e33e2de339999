// What the machine charges for the two things a durable publish cannot do
// without, measured with nothing of Freshet in the way: a system call (the
// cheapest there is, getppid) and a write made durable (a 4 KiB pwrite and
// an fdatasync, the WAL append of one commit). Together with
// bench/http_floor.sh (one HTTP request over loopback) they are the floor
// under the per-ack figures in docs/benchmarks.md.
//   platform_costs [DIR]   (DIR: where the test file goes, default /tmp;
//                           use the disk that holds the data dir)
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace {

double now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// User and system CPU of this process so far, in µs.
std::pair<double, double> cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec, ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp";

  constexpr int kCalls = 1'000'000;
  double t0 = now_us();
  for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);
  const double syscall_us = (now_us() - t0) / kCalls;

  const std::string path = dir + "/freshet-platform-costs.tmp";
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    return 1;
  }
  char page[4096];
  for (auto& c : page) c = 'x';
  constexpr int kSyncs = 2000;
  const auto [u0, s0] = cpu_us();
  t0 = now_us();
  for (int i = 0; i < kSyncs; ++i) {
    // 64 pages reused in turn: a WAL that a checkpoint keeps from growing.
    if (pwrite(fd, page, sizeof page, static_cast<off_t>(i % 64) * sizeof page) != sizeof page ||
        fdatasync(fd) != 0) {
      std::perror("pwrite/fdatasync");
      return 1;
    }
  }
  const double wall = (now_us() - t0) / kSyncs;
  const auto [u1, s1] = cpu_us();
  close(fd);
  unlink(path.c_str());
  std::printf(
      "{\"syscall_us\":%.3f,\"durable_write\":{\"dir\":\"%s\",\"wall_us\":%.1f,\"system_cpu_us\":%.1f,"
      "\"user_cpu_us\":%.1f}}\n",
      syscall_us, dir.c_str(), wall, (s1 - s0) / kSyncs, (u1 - u0) / kSyncs);
  return 0;
}
