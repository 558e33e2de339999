#include "core/standard_webhooks.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

namespace freshet::core {

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes; take them off.
  std::size_t len = static_cast<std::size_t>(n);
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() > 1 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::optional<std::string> decode_webhook_secret(std::string_view secret) {
  if (secret.starts_with("whsec_")) secret.remove_prefix(6);
  return base64_decode(secret);
}

std::string sign_webhook(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &len);
  return "v1," + base64_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

webhook_check verify_webhook(std::string_view key, std::string_view id, std::string_view timestamp,
                             std::string_view signature_header, std::string_view body, std::int64_t now,
                             std::int64_t tolerance_seconds) {
  std::int64_t ts = 0;
  auto [p, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
  if (id.empty() || ec != std::errc{} || p != timestamp.data() + timestamp.size()) return webhook_check::malformed;
  if (ts < now - tolerance_seconds || ts > now + tolerance_seconds) return webhook_check::stale_timestamp;
  const std::string expected = sign_webhook(key, id, ts, body);
  bool match = false;
  while (!signature_header.empty()) {
    const auto sp = signature_header.find(' ');
    const std::string_view entry = signature_header.substr(0, sp);
    signature_header = sp == std::string_view::npos ? std::string_view{} : signature_header.substr(sp + 1);
    // Every entry is compared in full, in constant time, whatever matched before.
    if (entry.size() == expected.size() && CRYPTO_memcmp(entry.data(), expected.data(), expected.size()) == 0)
      match = true;
  }
  return match ? webhook_check::ok : webhook_check::bad_signature;
}

}  // namespace freshet::core
