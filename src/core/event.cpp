#include "core/event.hpp"

#include "core/json_text.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>

namespace freshet::core {

namespace {
constexpr std::string_view kTypeNames[] = {"change", "job", "message", "metric", "reset"};
}  // namespace

std::string_view to_string(event_type t) { return kTypeNames[static_cast<int>(t)]; }

std::optional<event_type> parse_event_type(std::string_view s) {
  for (int i = 0; i < 5; ++i)
    if (kTypeNames[i] == s) return static_cast<event_type>(i);
  return std::nullopt;
}

std::string encode_event_json(std::uint64_t id, const event_draft& draft, std::string_view at_iso) {
  // Written field by field rather than as one new document: the body (a whole
  // record, for a change) is serialized in place, never copied.
  // Built in a buffer the thread keeps (a record event is a kilobyte or
  // more: no regrowth per event), then copied once at its size.
  thread_local std::string out;
  out.clear();
  // Keys and the names and times here are plain strings: written straight
  // out, with no JSON value made for each (issue #15: a message event cost
  // 4,700 instructions on the one writer thread, most of it those values).
  // The fixed names go out as literals, quotes and colon included: each
  // would otherwise be scanned for characters to escape (none has any).
  auto text_or_null = [&](std::string_view quoted_key, std::string_view v) {
    out += quoted_key;
    if (v.empty()) out += "null";
    else append_json_string(out, v);
  };
  out += "{\"id\":\"";
  out += format_event_id(id);  // digits
  out += '"';
  text_or_null(",\"type\":", to_string(draft.type));
  text_or_null(",\"source\":", draft.source);
  text_or_null(",\"object\":", draft.object);
  text_or_null(",\"tenant\":", draft.tenant);
  for (const auto& kv : draft.body)
    if (kv.key() != "id" && kv.key() != "type" && kv.key() != "source" && kv.key() != "object" &&
        kv.key() != "tenant" && kv.key() != "at") {
      out += ',';
      append_json_string(out, kv.key());
      out += ':';
      append_json(out, kv.value());
    }
  if (!draft.record_json.empty()) out.append(",\"record\":").append(draft.record_json);
  out += ",\"at\":";
  append_json_string(out, at_iso);
  out += '}';
  return std::string(out);
}

std::string sse_frame_without_id(event_type type, std::string_view json) {
  std::string frame;
  frame.reserve(json.size() + 32);
  frame.append("event: ").append(to_string(type)).append("\ndata: ").append(json).append("\n\n");
  return frame;
}

event_ptr make_event(std::uint64_t id, event_type type, std::string object, std::string tenant,
                     std::string json) {
  auto ev = std::make_shared<event>();
  ev->id = id;
  ev->type = type;
  ev->object = std::move(object);
  ev->tenant = std::move(tenant);
  // The JSON writer never emits a raw newline (it escapes them), so the JSON is one
  // SSE data line as the format requires.
  ev->sse_frame.reserve(json.size() + 48);
  ev->sse_frame.append("id: ").append(format_event_id(id)).append("\n");
  ev->sse_frame.append(sse_frame_without_id(type, json));
  ev->json = std::move(json);
  return ev;
}

std::string format_event_id(std::uint64_t id) { return std::to_string(id); }

std::optional<std::uint64_t> parse_event_id(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 20) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace freshet::core
