#include "core/errors.hpp"

#include <string>

namespace freshet {

namespace {
class category : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "freshet"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "ok";
      case errc::store_overloaded: return "The event store is overloaded; try again shortly.";
      case errc::store_failed: return "The event store failed a commit and refuses writes until restarted.";
      case errc::store_full:
        return "The disk holding the event store is full; writes are refused until space is freed.";
      case errc::shutting_down: return "The server is shutting down.";
      case errc::store_unavailable: return "The event store's Redis cannot be reached; try again shortly.";
      case errc::not_leader: return "This instance does not hold the source's lease: another instance leads it.";
    }
    return "unknown error";
  }
};
}  // namespace

const boost::system::error_category& freshet_category() {
  static const category c;
  return c;
}

std::string_view wire_name(errc e) {
  switch (e) {
    case errc::ok: return "ok";
    case errc::store_overloaded: return "store_overloaded";
    case errc::store_failed: return "store_failed";
    case errc::store_full: return "store_full";
    case errc::shutting_down: return "shutting_down";
    case errc::store_unavailable: return "store_unavailable";
    case errc::not_leader: return "not_leader";
  }
  return "internal_error";
}

}  // namespace freshet
