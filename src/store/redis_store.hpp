// The Redis engine of the store (store/event_store.hpp), for a deployment of
// several instances sharing one Redis (issue #13). The layout, under the
// key prefix P (in braces, a Redis Cluster hash tag: every key of a
// deployment lives in one slot, which scripts that touch many keys need):
//   {P}:meta                 hash: last_id (the high-water id), commit_seq,
//                            records_version, audit_id
//   {P}:log                  stream: the event log; entry id "<event id>-0",
//                            so a replay is a range read (XRANGE)
//   {P}:rec:<src>:<obj>      hash: record id -> updated id, hash, tenant, data
//   {P}:ids:<src>:<obj>      sorted set (lex): the object's record ids
//   {P}:tids:<src>:<obj>:<t> sorted set (lex): the ids of one tenant's records
//   {P}:tenants:<src>:<obj>  hash: tenant -> record count
//   {P}:sync:<src>           hash: sync state; {P}:tsync:<src>:<obj> tenant -> ms
//   {P}:deliv:<src>          hash: webhook delivery id -> ms
//   {P}:audit                stream: the audit trail, entry id "<audit id>-0"
//   {P}:rule_state           hash: what the goal rules remember (goal_days)
//   {P}:signals              stream: messages between instances (send_signal)
//   {P}:lease:<name>, {P}:fence:<name>  a source's lease and its token counter
//   {P}:pace:<name>, {P}:pause:<name>   a shared rate limit's next slot and pause
//   {P}:claim:<key>, {P}:job:<id>       who runs a job (then its cooldown), its state
// (the last three in store/redis_coordination.cpp)
//   {P}:rules_cursor, {P}:n:<id>, ...   the rules' outbox (rules/redis_outbox.hpp)
//
// Writes: one writer coroutine group-commits everything queued. It reads
// what a batch needs (the stored records, delivery ids, the counters),
// computes the events and writes (diffs, hashes) here, then commits with one
// script that first checks that no commit of any instance came in between
// (meta.commit_seq) and otherwise applies every write: records, state,
// audit and events are one atomic step. A commit that lost that race is
// read and computed again; one that lost twice takes {P}:commit_priority
// (a short-lived key that makes the other instances' commits wait for its
// own), so a large batch is never starved by small ones. An acknowledgement is durable when Redis runs
// with appendonly yes and appendfsync always (checked at open).
//
// Every instance tails the stream (a blocking XREAD) and hands each commit
// to its commit listener once, in id order, whichever instance made it; its
// own commits reach the listener before their acknowledgement, as on SQLite.
//
// Redis I/O is coroutines on the engine's own io_context (one thread); the
// blocking reads of event_store run there and wait: never call them from
// that thread.
#pragma once

#include "redis/redis_connection.hpp"
#include "store/event_store.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace freshet::store {

struct redis_store_options {
  redis::endpoint at;
  std::string key_prefix = "freshet";
  std::uint64_t retain_events = 1'000'000;
  std::chrono::seconds retain_age{168 * 3600};
  std::size_t max_batch = 4096;
  std::size_t max_pending = 100'000;
  std::size_t max_pending_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds prune_every{5000};
  std::size_t prune_batch = 10'000;
  // Redis without appendonly yes + appendfsync always loses acknowledged
  // writes when it dies; the store refuses to open on it unless this says
  // that the weaker promise is accepted.
  bool accept_weaker_durability = false;
  std::chrono::milliseconds timeout{5000};  // a Redis request that takes longer fails
  std::function<std::int64_t()> wall_ms;    // tests inject a clock
};

// Why a Redis store cannot open: unreachable, too weak a durability, a
// layout written by a newer Freshet.
struct redis_store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class redis_store final : public event_store {
 public:
  // Connects, checks Redis's durability settings, loads the bounds and
  // starts the writer and the tail. Throws redis_store_error.
  explicit redis_store(redis_store_options opts);
  // Finishes every queued write, then stops.
  ~redis_store() override;

  void set_commit_listener(commit_listener l) override;
  void enqueue(core::event_draft draft, append_callback done) override;
  void enqueue_changes(change_set cs, changes_callback done) override;
  // Signals are entries of {P}:signals (a stream kept to about 1,000),
  // heard by every instance's tail on the same blocking read as the log.
  void set_signal_listener(signal_listener l) override;
  void send_signal(const std::string& topic, const std::string& body) override;

  std::vector<core::event_ptr> read_range(std::uint64_t after, std::uint64_t upto, const core::topic_filter& filter,
                                          std::size_t limit) override;
  std::uint64_t first_id() const override;
  std::uint64_t last_id() const override;
  std::uint64_t read_last_id() override;
  std::uint64_t records_version() const override;
  store_health health() const override;
  std::string_view engine_name() const override { return "redis"; }
  bool shared() const override { return true; }
  store_counters counters() const override;

  std::map<std::string, std::string> load_sync_state(const std::string& source) override;
  snapshot_page read_snapshot(const std::string& source, const std::string& object,
                              const std::vector<std::string>& tenants, const std::string& after_id,
                              std::size_t limit) override;
  std::optional<stored_record> find_record(const std::string& source, const std::string& object,
                                           const std::string& id) override;
  std::vector<tenant_summary> summarize_object(const std::string& source, const std::string& object) override;
  bool tenant_has_records(const std::string& source, const std::string& object, const std::string& tenant) override;
  double aggregate_records(const std::string& source, const std::string& object,
                           const std::vector<std::pair<std::string, std::string>>& where,
                           const std::string& sum_field) override;
  std::map<std::string, double> aggregate_records_by_tenant(
      const std::string& source, const std::string& object,
      const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field) override;
  std::vector<std::pair<std::int64_t, double>> goal_days(const std::string& goal) override;
  std::vector<audit_row> list_audit(std::int64_t after_id, std::size_t limit, bool newest = false) override;

  // What Redis promises for an acknowledged write, as read at open:
  // "appendfsync always" or what weaker setting it has.
  std::string durability() const override;
  std::optional<double> round_trip_ms() const override;
  // A lease per name ({P}:lease:<name>) with its token counter
  // ({P}:fence:<name>); a change set fenced by it commits only while the
  // lease is held with that token.
  std::optional<std::uint64_t> hold_lease(const std::string& name, std::chrono::milliseconds ttl) override;
  void release_lease(const std::string& name) override;
  std::optional<shared_slot> take_slot(const std::string& pace, std::chrono::microseconds spacing) override;
  void pause_slots(const std::string& pace, std::chrono::milliseconds wait) override;
  std::optional<job_claim> claim_job(const std::string& key, const std::string& job_id,
                                     std::chrono::seconds hold) override;
  void end_job(const std::string& key, const std::string& job_id, std::chrono::seconds cooldown) override;
  void put_job(const std::string& job_id, std::string state, std::chrono::seconds keep) override;
  std::optional<std::string> get_job(const std::string& job_id) override;

  // For the parts that keep keys of their own in the deployment (the rules'
  // outbox, rules/redis_outbox.hpp). One command on a pooled connection, on
  // the engine's thread, waited for (an error reply is a reply). Blocking:
  // never from the engine's thread. Throws redis::connection_error.
  redis::reply call(std::vector<std::string> command);
  std::string key(std::string_view name) const;  // the deployment's key of `name`
  std::string instance_id() const;                // who holds a lease
  // The value of lease `name` while this instance holds it with `token`
  // (what a script compares to fence a write).
  std::string lease_key(const std::string& name) const { return key("lease:" + name); }
  std::string lease_holder(std::uint64_t token) const { return instance_id() + ":" + std::to_string(token); }

 private:
  // Sent later, in the order queued, on the engine's one background
  // connection; not waited for. Lost, with a warning, when Redis is away,
  // unless `keep` names it: a state write kept (the latest of its key) and
  // sent again until Redis takes it or the store stops.
  void call_later(std::vector<std::string> command, std::string keep = {});

  struct impl;  // the engine's thread, connections, queue and coroutines (redis_store.cpp)
  std::unique_ptr<impl> impl_;
};

}  // namespace freshet::store
