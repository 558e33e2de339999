// The Airtable Web API simulator (upstream-apis.md section 2 and its
// checklist): list records with offset iteration, filterByFormula, fields[],
// sort, maxRecords; get, create, update (PATCH and destructive PUT), upsert
// and delete, single and in batches of up to 10; Bearer tokens; the per-base
// rate limit with its 30-second penalty and Airtable's error bodies; the
// Webhooks API (sim/airtable_webhooks.hpp); plus /_sim/ for tests.
//
// Thread-safety: handle() may run on several workers; state is one mutex.
#pragma once

#include "http/server.hpp"
#include "sim/airtable_model.hpp"
#include "sim/airtable_webhooks.hpp"
#include "sim/faults.hpp"
#include "sim/lenient_query.hpp"

#include <boost/json/array.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <random>

namespace freshet::sim {

struct airtable_sim_options {
  std::string dataset = "services";
  std::uint64_t seed = 1;
  std::string base_id;  // empty: the data set's own
  std::string token = "patSimulator.0123456789abcdef";
  double requests_per_second = 5;  // per base, Airtable's real limit; 0: none
  int penalty_seconds = 30;        // every request is refused this long after a breach
  bool retry_after = false;        // add Retry-After to 429s (real Airtable: not documented)
  int iterator_idle_seconds = 600; // an offset unused this long expires (SIM CHOICE)
  fault_options faults;
};

class airtable_simulator : public http::request_handler {
 public:
  explicit airtable_simulator(airtable_sim_options opts);

  boost::asio::awaitable<http::handler_result> handle(http::request& req, const http::request_context& ctx) override;
  boost::json::array apply_changes(int n);
  const std::string& base_id() const { return base_.id; }
  const std::string& token() const { return opts_.token; }
  std::string freshet_config(const std::string& base_url) const;
  // Where webhook pings are sent from; call before serving.
  void enable_pings(boost::asio::any_io_executor ex) { webhooks_.start_pings(std::move(ex)); }

 private:
  struct iterator {
    std::vector<std::string> ids;  // the order, frozen at the first page (values stay live)
    // Records returned before each page an offset names: a page asked for
    // again (its answer was lost) is the same page, as with Airtable, whose
    // offset names where the page starts.
    std::map<std::size_t, std::size_t> returned_before;
    std::size_t max_records = 0;   // 0: no cap
    std::size_t page_size = 100;
    std::vector<std::string> fields;
    bool by_field_id = false;
    bool as_strings = false;     // cellFormat=string
    bool comment_count = false;  // recordMetadata[]=commentCount
    std::chrono::steady_clock::time_point last_used;
  };
  struct list_params;

  bool admit(std::chrono::system_clock::time_point arrived);  // the rate limit; false: answer 429
  http::response route(const http::request& req, const lenient_query& q);
  http::response list(airtable_table& t, const list_params& p);
  http::response page(const std::string& itr_id, iterator& it, std::size_t start, airtable_table& t);
  boost::json::array tables_metadata() const;  // GET /v0/meta/bases/{base}/tables; mu_ held
  http::response write(const http::request& req, airtable_table& t, const std::string& record_id);
  http::response remove(const lenient_query& q, airtable_table& t, const std::string& record_id);
  http::response sim_route(const http::request& req, const lenient_query& q);
  struct render_opts {
    std::vector<std::string> fields;  // empty: all
    bool by_field_id = false;
    bool as_strings = false;
    bool comment_count = false;
  };
  boost::json::object render(const airtable_table& t, const airtable_record& r, const render_opts& o) const;
  std::int64_t now_ms() const;

  const airtable_sim_options opts_;
  mutable std::mutex mu_;  // guards everything below
  airtable_base base_;
  std::mt19937_64 rng_;
  std::map<std::string, iterator> iterators_;
  second_windows windows_;  // requests admitted per second of arrival
  std::chrono::steady_clock::time_point penalty_until_{};
  std::uint64_t rate_limited_ = 0, changes_applied_ = 0;
  fault_injector faults_;
  request_meter meter_;
  sim_clock clock_;
  airtable_webhooks webhooks_;
};

}  // namespace freshet::sim
