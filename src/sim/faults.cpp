#include "sim/faults.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace freshet::sim {

fault_injector::draw fault_injector::next() {
  using status = boost::beast::http::status;
  std::lock_guard lk(mu_);
  draw d;
  if (opts_.latency_max_ms > 0)
    d.delay = std::chrono::milliseconds(
        opts_.latency_min_ms +
        static_cast<int>(rng_() % static_cast<std::uint64_t>(opts_.latency_max_ms - opts_.latency_min_ms + 1)));
  const double x = std::uniform_real_distribution<double>(0, 1)(rng_);
  if (x < opts_.timeout_rate) {
    d.delay = std::chrono::milliseconds(120'000);  // a client gives up long before this
    ++injected_;
  } else if (x < opts_.timeout_rate + opts_.fail_rate) {
    static constexpr status codes[] = {status::internal_server_error, status::bad_gateway, status::service_unavailable};
    d.fail = true;
    d.fail_status = codes[rng_() % 3];
    ++injected_;
  } else if (x < opts_.timeout_rate + opts_.fail_rate + opts_.truncate_rate) {
    d.truncate = true;
  } else if (x < opts_.timeout_rate + opts_.fail_rate + opts_.truncate_rate + opts_.drop_rate) {
    d.drop = true;
    ++injected_;
  }
  return d;
}

void fault_injector::shape(const draw& d, http::response& res) {
  std::string& body = res.body();
  if (opts_.extra_keys && body.size() >= 2 && body.front() == '{') {
    body.insert(1, body == "{}" ? R"("_simExtra":{"note":"ignore me"})" : R"("_simExtra":{"note":"ignore me"},)");
    res.prepare_payload();
  }
  if (!d.truncate || res.result() != boost::beast::http::status::ok) return;
  {
    std::lock_guard lk(mu_);
    ++injected_;
  }
  res.body().resize(res.body().size() / 2);
  res.prepare_payload();
}

std::uint64_t fault_injector::injected() const {
  std::lock_guard lk(mu_);
  return injected_;
}

http::handler_result dropped_connection() {
  return http::handler_result{std::nullopt,
                              [](boost::asio::ip::tcp::socket s, http::stream_lease) -> boost::asio::awaitable<void> {
                                boost::system::error_code ec;
                                s.close(ec);
                                co_return;
                              }};
}

http::response sim_reply(boost::beast::http::status st, const boost::json::value& body) {
  http::response res{st, 11};
  res.set(boost::beast::http::field::content_type, "application/json");
  res.body() = boost::json::serialize(body);
  res.prepare_payload();
  return res;
}

http::response sim_error(boost::beast::http::status st, std::string_view code, std::string_view message) {
  return sim_reply(st, boost::json::object{{"error", {{"code", code}, {"message", message}}}});
}

namespace {
// The whole number under `key` in a JSON object body, if it is one in [lo, hi].
std::optional<std::int64_t> body_number(const http::request& req, std::string_view key, std::int64_t lo, std::int64_t hi) {
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(req.body(), ec);
  const boost::json::value* v = !ec && body.is_object() ? body.get_object().if_contains(key) : nullptr;
  if (!v || !v->is_int64() || v->get_int64() < lo || v->get_int64() > hi) return std::nullopt;
  return v->get_int64();
}
}  // namespace

http::response clock_route(sim_clock& clock, const http::request& req) {
  using status = boost::beast::http::status;
  if (req.method() == boost::beast::http::verb::post) {
    auto by = body_number(req, "advance_seconds", 0, 10LL * 366 * 86400);
    if (!by) return sim_error(status::bad_request, "invalid_body", "Send {\"advance_seconds\": N}, N >= 0.");
    clock.advance(std::chrono::seconds(*by));
  }
  return sim_reply(status::ok, boost::json::object{{"now_ms", clock.now_ms()}});
}

http::response changes_route(const http::request& req, const std::function<boost::json::array(int)>& apply) {
  using status = boost::beast::http::status;
  auto count = body_number(req, "count", 1, 100000);
  if (!count) return sim_error(status::bad_request, "invalid_body", "Send {\"count\": N}, 1 to 100000.");
  return sim_reply(status::ok, boost::json::object{{"applied", apply(static_cast<int>(*count))}});
}

void request_meter::count(std::chrono::system_clock::time_point arrived) {
  constexpr std::int64_t second = 1'000'000'000;
  // A late read does not come later than this: older arrivals share no
  // second with any still to be counted.
  constexpr std::int64_t horizon = 10 * second;
  const std::int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(arrived.time_since_epoch()).count();
  std::lock_guard lk(mu_);
  ++total_;
  newest_ = std::max(newest_, t);
  recent_.insert(std::upper_bound(recent_.begin(), recent_.end(), t), t);
  recent_.erase(recent_.begin(), std::lower_bound(recent_.begin(), recent_.end(), newest_ - horizon));
  // The windows [p, p + 1 s) that hold t start at the arrivals p in (t - 1 s, t].
  auto end = recent_.begin();
  for (auto p = std::upper_bound(recent_.begin(), recent_.end(), t - second); p != recent_.end() && *p <= t; ++p) {
    if (end < p) end = p;
    while (end != recent_.end() && *end < *p + second) ++end;
    max_ = std::max<std::uint64_t>(max_, static_cast<std::uint64_t>(end - p));
  }
  // The runs of span_of_ consecutive arrivals that hold t.
  if (span_of_ > 1 && recent_.size() >= span_of_) {
    const auto at = static_cast<std::size_t>(std::lower_bound(recent_.begin(), recent_.end(), t) - recent_.begin());
    const std::size_t n = span_of_ - 1;  // arrivals after the first of a run
    const std::size_t first = at >= n ? at - n : 0;
    for (std::size_t i = first; i <= at && i + n < recent_.size(); ++i) {
      const std::int64_t span = recent_[i + n] - recent_[i];
      if (tightest_ < 0 || span < tightest_) tightest_ = span;
    }
  }
}

request_meter::request_meter(double limit)
    : span_of_(limit >= 1 ? static_cast<std::size_t>(limit) + 1 : 0) {}

double request_meter::tightest_span_ms() const {
  std::lock_guard lk(mu_);
  return tightest_ < 0 ? -1.0 : static_cast<double>(tightest_) / 1e6;
}

std::uint64_t second_windows::add(std::int64_t second) {
  const std::uint64_t n = ++counts_[second];
  while (counts_.size() > 16) counts_.erase(counts_.begin());
  return n;
}

std::int64_t epoch_second(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::uint64_t request_meter::total() const {
  std::lock_guard lk(mu_);
  return total_;
}

std::uint64_t request_meter::max_in_one_second() const {
  std::lock_guard lk(mu_);
  return max_;
}

}  // namespace freshet::sim
