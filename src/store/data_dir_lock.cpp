#include "store/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace freshet::store {

data_dir_lock::data_dir_lock(const std::string& data_dir) {
  const std::string path = data_dir + "/freshet.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    throw std::runtime_error("another Freshet process is using the data dir " + data_dir +
                             " (stop it, or use POST /api/refresh on the running server)");
  }
}

data_dir_lock::~data_dir_lock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace freshet::store
