// Airtable's webhook notification MAC (upstream-apis.md 2.6):
// "X-Airtable-Content-MAC: hmac-sha256=<lowercase hex>" of HMAC-SHA256 over the
// exact body bytes, keyed by the base64-decoded macSecretBase64.
#pragma once

#include <string>
#include <string_view>

namespace freshet::core {

// The header value for `body` under `key` (the secret's bytes).
std::string content_mac(std::string_view key, std::string_view body);

// True when `header` is the MAC of `body` under `key`; compared in constant time.
bool verify_content_mac(std::string_view key, std::string_view body, std::string_view header);

}  // namespace freshet::core
