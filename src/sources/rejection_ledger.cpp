#include "sources/rejection_ledger.hpp"

#include "core/clock.hpp"

namespace freshet::sources {

std::string truncated(std::string_view value, std::size_t max) {
  if (value.size() <= max) return std::string(value);
  std::size_t cut = max;
  // Back up to the start of a UTF-8 sequence, so the stored text stays valid.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return std::string(value.substr(0, cut)) + "...(" + std::to_string(value.size()) + " bytes)";
}

void rejection_ledger::add(const std::string& source, const std::string& code, int status,
                           const std::string& message, std::string_view webhook_id, std::int64_t now_ms) {
  std::lock_guard lk(mu_);
  auto& w = open_[{source, code}];
  if (w.count == 0) {
    w.since_ms = now_ms;
    w.status = status;
    w.message = message;
  }
  ++w.count;
  w.last_ms = now_ms;
  if (w.samples.size() < kSamples) w.samples.push_back(truncated(webhook_id, 64));
}

std::vector<store::audit_entry> rejection_ledger::take_due(std::int64_t now_ms, bool force) {
  std::vector<store::audit_entry> out;
  std::lock_guard lk(mu_);
  for (auto it = open_.begin(); it != open_.end();) {
    const window& w = it->second;
    if (!force && now_ms - w.since_ms < interval_.count()) {
      ++it;
      continue;
    }
    boost::json::array samples;
    for (const auto& s : w.samples) samples.emplace_back(boost::json::string(s));
    auto iso = [](std::int64_t ms) {
      return core::format_iso8601_ms(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
    };
    out.push_back({"webhook", it->first.first, w.samples.empty() ? std::string() : w.samples.front(), "rejected",
                   {{"status", w.status},
                    {"code", it->first.second},
                    {"message", w.message},
                    {"count", w.count},
                    {"first_at", iso(w.since_ms)},
                    {"last_at", iso(w.last_ms)},
                    {"sample_webhook_ids", std::move(samples)}}});
    it = open_.erase(it);
  }
  return out;
}

}  // namespace freshet::sources
