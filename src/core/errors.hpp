// Freshet's own error codes, registered with Boost.System so they travel in the
// same error_code as Asio's. Each has its wire name: the `error.code` of
// DESIGN.md's JSON error body.
#pragma once

#include <boost/system/error_code.hpp>

#include <string_view>
#include <type_traits>

namespace freshet {

enum class errc {
  ok = 0,
  store_overloaded,  // the append queue is full: try again shortly (503)
  store_failed,      // a commit failed with durability in doubt; writes refused until restarted (503)
  store_full,        // the disk is full: writes refused until a commit succeeds again (503)
  shutting_down,     // the server is stopping (503)
  store_unavailable, // the store's server (Redis) cannot be reached: try again shortly (503)
  not_leader,        // a fenced commit from an instance that no longer holds the lease
};

const boost::system::error_category& freshet_category();
inline boost::system::error_code make_error_code(errc e) {
  return {static_cast<int>(e), freshet_category()};
}
std::string_view wire_name(errc e);

}  // namespace freshet

template <>
struct boost::system::is_error_code_enum<freshet::errc> : std::true_type {};
