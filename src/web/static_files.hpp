// The dashboard's files, compiled into the binary (cmake/embed_web_run.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace freshet::web {

struct static_file {
  std::string_view path;          // "/index.html"
  std::string_view content_type;
  std::string_view bytes;
};

const std::vector<static_file>& static_files();

}  // namespace freshet::web
