// One process writes a data dir at a time: `serve` and `sync --once` take an
// exclusive lock on <data_dir>/freshet.lock for as long as they run, since two
// writers would each number events from their own idea of the last id.
#pragma once

#include <string>

namespace freshet::store {

class data_dir_lock {
 public:
  // Throws std::runtime_error naming the dir when another process holds it.
  explicit data_dir_lock(const std::string& data_dir);
  ~data_dir_lock();
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace freshet::store
