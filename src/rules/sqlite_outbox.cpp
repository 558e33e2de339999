#include "rules/sqlite_outbox.hpp"

#include "store/sqlite_db.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <stdexcept>

namespace freshet::rules {

namespace json = boost::json;
using store::statement;

namespace {

json::array parse_array(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return !ec && v.is_array() ? v.get_array() : json::array{};
}

constexpr const char* kColumns =
    "id, webhook_id, rule, notifier, object, tenant, status, text, names, records, count, first_event, last_event, "
    "created_ms, due_ms, step, attempts, COALESCE(done_ms, 0)";

notification row_of(const statement& s) {
  notification n;
  n.id = s.column_int(0);
  n.webhook_id = s.column_text(1);
  n.rule = s.column_text(2);
  n.notifier = s.column_text(3);
  n.object = s.column_text(4);
  n.tenant = s.column_text(5);
  n.status = s.column_text(6);
  n.text = s.column_text(7);
  n.names = parse_array(s.column_text(8));
  n.records = parse_array(s.column_text(9));
  n.count = s.column_int(10);
  n.first_event = static_cast<std::uint64_t>(s.column_int(11));
  n.last_event = static_cast<std::uint64_t>(s.column_int(12));
  n.created_ms = s.column_int(13);
  n.due_ms = s.column_int(14);
  n.step = static_cast<int>(s.column_int(15));
  n.attempts = static_cast<int>(s.column_int(16));
  n.done_ms = s.column_int(17);
  return n;
}

struct transaction {
  store::connection& db;
  bool done = false;
  explicit transaction(store::connection& c) : db(c) { db.exec("BEGIN IMMEDIATE"); }
  void commit() {
    db.exec("COMMIT");
    done = true;
  }
  ~transaction() {
    if (!done) try {
        db.exec("ROLLBACK");
      } catch (...) {
      }
  }
};

}  // namespace

sqlite_outbox::sqlite_outbox(const std::string& db_path, std::size_t max_undelivered, std::function<std::int64_t()> now_ms)
    : db_(std::make_unique<store::connection>(db_path, false)),
      max_undelivered_(max_undelivered),
      now_ms_(std::move(now_ms)) {
  // NORMAL, not FULL: a commit here is not fsynced at once. A process crash
  // loses nothing (the WAL is in the OS's cache); a power loss may roll back
  // the last commits, and then the firings and the rules' cursor roll back
  // together, so the engine makes them again from the log (fsynced by its own
  // writer), and a delivery whose mark was lost is sent again with the same
  // webhook-id. What it saves: an fsync per delivery attempt.
  db_->exec("PRAGMA synchronous=NORMAL");
  next_due_ = std::make_unique<statement>(
      db_->get(), std::string("SELECT ") + kColumns +
                      " FROM notifications WHERE notifier = ? AND status = 'pending' ORDER BY due_ms, id LIMIT 1");
  add_attempt_ = std::make_unique<statement>(
      db_->get(), "INSERT INTO notification_attempts(notification, at_ms, status, answer) VALUES (?,?,?,?)");
  finish_ = std::make_unique<statement>(
      db_->get(), "UPDATE notifications SET status = ?, done_ms = ?, attempts = attempts + 1 WHERE id = ?");
  reschedule_ = std::make_unique<statement>(
      db_->get(), "UPDATE notifications SET due_ms = ?, step = ?, attempts = attempts + ? WHERE id = ?");
  statement s(db_->get(), "SELECT COUNT(*) FROM notifications WHERE status IN ('gathering', 'pending')");
  s.step();
  undelivered_ = static_cast<std::size_t>(s.column_int(0));
}

sqlite_outbox::~sqlite_outbox() {
  // The statements go before their connection.
  next_due_.reset();
  add_attempt_.reset();
  finish_.reset();
  reschedule_.reset();
}

std::optional<std::uint64_t> sqlite_outbox::cursor() {
  std::lock_guard lk(mu_);
  statement s(db_->get(), "SELECT value FROM meta WHERE key = 'rules_cursor'");
  if (!s.step()) return std::nullopt;
  return static_cast<std::uint64_t>(s.column_int(0));
}

std::map<std::string, std::string> sqlite_outbox::load_state() {
  std::lock_guard lk(mu_);
  std::map<std::string, std::string> out;
  statement s(db_->get(), "SELECT key, value FROM rule_state");
  while (s.step()) out.emplace(std::string(s.column_text(0)), std::string(s.column_text(1)));
  return out;
}

outbox::commit_result sqlite_outbox::commit(const std::vector<firing>& firings, std::uint64_t cursor,
                                     const std::map<std::string, std::string>& state) {
  std::lock_guard lk(mu_);
  commit_result r;
  const std::int64_t now = now_ms_();
  transaction tx(*db_);
  statement find(db_->get(),
                 "SELECT id, names, records FROM notifications WHERE rule = ? AND notifier = ? AND tenant = ? "
                 "AND status = 'gathering' LIMIT 1");
  statement gather(db_->get(),
                   "UPDATE notifications SET count = count + 1, last_event = ?, names = ?, records = ? WHERE id = ?");
  statement insert(db_->get(),
                   "INSERT INTO notifications(webhook_id, rule, notifier, object, tenant, status, text, names, records, "
                   "count, first_event, last_event, created_ms, due_ms) VALUES (?,?,?,?,?,?,?,?,?,1,?,?,?,?)");
  std::size_t undelivered = undelivered_;
  for (const auto& f : firings) {
    if (f.coalesce_seconds > 0) {
      find.reset();
      find.bind_text(1, f.rule).bind_text(2, f.notifier).bind_text(3, f.tenant);
      if (find.step()) {
        const std::int64_t id = find.column_int(0);
        json::array names = parse_array(find.column_text(1)), records = parse_array(find.column_text(2));
        if (names.size() < kNamesKept) names.emplace_back(f.name);
        if (records.size() < kNamesKept) records.emplace_back(f.record_id);
        gather.reset();
        gather.bind(1, static_cast<std::int64_t>(f.event_id))
            .bind_text(2, json::serialize(names))
            .bind_text(3, json::serialize(records))
            .bind(4, id);
        gather.step();
        ++r.coalesced;
        continue;
      }
    }
    if (undelivered >= max_undelivered_) {
      ++r.refused;
      continue;
    }
    insert.reset();
    insert.bind_text(1, new_webhook_id())
        .bind_text(2, f.rule)
        .bind_text(3, f.notifier)
        .bind_text(4, f.object)
        .bind_text(5, f.tenant)
        .bind_text(6, f.coalesce_seconds > 0 ? "gathering" : "pending")
        .bind_text(7, f.text)
        .bind_text(8, json::serialize(json::array{json::value(f.name)}))
        .bind_text(9, json::serialize(json::array{json::value(f.record_id)}))
        .bind(10, static_cast<std::int64_t>(f.event_id))
        .bind(11, static_cast<std::int64_t>(f.event_id))
        .bind(12, now)
        .bind(13, now + std::int64_t{f.coalesce_seconds} * 1000);
    insert.step();
    ++undelivered;
    ++r.added;
  }
  statement cur(db_->get(), "INSERT INTO meta(key, value) VALUES ('rules_cursor', ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  cur.bind(1, static_cast<std::int64_t>(cursor));
  cur.step();
  if (!state.empty()) {
    statement put(db_->get(), "INSERT INTO rule_state(key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    statement del(db_->get(), "DELETE FROM rule_state WHERE key = ?");
    for (const auto& [k, v] : state) {
      auto& st = v.empty() ? del : put;
      st.reset();
      st.bind_text(1, k);
      if (!v.empty()) st.bind_text(2, v);
      st.step();
    }
  }
  tx.commit();
  undelivered_ = undelivered;
  return r;
}

std::size_t sqlite_outbox::close_windows(const std::function<std::string(const notification&)>& summary) {
  std::lock_guard lk(mu_);
  const std::int64_t now = now_ms_();
  std::vector<notification> due;
  {
    statement s(db_->get(), std::string("SELECT ") + kColumns +
                                " FROM notifications WHERE status = 'gathering' AND due_ms <= ? ORDER BY id");
    s.bind(1, now);
    while (s.step()) due.push_back(row_of(s));
  }
  if (due.empty()) return 0;
  transaction tx(*db_);
  statement upd(db_->get(), "UPDATE notifications SET status = 'pending', text = ?, due_ms = ? WHERE id = ?");
  for (const auto& n : due) {
    upd.reset();
    upd.bind_text(1, n.count > 1 ? summary(n) : n.text).bind(2, now).bind(3, n.id);
    upd.step();
  }
  tx.commit();
  return due.size();
}

std::optional<notification> sqlite_outbox::next_due(const std::string& notifier, std::int64_t* next_ms) {
  std::lock_guard lk(mu_);
  statement& s = *next_due_;
  s.reset();
  s.bind_text(1, notifier);
  *next_ms = 0;
  if (!s.step()) return std::nullopt;
  notification n = row_of(s);
  s.reset();
  if (n.due_ms > now_ms_()) {
    *next_ms = n.due_ms;
    return std::nullopt;
  }
  return n;
}

void sqlite_outbox::record_attempt(std::int64_t id, int status, std::string_view answer, attempt_outcome outcome,
                            std::int64_t next_ms, int step) {
  std::lock_guard lk(mu_);
  const std::int64_t now = now_ms_();
  transaction tx(*db_);
  // A wait with no answer (a held notifier) is no attempt: nothing was sent.
  const bool attempted = outcome != attempt_outcome::wait || status != 0;
  if (attempted) {
    add_attempt_->reset();
    add_attempt_->bind(1, id).bind(2, now).bind(3, std::int64_t{status}).bind_text(4, answer.substr(0, 512));
    add_attempt_->step();
  }
  switch (outcome) {
    case attempt_outcome::delivered:
    case attempt_outcome::failed:
      finish_->reset();
      finish_->bind_text(1, outcome == attempt_outcome::delivered ? "delivered" : "failed").bind(2, now).bind(3, id);
      finish_->step();
      if (undelivered_ > 0) --undelivered_;
      break;
    case attempt_outcome::retry:
    case attempt_outcome::wait:
      reschedule_->reset();
      reschedule_->bind(1, next_ms).bind(2, std::int64_t{step}).bind(3, std::int64_t{attempted ? 1 : 0}).bind(4, id);
      reschedule_->step();
      break;
  }
  tx.commit();
}

json::array sqlite_outbox::list(const outbox_list_filter& f) {
  std::lock_guard lk(mu_);
  std::string sql = std::string("SELECT ") + kColumns + " FROM notifications WHERE id > ?";
  if (!f.status.empty()) sql += " AND status = ?";
  if (!f.rule.empty()) sql += " AND rule = ?";
  sql += " ORDER BY id DESC LIMIT ?";
  statement s(db_->get(), sql);
  int i = 1;
  s.bind(i++, f.after_id);
  if (!f.status.empty()) s.bind_text(i++, f.status);
  if (!f.rule.empty()) s.bind_text(i++, f.rule);
  s.bind(i, static_cast<std::int64_t>(f.limit));
  statement att(db_->get(),
                "SELECT at_ms, status, answer FROM notification_attempts WHERE notification = ? ORDER BY rowid");
  json::array out;
  while (s.step()) {
    notification n = row_of(s);
    json::array attempts;
    att.reset();
    att.bind(1, n.id);
    while (att.step()) {
      json::object a;
      a["at_ms"] = att.column_int(0);
      a["status"] = att.column_int(1);
      a["answer"] = att.column_text(2);
      attempts.push_back(std::move(a));
    }
    out.push_back(notification_json(n, std::move(attempts)));
  }
  return out;
}

std::optional<std::string> sqlite_outbox::retry(std::int64_t id) {
  std::lock_guard lk(mu_);
  statement s(db_->get(), "SELECT status, notifier FROM notifications WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  const std::string status(s.column_text(0));
  std::string notifier(s.column_text(1));
  if (status == "delivered" || status == "gathering") return std::nullopt;
  statement u(db_->get(), "UPDATE notifications SET status = 'pending', due_ms = ?, step = 0, done_ms = NULL WHERE id = ?");
  u.bind(1, now_ms_()).bind(2, id);
  u.step();
  if (status == "failed") ++undelivered_;
  return notifier;
}

std::size_t sqlite_outbox::prune(std::int64_t before_ms) {
  std::lock_guard lk(mu_);
  transaction tx(*db_);
  db_->exec("DELETE FROM notification_attempts WHERE notification IN (SELECT id FROM notifications WHERE "
            "status IN ('delivered', 'failed') AND done_ms < " + std::to_string(before_ms) + ")");
  statement d(db_->get(), "DELETE FROM notifications WHERE status IN ('delivered', 'failed') AND done_ms < ?");
  d.bind(1, before_ms);
  d.step();
  const auto n = static_cast<std::size_t>(sqlite3_changes(db_->get()));
  tx.commit();
  return n;
}

outbox_counts sqlite_outbox::counts() {
  std::lock_guard lk(mu_);
  outbox_counts c;
  statement s(db_->get(), "SELECT status, COUNT(*) FROM notifications GROUP BY status");
  while (s.step()) c.set(s.column_text(0), static_cast<std::uint64_t>(s.column_int(1)));
  std::lock_guard lc(counts_mu_);
  last_counts_ = c;
  return c;
}

}  // namespace freshet::rules
