#include "store/event_log.hpp"

#include "core/clock.hpp"
#include "store/change_applier.hpp"
#include "store/schema.hpp"
#include "store/sqlite_db.hpp"

#include <spdlog/spdlog.h>

namespace freshet::store {

namespace {
std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

event_log::event_log(event_log_options opts) : opts_(std::move(opts)) {
  writer_db_ = std::make_unique<connection>(opts_.path, true);
  migrate(*writer_db_);
  load_bounds();
  writer_ = std::thread([this] { run_writer(); });
}

event_log::~event_log() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  insert_.reset();
  prune_.reset();
  applier_.reset();
}

void event_log::load_bounds() {
  statement s(writer_db_->get(), "SELECT COALESCE(MIN(id),0), COALESCE(MAX(id),0) FROM events");
  s.step();
  first_id_ = static_cast<std::uint64_t>(s.column_int(0));
  last_id_ = static_cast<std::uint64_t>(s.column_int(1));
}

void event_log::enqueue(core::event_draft draft, append_callback done) {
  if (failed_) {
    ++rejected_;
    done(errc::store_failed, nullptr);
    return;
  }
  {
    std::unique_lock lk(mu_);
    if (stopping_ || queue_.size() >= opts_.max_pending) {
      lk.unlock();
      ++rejected_;
      done(stopping_ ? errc::shutting_down : errc::store_overloaded, nullptr);
      return;
    }
    queue_.push_back({std::move(draft), std::move(done)});
  }
  wake_.notify_one();
}

void event_log::enqueue_changes(change_set cs, changes_callback done) {
  pending p;
  p.changes = std::make_unique<change_set>(std::move(cs));
  p.changes_done = std::move(done);
  std::unique_lock lk(mu_);
  if (failed_ || stopping_ || queue_.size() >= opts_.max_pending) {
    const auto ec = failed_ ? errc::store_failed : stopping_ ? errc::shutting_down : errc::store_overloaded;
    lk.unlock();
    ++rejected_;
    p.changes_done(ec, {});
    return;
  }
  queue_.push_back(std::move(p));
  lk.unlock();
  wake_.notify_one();
}

void event_log::fail_pending(pending& p, boost::system::error_code ec) {
  if (p.changes) p.changes_done(ec, {});
  else p.done(ec, nullptr);
}

void event_log::run_writer() {
  std::vector<pending> batch;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      wake_.wait_for(lk, opts_.prune_every, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) break;
      // Everything that queued while the last transaction was being written goes
      // into this one: that is the group commit.
      while (!queue_.empty() && batch.size() < opts_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) commit_batch(batch);
    batch.clear();
    if (std::chrono::steady_clock::now() - last_prune_ >= opts_.prune_every) prune();
  }
}

void event_log::commit_batch(std::vector<pending>& batch) {
  if (failed_) {
    rejected_ += batch.size();
    for (auto& p : batch) fail_pending(p, errc::store_failed);
    return;
  }
  std::vector<core::event_ptr> events;
  events.reserve(batch.size());
  std::uint64_t next = last_id_ + 1;
  try {
    if (!insert_)
      insert_ = std::make_unique<statement>(
          writer_db_->get(),
          "INSERT INTO events(id,type,source,object,tenant,at,at_ms,data) VALUES(?,?,?,?,?,?,?,?)");
    if (!applier_) applier_ = std::make_unique<change_applier>(*writer_db_);
    statement* insert = insert_.get();
    writer_db_->exec("BEGIN IMMEDIATE");
    const std::int64_t ms = now_ms();
    const std::string at = core::format_iso8601_ms(
        std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
    auto emit = [&](core::event_draft draft) {
      const std::uint64_t id = next++;
      std::string json = core::encode_event_json(id, draft, at);
      insert->bind(1, static_cast<std::int64_t>(id))
          .bind(2, core::to_string(draft.type))
          .bind(3, draft.source)
          .bind(4, draft.object)
          .bind(5, draft.tenant)
          .bind(6, at)
          .bind(7, ms)
          .bind(8, json);
      insert->step();
      insert->reset();
      events.push_back(core::make_event(id, draft.type, std::move(draft.object), std::move(draft.tenant),
                                        std::move(json)));
      return id;
    };
    for (auto& p : batch) {
      if (p.changes) {
        p.result = applier_->apply(*p.changes, emit, ms, at);
      } else {
        emit(std::move(p.draft));
        p.event = events.back();
      }
    }
    writer_db_->exec("COMMIT");
  } catch (const std::exception& e) {
    // Durability is in doubt: stop writing rather than guess (leveldb's sticky
    // background error). Every waiting and later append fails; /readyz says so.
    spdlog::error("msg=\"event store commit failed; refusing further writes\" error=\"{}\"", e.what());
    try {
      writer_db_->exec("ROLLBACK");
    } catch (...) {
    }
    failed_ = true;
    rejected_ += batch.size();
    for (auto& p : batch) fail_pending(p, errc::store_failed);
    return;
  }
  last_id_ = next - 1;
  if (first_id_ == 0 && !events.empty()) first_id_ = events.front()->id;
  committed_ += events.size();
  ++transactions_;
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

void event_log::prune() {
  last_prune_ = std::chrono::steady_clock::now();
  if (failed_ || last_id_ == 0) return;
  try {
    const std::int64_t keep_from_count =
        last_id_ > opts_.retain_events ? static_cast<std::int64_t>(last_id_ - opts_.retain_events) : 0;
    const std::int64_t cutoff =
        now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(opts_.retain_age).count();
    if (!prune_)
      prune_ = std::make_unique<statement>(writer_db_->get(), "DELETE FROM events WHERE id <= ? OR at_ms < ?");
    statement* del = prune_.get();
    del->bind(1, keep_from_count).bind(2, cutoff);
    del->step();
    const auto n = sqlite3_changes(writer_db_->get());
    del->reset();
    if (applier_) applier_->prune_deliveries(now_ms() - 7LL * 86400 * 1000);
    if (n > 0) {
      pruned_ += static_cast<std::uint64_t>(n);
      statement s(writer_db_->get(), "SELECT COALESCE(MIN(id),0) FROM events");
      s.step();
      // An empty log after pruning still has a resume horizon: the next id.
      std::uint64_t first = static_cast<std::uint64_t>(s.column_int(0));
      first_id_ = first ? first : last_id_ + 1;
    }
  } catch (const std::exception& e) {
    spdlog::warn("msg=\"event retention pass failed\" error=\"{}\"", e.what());
  }
}

std::unique_ptr<connection> event_log::take_reader() {
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

void event_log::return_reader(std::unique_ptr<connection> c) {
  std::lock_guard lk(readers_mu_);
  if (idle_readers_.size() < 8) idle_readers_.push_back(std::move(c));
}

std::vector<core::event_ptr> event_log::read_range(std::uint64_t after, std::uint64_t upto,
                                                   const core::topic_filter& filter, std::size_t limit) {
  std::vector<core::event_ptr> out;
  if (upto <= after || limit == 0) return out;
  auto db = take_reader();
  {
    // Filtering happens here rather than in SQL so that the one rule of
    // topic_filter::matches decides both live delivery and replay.
    statement s(db->get(),
                "SELECT id, type, object, tenant, data FROM events WHERE id > ? AND id <= ? ORDER BY id");
    s.bind(1, static_cast<std::int64_t>(after)).bind(2, static_cast<std::int64_t>(upto));
    while (out.size() < limit && s.step()) {
      auto type = core::parse_event_type(s.column_text(1)).value_or(core::event_type::message);
      std::string_view object = s.column_text(2), tenant = s.column_text(3);
      if (!filter.matches(type, object, tenant)) continue;
      out.push_back(core::make_event(static_cast<std::uint64_t>(s.column_int(0)), type,
                                     std::string(object), std::string(tenant),
                                     std::string(s.column_text(4))));
    }
  }
  return_reader(std::move(db));
  return out;
}

event_log_counters event_log::counters() const {
  return {committed_.load(), transactions_.load(), pruned_.load(), rejected_.load()};
}

}  // namespace freshet::store
