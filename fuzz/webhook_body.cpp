// An upstream's webhook delivery: three header values and a body, checked as
// the intake checks them (Standard Webhooks signature and timestamp, the
// Airtable content MAC), then parsed as the intake parses bodies.
#include "core/content_mac.hpp"
#include "core/standard_webhooks.hpp"
#include "sources/airtable_payloads.hpp"
#include "sources/connector.hpp"

#include <boost/json/parse.hpp>

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace freshet;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The input is "id\nts\nsignature\nbody": split at the first three newlines.
  std::string_view parts[3];
  for (auto& p : parts) {
    const auto nl = in.find('\n');
    if (nl == std::string_view::npos) return 0;
    p = in.substr(0, nl);
    in.remove_prefix(nl + 1);
  }
  static const std::string key = *core::decode_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  (void)core::verify_webhook(key, parts[0], parts[1], parts[2], in, 1'800'000'000);
  (void)core::verify_content_mac(key, in, parts[2]);
  (void)core::decode_webhook_secret(parts[0]);
  (void)core::base64_decode(parts[2]);
  boost::system::error_code ec;
  auto body = boost::json::parse(in, ec);
  if (ec || !body.is_object()) return 0;
  const auto& o = body.get_object();
  // An Airtable payload page, as the webhook drain reads it after a ping.
  (void)sources::parse_payload_page(o, 1);
  // What the intake reads from a body: the type, the object, the record and its tenant.
  for (const char* k : {"type", "object", "record_id", "timestamp"})
    if (const auto* v = o.if_contains(k)) (void)v->is_string();
  if (const auto* d = o.if_contains("data"); d && d->is_object())
    if (const auto* f = d->get_object().if_contains("fields"); f && f->is_object())
      for (const auto& kv : f->get_object()) (void)sources::tenant_of(&kv.value());
  return 0;
}
