#include "rules/outbox.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace freshet::rules {

namespace json = boost::json;

std::string new_webhook_id() {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "msg_";
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

json::object notification_json(const notification& n, json::array attempts) {
  json::object o;
  o["id"] = n.id;
  o["webhook_id"] = n.webhook_id;
  o["rule"] = n.rule;
  o["notifier"] = n.notifier;
  o["object"] = n.object;
  o["tenant"] = n.tenant.empty() ? json::value(nullptr) : json::value(n.tenant);
  o["status"] = n.status;
  o["text"] = n.text;
  o["count"] = n.count;
  o["records"] = n.records;
  o["first_event_id"] = std::to_string(n.first_event);
  o["last_event_id"] = std::to_string(n.last_event);
  o["created_ms"] = n.created_ms;
  o["next_attempt_ms"] = n.status == "pending" || n.status == "gathering" ? json::value(n.due_ms) : json::value(nullptr);
  o["done_ms"] = n.done_ms ? json::value(n.done_ms) : json::value(nullptr);
  o["attempts"] = std::move(attempts);
  return o;
}

}  // namespace freshet::rules
