#include "core/record_diff.hpp"

#include <boost/json/serialize.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace freshet::core {

namespace json = boost::json;

namespace {

bool watched(const std::vector<std::string>& watch, std::string_view field) {
  return watch.empty() || std::find(watch.begin(), watch.end(), field) != watch.end();
}

void write_canonical(const json::value& v, std::string& out) {
  if (v.is_object()) {
    const auto& o = v.get_object();
    std::vector<std::pair<std::string_view, const json::value*>> items;
    items.reserve(o.size());
    for (const auto& kv : o) items.emplace_back(kv.key(), &kv.value());
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    out += '{';
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += ',';
      out += json::serialize(items[i].first);
      out += ':';
      write_canonical(*items[i].second, out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    const auto& a = v.get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i) out += ',';
      write_canonical(a[i], out);
    }
    out += ']';
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

std::vector<field_change> diff_fields(const json::object& before, const json::object& after,
                                      const std::vector<std::string>& watch) {
  std::vector<field_change> out;
  for (const auto& kv : after) {
    if (!watched(watch, kv.key())) continue;
    const json::value* old = before.if_contains(kv.key());
    // json::value's == compares objects as unordered maps.
    if (!old || *old != kv.value())
      out.push_back({std::string(kv.key()), old ? *old : json::value(nullptr), kv.value()});
  }
  for (const auto& kv : before)
    if (!after.contains(kv.key()) && watched(watch, kv.key()))
      out.push_back({std::string(kv.key()), kv.value(), nullptr});
  return out;
}

json::object changed_json(const std::vector<field_change>& changes) {
  json::object out;
  for (const auto& c : changes) out[c.field] = json::object{{"old", c.old_value}, {"new", c.new_value}};
  return out;
}

std::string canonical_json(const json::value& v) {
  std::string out;
  write_canonical(v, out);
  return out;
}

std::string record_hash(const json::object& fields) { return sha256_hex(canonical_json(fields)); }

std::string sha256_hex(std::string_view text) {
  // Fetched once and a context kept per thread: EVP_Digest with EVP_sha256()
  // looks the algorithm up and makes a context on every call, 0.8 us against
  // 0.4 us for a 400-byte record on this machine, once per record synced.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!sha256 || !ctx || !EVP_DigestInit_ex(ctx.get(), sha256, nullptr) ||
      !EVP_DigestUpdate(ctx.get(), text.data(), text.size()) || !EVP_DigestFinal_ex(ctx.get(), digest, &len))
    throw std::runtime_error("SHA-256 is not available from OpenSSL");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace freshet::core
