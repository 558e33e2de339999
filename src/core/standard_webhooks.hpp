// Standard Webhooks v1 (upstream-apis.md section 3): HMAC-SHA256 over
// "{webhook-id}.{webhook-timestamp}.{body}", base64 with padding, sent as
// "v1,<sig>" in webhook-signature (space-separated, several allowed for key
// rotation). Secrets are shown as "whsec_" + base64 of 24-64 random bytes.
// Used by the simulators to sign and, later, by Freshet to verify.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace freshet::core {

// The key bytes of a "whsec_..." secret (the prefix is optional); nullopt
// when the rest is not base64.
std::optional<std::string> decode_webhook_secret(std::string_view secret);

// "v1,<base64 HMAC-SHA256>" for the given key bytes.
std::string sign_webhook(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body);

enum class webhook_check { ok, bad_signature, stale_timestamp, malformed };

// Checks a delivery: any v1 entry of `signature_header` must match (in
// constant time) and the timestamp must be within `tolerance_seconds` of `now`.
webhook_check verify_webhook(std::string_view key, std::string_view id, std::string_view timestamp,
                             std::string_view signature_header, std::string_view body, std::int64_t now,
                             std::int64_t tolerance_seconds = 300);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace freshet::core
