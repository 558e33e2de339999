#include "sim/airtable_datasets.hpp"

#include <algorithm>

namespace freshet::sim {

namespace json = boost::json;

namespace {

const char* const kServices[] = {"Laptop setup", "Internet at home", "Tax help", "Job search coaching",
                                 "Benefits enrolment", "English conversation"};
const char* const kQuarters[] = {"Q3-2025", "Q4-2025", "Q1-2026"};
const char* const kStatus[] = {"Signed up", "Confirmed", "Attended", "Cancelled"};
const char* const kAirtableFirst[] = {"Ana", "Bilal", "Carmen", "Dinh", "Esther", "Farah", "Gus", "Hana", "Ivan", "Joy"};
const char* const kAirtableLast[] = {"Garcia", "Nguyen", "Hassan", "Olson", "Yang", "Ali", "Johnson", "Lee", "Moua"};

template <class T, std::size_t N>
const T& pick_from(const T (&items)[N], std::mt19937_64& rng) {
  return items[rng() % N];
}

constexpr std::int64_t kQ3_2025 = 1751328000000;  // 2025-07-01T00:00:00Z
constexpr std::int64_t kQuarterMs = 92LL * 86400000;

airtable_record new_signup(std::mt19937_64& rng, std::int64_t created, int quarter) {
  airtable_record r;
  r.id = airtable_id("rec", rng);
  r.created_ms = created;
  const std::string first = pick_from(kAirtableFirst, rng), last = pick_from(kAirtableLast, rng);
  r.fields["Name"] = first + " " + last;
  r.fields["Email"] = first + "." + last + "@example.org";
  r.fields["Service"] = pick_from(kServices, rng);
  r.fields["Quarter"] = kQuarters[quarter];
  r.fields["Status"] = kStatus[0];
  r.fields["Hours"] = static_cast<std::int64_t>(1 + rng() % 4);
  return r;
}

}  // namespace

std::string airtable_id(std::string_view prefix, std::mt19937_64& rng) {
  static constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id(prefix);
  for (int i = 0; i < 14; ++i) id += kAlnum[rng() % 62];
  return id;
}

airtable_base make_services(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  airtable_base base;
  base.id = airtable_id("app", rng);
  airtable_table signups{airtable_id("tbl", rng), "Sign-ups", {}, {}};
  for (auto [name, type] : {std::pair{"Name", "singleLineText"}, {"Email", "email"}, {"Service", "singleSelect"},
                            {"Quarter", "singleSelect"}, {"Status", "singleSelect"}, {"Hours", "number"},
                            {"Follow-up", "checkbox"}})
    signups.fields.push_back({airtable_id("fld", rng), name, type});
  airtable_table services{airtable_id("tbl", rng), "Services", {}, {}};
  for (auto [name, type] : {std::pair{"Name", "singleLineText"}, {"Capacity", "number"}})
    services.fields.push_back({airtable_id("fld", rng), name, type});
  for (const char* s : kServices) {
    airtable_record r;
    r.id = airtable_id("rec", rng);
    r.created_ms = kQ3_2025 - 86400000;
    r.fields["Name"] = s;
    r.fields["Capacity"] = static_cast<std::int64_t>(10 + rng() % 40);
    services.records.push_back(std::move(r));
  }
  std::vector<std::int64_t> times;
  for (int i = 0; i < 600; ++i) times.push_back(kQ3_2025 + static_cast<std::int64_t>(rng() % (3 * kQuarterMs)));
  std::sort(times.begin(), times.end());
  for (std::int64_t t : times) {
    auto r = new_signup(rng, t, static_cast<int>((t - kQ3_2025) / kQuarterMs));
    const int s = static_cast<int>(rng() % 4);
    if (s > 0) {
      r.fields["Status"] = kStatus[s];
      r.modified_ms = t + static_cast<std::int64_t>(rng() % (14 * 86400000LL));
    }
    if (rng() % 5 == 0) r.fields["Follow-up"] = true;  // a checkbox is true or absent
    signups.records.push_back(std::move(r));
  }
  base.tables = {std::move(signups), std::move(services)};
  return base;
}

bool airtable_dataset_exists(const std::string& name) { return name == "services"; }

airtable_base make_airtable_dataset(const std::string& name, std::uint64_t seed) {
  if (name == "services") return make_services(seed);
  throw std::invalid_argument("unknown Airtable data set '" + name + "' (this build has: services)");
}

airtable_change apply_random_airtable_change(airtable_base& base, std::mt19937_64& rng, std::int64_t now) {
  airtable_table& t = base.tables.front();
  const int roll = static_cast<int>(rng() % 100);
  if (roll < 60 && !t.records.empty()) {
    // A sign-up moves on (Signed up -> Confirmed -> Attended); one already
    // attended or cancelled gets its hours corrected instead. Always a change.
    airtable_record& r = t.records[rng() % t.records.size()];
    const std::string cur(r.fields["Status"].as_string());
    if (cur == kStatus[0] || cur == kStatus[1]) {
      r.fields["Status"] = cur == kStatus[0] ? kStatus[1] : kStatus[2];
    } else {
      const auto* h = r.fields.if_contains("Hours");
      r.fields["Hours"] = (h && h->is_int64() ? h->get_int64() : 0) % 4 + 1;
    }
    r.modified_ms = now;
    return {"updated", t.id, r.id};
  }
  if (roll < 90 || t.records.empty()) {
    t.records.push_back(new_signup(rng, now, 2));
    return {"created", t.id, t.records.back().id};
  }
  const std::size_t i = rng() % t.records.size();
  std::string id = t.records[i].id;
  t.records.erase(t.records.begin() + static_cast<std::ptrdiff_t>(i));
  return {"deleted", t.id, id};
}

}  // namespace freshet::sim
