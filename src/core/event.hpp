// Events: the unit Freshet stores, orders and delivers. A draft is what a
// producer (a broadcast, the sync engine, a job) hands to the store; the store
// gives it an id and a time, encodes it once, and from then on every subscriber
// shares the same immutable bytes.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace freshet::core {

enum class event_type { change, job, message, metric, reset };

std::string_view to_string(event_type t);
std::optional<event_type> parse_event_type(std::string_view s);

// What a producer wants recorded. `body` holds the type's own fields (op,
// record_id, changed, record for a change; message for a message; ...), which
// are written after the common ones.
struct event_draft {
  event_type type = event_type::message;
  std::string source;
  std::string object;
  std::string tenant;
  boost::json::object body;
  // When set, the `record` member, already encoded (a change's record as
  // stored: its canonical JSON with the id first), written after the body
  // instead of serializing the record's fields a second time.
  std::string record_json;
};

// A committed event. Immutable once made, shared by every subscriber that gets it.
struct event {
  std::uint64_t id = 0;
  event_type type = event_type::message;
  std::string object;
  std::string tenant;
  std::string json;       // the one-line JSON document (WebSocket frame, SSE data line)
  std::string sse_frame;  // "id: ..\nevent: ..\ndata: ..\n\n", ready to write
};
using event_ptr = std::shared_ptr<const event>;

// The JSON document of a committed event: common fields in a fixed order
// (id, type, source, object, tenant, at) then the draft's body. Empty source,
// object and tenant are written as null so every event has the same keys.
std::string encode_event_json(std::uint64_t id, const event_draft& draft, std::string_view at_iso);

// Builds the shared, ready-to-send event from its committed JSON.
event_ptr make_event(std::uint64_t id, event_type type, std::string object, std::string tenant,
                     std::string json);

// The SSE frame of an event that has no id of its own (reset): no `id:` line, so
// the client's Last-Event-ID stays where it was.
std::string sse_frame_without_id(event_type type, std::string_view json);

// Event ids are decimal strings on the wire ("opaque, strictly increasing").
std::string format_event_id(std::uint64_t id);
std::optional<std::uint64_t> parse_event_id(std::string_view s);

}  // namespace freshet::core
