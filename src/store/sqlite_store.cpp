#include "store/sqlite_store.hpp"

#include "store/queries.hpp"

#include "core/clock.hpp"
#include "store/change_applier.hpp"
#include "store/schema.hpp"
#include "store/sqlite_db.hpp"
#include "store/write_cost.hpp"

#include <spdlog/spdlog.h>

#include <sys/statvfs.h>

namespace freshet::store {

namespace json = boost::json;

namespace {

// Free bytes the file system must report before a full store probes again.
constexpr std::uint64_t kSpaceToRecover = 1024 * 1024;

}  // namespace

std::size_t sqlite_store::cost_of(const pending& p) {
  return p.changes ? write_cost(*p.changes) : write_cost(p.draft);
}

std::int64_t sqlite_store::now_ms() const { return opts_.wall_ms ? opts_.wall_ms() : core::wall_ms(); }

sqlite_store::sqlite_store(sqlite_store_options opts) : opts_(std::move(opts)) {
  writer_db_ = std::make_unique<connection>(opts_.path, true);
  migrate(*writer_db_);
  load_bounds();
  writer_ = std::thread([this] { run_writer(); });
}

sqlite_store::~sqlite_store() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  insert_.reset();
  begin_.reset();
  commit_.reset();
  oldest_.reset();
  prune_.reset();
  prune_audit_.reset();
  high_water_.reset();
  bump_records_.reset();
  applier_.reset();
}

void sqlite_store::load_bounds() {
  // The larger of MAX(id) and the high-water mark retention leaves: after it
  // emptied the log, ids still go on from the newest ever committed.
  statement s(writer_db_->get(),
              "SELECT COALESCE(MIN(id),0), COALESCE(MAX(id),0), "
              "(SELECT value FROM meta WHERE key='high_water'), "
              "(SELECT value FROM meta WHERE key='records_version') FROM events");
  s.step();
  const auto min_id = static_cast<std::uint64_t>(s.column_int(0));
  const auto last = std::max(static_cast<std::uint64_t>(s.column_int(1)), static_cast<std::uint64_t>(s.column_int(2)));
  last_id_ = last;
  first_id_ = min_id ? min_id : (last ? last + 1 : 0);
  records_version_ = static_cast<std::uint64_t>(s.column_int(3));
}

boost::system::error_code sqlite_store::refusal(std::size_t bytes) const {
  // A full disk does not refuse up front: every write is tried, so the first
  // one after space is back succeeds (and the probe finds it when none come).
  if (health_ == store_health::failed) return errc::store_failed;
  if (stopping_) return errc::shutting_down;
  if (queue_.size() >= opts_.max_pending || queued_bytes_ + bytes > opts_.max_pending_bytes)
    return errc::store_overloaded;
  return {};
}

void sqlite_store::enqueue(core::event_draft draft, append_callback done) {
  pending p;
  p.draft = std::move(draft);
  p.done = std::move(done);
  p.bytes = cost_of(p);
  std::unique_lock lk(mu_);
  if (const auto ec = refusal(p.bytes)) {
    lk.unlock();
    ++rejected_;
    p.done(ec, nullptr);
    return;
  }
  queued_bytes_ += p.bytes;
  queue_.push_back(std::move(p));
  lk.unlock();
  wake_.notify_one();
}

void sqlite_store::enqueue_changes(change_set cs, changes_callback done) {
  prepare_upserts(cs);  // on the caller's thread, not in the writer's transaction
  pending p;
  p.changes = std::make_unique<change_set>(std::move(cs));
  p.changes_done = std::move(done);
  p.bytes = cost_of(p);
  std::unique_lock lk(mu_);
  if (const auto ec = refusal(p.bytes)) {
    lk.unlock();
    ++rejected_;
    p.changes_done(ec, {});
    return;
  }
  queued_bytes_ += p.bytes;
  queue_.push_back(std::move(p));
  lk.unlock();
  wake_.notify_one();
}

void sqlite_store::fail_pending(pending& p, boost::system::error_code ec) {
  if (p.changes) p.changes_done(ec, {});
  else p.done(ec, nullptr);
}

void sqlite_store::run_writer() {
  std::vector<pending> batch;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      const auto nap = prune_backlog_ ? std::chrono::milliseconds(0)
                       : health_ == store_health::full ? std::min(opts_.prune_every, opts_.full_probe_every)
                                                       : opts_.prune_every;
      wake_.wait_for(lk, nap, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) break;
      // Everything that queued while the last transaction was being written goes
      // into this one: that is the group commit.
      while (!queue_.empty() && batch.size() < opts_.max_batch) {
        queued_bytes_ -= queue_.front().bytes;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) commit_batch(batch);
    batch.clear();
    const auto now = std::chrono::steady_clock::now();
    if (health_ == store_health::full && now - last_probe_ >= opts_.full_probe_every) probe_space();
    if (prune_backlog_ || now - last_prune_ >= opts_.prune_every) prune();
  }
}

void sqlite_store::probe_space() {
  last_probe_ = std::chrono::steady_clock::now();
  // A small commit can succeed while the disk is still full (SQLite reuses
  // the WAL's own space after a checkpoint), so the file system must also
  // report room for a batch of some size before writes count as welcome.
  struct statvfs fs {};
  if (::statvfs(opts_.path.c_str(), &fs) == 0 &&
      static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize < kSpaceToRecover)
    return;
  try {
    writer_db_->exec("BEGIN IMMEDIATE");
    writer_db_->exec("UPDATE meta SET value=value WHERE key='records_version'");
    writer_db_->exec("COMMIT");
    health_ = store_health::ok;
    spdlog::warn("msg=\"event store has space again; writes accepted\"");
  } catch (const std::exception&) {
    try {
      writer_db_->exec("ROLLBACK");
    } catch (...) {
    }
  }
}

void sqlite_store::commit_batch(std::vector<pending>& batch) {
  if (health_ == store_health::failed) {
    rejected_ += batch.size();
    for (auto& p : batch) fail_pending(p, errc::store_failed);
    return;
  }
  bool records_written = false;
  std::vector<core::event_ptr> events;
  events.reserve(batch.size());
  std::uint64_t next = last_id_ + 1;
  try {
    if (!insert_)
      insert_ = std::make_unique<statement>(
          writer_db_->get(),
          "INSERT INTO events(id,type,source,object,tenant,at,at_ms,data) VALUES(?,?,?,?,?,?,?,?)");
    if (!applier_) applier_ = std::make_unique<change_applier>(*writer_db_);
    if (!begin_) begin_ = std::make_unique<statement>(writer_db_->get(), "BEGIN IMMEDIATE");
    if (!commit_) commit_ = std::make_unique<statement>(writer_db_->get(), "COMMIT");
    statement* insert = insert_.get();
    begin_->run();
    const std::int64_t ms = now_ms();
    const std::string at = core::format_iso8601_ms(
        std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
    auto emit = [&](core::event_draft draft) {
      const std::uint64_t id = next++;
      std::string json = core::encode_event_json(id, draft, at);
      // Borrowed: every string outlives the step below.
      insert->bind(1, static_cast<std::int64_t>(id))
          .bind_borrowed(2, core::to_string(draft.type))
          .bind_borrowed(3, draft.source)
          .bind_borrowed(4, draft.object)
          .bind_borrowed(5, draft.tenant)
          .bind_borrowed(6, at)
          .bind(7, ms)
          .bind_borrowed(8, json);
      insert->step();
      insert->reset();
      events.push_back(core::make_event(id, draft.type, std::move(draft.object), std::move(draft.tenant),
                                        std::move(json)));
      return id;
    };
    for (auto& p : batch) {
      if (p.changes) {
        p.result = applier_->apply(*p.changes, emit, ms, at);
        records_written = records_written || p.result.created + p.result.updated + p.result.deleted > 0;
      } else {
        emit(std::move(p.draft));
        p.event = events.back();
      }
    }
    if (records_written) {
      if (!bump_records_)
        bump_records_ = std::make_unique<statement>(writer_db_->get(),
                                                    "UPDATE meta SET value=value+1 WHERE key='records_version'");
      bump_records_->step();
      bump_records_->reset();
    }
    commit_->run();
  } catch (const std::exception& e) {
    try {
      writer_db_->exec("ROLLBACK");
    } catch (...) {
    }
    rejected_ += batch.size();
    const auto* sq = dynamic_cast<const sqlite_error*>(&e);
    if (sq && sq->out_of_space()) {
      // The file system refused the write before it was committed: nothing of
      // the batch is on disk, and the same write can succeed once space is
      // back. Refuse (503) and keep trying; /readyz says so meanwhile.
      ++full_failures_;
      if (health_.exchange(store_health::full) != store_health::full)
        spdlog::error("msg=\"event store is out of space; writes refused until space is back\" error=\"{}\"",
                      e.what());
      for (auto& p : batch) fail_pending(p, errc::store_full);
      return;
    }
    // Durability is in doubt (a failed fsync, a corrupt file): stop writing
    // rather than guess (leveldb's sticky background error). Every waiting and
    // later append fails; /readyz says so.
    spdlog::error("msg=\"event store commit failed; refusing further writes\" error=\"{}\"", e.what());
    health_ = store_health::failed;
    for (auto& p : batch) fail_pending(p, errc::store_failed);
    return;
  }
  if (health_.exchange(store_health::ok) == store_health::full)
    spdlog::warn("msg=\"event store has space again; writes accepted\"");
  last_id_ = next - 1;
  if (records_written) ++records_version_;
  if (first_id_ == 0 && !events.empty()) first_id_ = events.front()->id;
  committed_ += events.size();
  ++transactions_;
  // The hub's delivery and every acknowledgement reach each worker in one post.
  core::post_batch wake_once;
  if (listener_ && !events.empty()) listener_(events);
  for (auto& p : batch) {
    if (p.changes) {
      p.result.last_event_id = last_id_;
      p.changes_done({}, p.result);
    } else {
      p.done({}, std::move(p.event));
    }
  }
}

void sqlite_store::prune() {
  last_prune_ = std::chrono::steady_clock::now();
  prune_backlog_ = false;
  if (health_ != store_health::ok) return;  // an empty log still has audit rows to age out
  try {
    const std::int64_t keep_from_count =
        last_id_ > opts_.retain_events ? static_cast<std::int64_t>(last_id_ - opts_.retain_events) : 0;
    const std::int64_t cutoff =
        now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(opts_.retain_age).count();
    const auto batch = static_cast<std::int64_t>(opts_.prune_batch);
    // One transaction (one fsync) for the pass. The high-water mark is written
    // here, not with every commit: while the newest event is still in the log,
    // MAX(id) is the mark, and only a delete can take it away.
    writer_db_->exec("BEGIN IMMEDIATE");
    // Ids and times grow together, so what has expired is a prefix of the log:
    // read from the oldest event and stop at the first one to keep. A pass
    // costs what it deletes plus one row; the single `WHERE id <= ? OR at_ms
    // < ?` it replaces made SQLite scan the whole table every five seconds
    // (28,000 page reads at 560,000 events, on the writer, between commits).
    // Strictly a prefix also keeps the log without holes for resume: an event
    // stamped early by a clock that stepped back is not taken from the middle.
    if (!oldest_)
      oldest_ = std::make_unique<statement>(writer_db_->get(), "SELECT id, at_ms FROM events ORDER BY id LIMIT ?");
    oldest_->bind(1, batch);
    std::int64_t n = 0, newest_expired = 0;
    while (oldest_->step()) {
      const std::int64_t id = oldest_->column_int(0);
      if (id > keep_from_count && oldest_->column_int(1) >= cutoff) break;
      newest_expired = id;
      ++n;
    }
    oldest_->reset();
    if (n > 0) {
      if (!high_water_)
        high_water_ = std::make_unique<statement>(
            writer_db_->get(), "UPDATE meta SET value=MAX(value, ?) WHERE key='high_water'");
      high_water_->bind(1, static_cast<std::int64_t>(last_id_));
      high_water_->step();
      high_water_->reset();
      if (!prune_) prune_ = std::make_unique<statement>(writer_db_->get(), "DELETE FROM events WHERE id <= ?");
      prune_->bind(1, newest_expired);
      prune_->step();
      prune_->reset();
    }
    // Audit rows are not resumed from: any that have aged out go, found by
    // their index on at_ms.
    if (!prune_audit_)
      prune_audit_ = std::make_unique<statement>(
          writer_db_->get(), "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at_ms < ? LIMIT ?)");
    prune_audit_->bind(1, cutoff).bind(2, batch);
    prune_audit_->step();
    const auto na = sqlite3_changes(writer_db_->get());
    prune_audit_->reset();
    // A full batch leaves more behind: the next pass comes after the next
    // commit rather than a whole interval later.
    prune_backlog_ = n >= batch || na >= batch;
    if (applier_) applier_->prune_deliveries(now_ms() - 7LL * 86400 * 1000);
    writer_db_->exec("COMMIT");
    // Counted once committed: a reader that sees the count sees the rows gone.
    audit_pruned_ += static_cast<std::uint64_t>(na);
    if (n > 0) {
      pruned_ += static_cast<std::uint64_t>(n);
      statement s(writer_db_->get(), "SELECT COALESCE(MIN(id),0) FROM events");
      s.step();
      // An empty log after pruning still has a resume horizon: the next id.
      std::uint64_t first = static_cast<std::uint64_t>(s.column_int(0));
      first_id_ = first ? first : last_id_ + 1;
    }
  } catch (const std::exception& e) {
    try {
      writer_db_->exec("ROLLBACK");
    } catch (...) {
    }
    spdlog::warn("msg=\"event retention pass failed\" error=\"{}\"", e.what());
  }
}

std::unique_ptr<connection> sqlite_store::take_reader() {
  {
    std::lock_guard lk(readers_mu_);
    if (!idle_readers_.empty()) {
      auto c = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return c;
    }
  }
  return std::make_unique<connection>(opts_.path, false);
}

void sqlite_store::return_reader(std::unique_ptr<connection> c) {
  std::lock_guard lk(readers_mu_);
  if (idle_readers_.size() < 8) idle_readers_.push_back(std::move(c));
}

std::vector<core::event_ptr> sqlite_store::read_range(std::uint64_t after, std::uint64_t upto,
                                                   const core::topic_filter& filter, std::size_t limit) {
  std::vector<core::event_ptr> out;
  if (upto <= after || limit == 0) return out;
  // The filter in SQL, so that resuming one tenant costs that tenant's events
  // (events_tenant), not every event of the range. It says exactly what
  // topic_filter::matches says for live delivery: an event with no object or
  // no tenant is for everybody, except that a change is only for its tenant's.
  std::string sql = "SELECT id, type, object, tenant, data FROM events WHERE id > ? AND id <= ?";
  if (!filter.objects.empty()) sql += " AND (object IS NULL OR object IN (" + sql_placeholders(filter.objects.size()) + "))";
  if (!filter.tenants.empty())
    sql += " AND (tenant IN (" + sql_placeholders(filter.tenants.size()) + ") OR (tenant IS NULL AND type != 'change'))";
  sql += " ORDER BY id LIMIT ?";
  auto db = take_reader();
  {
    statement s(db->get(), sql);
    int i = 1;
    s.bind(i++, static_cast<std::int64_t>(after));
    s.bind(i++, static_cast<std::int64_t>(upto));
    for (const auto& o : filter.objects) s.bind_text(i++, o);
    for (const auto& t : filter.tenants) s.bind_text(i++, t);
    s.bind(i, static_cast<std::int64_t>(limit));
    // No second check in C++: a row dropped here would make a chunk short,
    // which a reader takes for the end of the range. EventLogTest's
    // ReadRangeAgreesWithTheLiveFilter holds the two rules together.
    while (s.step()) {
      auto type = core::parse_event_type(s.column_text(1)).value_or(core::event_type::message);
      std::string_view object = s.column_text(2), tenant = s.column_text(3);
      out.push_back(core::make_event(static_cast<std::uint64_t>(s.column_int(0)), type,
                                     std::string(object), std::string(tenant),
                                     std::string(s.column_text(4))));
    }
  }
  return_reader(std::move(db));
  return out;
}

store_counters sqlite_store::counters() const {
  return {committed_.load(), transactions_.load(), pruned_.load(), rejected_.load(), full_failures_.load(),
          audit_pruned_.load(), 0};
}

// The queries, on a pooled reader.
std::map<std::string, std::string> sqlite_store::load_sync_state(const std::string& source) {
  return read([&](connection& db) { return store::load_sync_state(db, source); });
}

snapshot_page sqlite_store::read_snapshot(const std::string& source, const std::string& object,
                                          const std::vector<std::string>& tenants, const std::string& after_id,
                                          std::size_t limit) {
  return read([&](connection& db) { return store::read_snapshot(db, source, object, tenants, after_id, limit); });
}

std::optional<stored_record> sqlite_store::find_record(const std::string& source, const std::string& object,
                                                       const std::string& id) {
  return read([&](connection& db) { return store::find_record(db, source, object, id); });
}

std::vector<tenant_summary> sqlite_store::summarize_object(const std::string& source, const std::string& object) {
  return read([&](connection& db) { return store::summarize_object(db, source, object); });
}

bool sqlite_store::tenant_has_records(const std::string& source, const std::string& object,
                                      const std::string& tenant) {
  return read([&](connection& db) { return store::tenant_has_records(db, source, object, tenant); });
}

double sqlite_store::aggregate_records(const std::string& source, const std::string& object,
                                       const std::vector<std::pair<std::string, std::string>>& where,
                                       const std::string& sum_field) {
  return read([&](connection& db) { return store::aggregate_records(db, source, object, where, sum_field); });
}

std::map<std::string, double> sqlite_store::aggregate_records_by_tenant(
    const std::string& source, const std::string& object,
    const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field) {
  return read([&](connection& db) { return store::aggregate_records_by_tenant(db, source, object, where, sum_field); });
}

std::vector<std::pair<std::int64_t, double>> sqlite_store::goal_days(const std::string& goal) {
  return read([&](connection& db) { return store::goal_days(db, goal); });
}

std::vector<audit_row> sqlite_store::list_audit(std::int64_t after_id, std::size_t limit, bool newest) {
  return read([&](connection& db) { return store::list_audit(db, after_id, limit, newest); });
}

}  // namespace freshet::store
