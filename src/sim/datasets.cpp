#include "sim/datasets.hpp"

#include "sim/knack_format.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <cstdio>

namespace freshet::sim {

namespace json = boost::json;

namespace {

constexpr std::int64_t kDayMs = 86400000;
const char* const kStatuses[] = {"Received", "Data Wiped", "Refurbished", "Ready for Donation", "Donated"};
const char* const kCounties[] = {"hennepin", "ramsey", "anoka", "dakota", "washington"};
const char* const kModels[] = {"ThinkPad T480", "ThinkPad X270", "Latitude 5490", "EliteBook 840 G5",
                               "MacBook Air 2017", "Latitude 7400", "ProBook 450 G6"};
const char* const kOrgs[] = {"Northside Library",  "Phillips Community Center", "St. Paul Adult Learning",
                             "Anoka Food Shelf",   "Dakota Youth Hub",          "Washington Senior Center",
                             "Hmong Cultural Club", "Somali Parents Network",   "Frogtown Tech Club"};

template <class T, std::size_t N>
const T& pick(const T (&items)[N], std::mt19937_64& rng) {
  return items[rng() % N];
}

std::int64_t between(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

// `n` creation times between `lo` and `hi`, oldest first (records are kept in
// creation order, as Knack lists them by default).
std::vector<std::int64_t> sorted_times(std::mt19937_64& rng, int n, std::int64_t lo, std::int64_t hi) {
  std::vector<std::int64_t> t;
  for (int i = 0; i < n; ++i) t.push_back(between(rng, lo, hi));
  std::sort(t.begin(), t.end());
  return t;
}

knack_field field(std::string key, std::string name, knack_type t, std::string to = "") {
  return knack_field{std::move(key), std::move(name), t, std::move(to)};
}

std::int64_t local_ms(int y, int m, int d) {
  auto p = parse_knack_date(
      [&] {
        char b[16];
        std::snprintf(b, sizeof b, "%02d/%02d/%04d", m, d, y);
        return std::string(b);
      }());
  return p->local_ms;
}

int status_index(const json::value* v) {
  if (!v || !v->is_string()) return 0;
  for (int i = 0; i < 5; ++i)
    if (v->get_string() == kStatuses[i]) return i;
  return 0;
}

knack_record new_laptop(std::mt19937_64& rng, std::int64_t created, int serial) {
  knack_record r;
  r.id = knack_record_id(created, rng);
  char s[16];
  std::snprintf(s, sizeof s, "HTI-%05d", serial);
  r.values["field_1"] = s;
  r.values["field_2"] = pick(kModels, rng);
  r.values["field_3"] = kStatuses[0];
  r.values["field_4"] = created - created % kDayMs;
  r.values["field_5"] = pick(kCounties, rng);
  r.values["field_20"] = created;
  return r;
}

}  // namespace

std::string knack_record_id(std::int64_t created_local_ms, std::mt19937_64& rng) {
  char b[32];
  std::snprintf(b, sizeof b, "%08llx%016llx", static_cast<unsigned long long>(created_local_ms / 1000) & 0xffffffffULL,
                static_cast<unsigned long long>(rng()));
  return b;
}

knack_app make_hti(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  knack_app app;
  app.name = "HTI Laptops";
  {
    char b[32];
    std::snprintf(b, sizeof b, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng() & 0xffffffffULL));
    app.id = b;
  }
  const std::int64_t start = local_ms(2025, 1, 6), end = local_ms(2026, 11, 1);

  knack_object donations{"object_2", "Donations",
                         {field("field_7", "Organisation", knack_type::short_text),
                          field("field_8", "Laptops", knack_type::number), field("field_9", "Date", knack_type::date),
                          field("field_10", "County", knack_type::multiple_choice),
                          field("field_21", "Modified", knack_type::date_time)},
                         "field_7", "field_21", {}};
  std::vector<std::int64_t> times = sorted_times(rng, 300, start, end);
  for (int i = 0; i < 300; ++i) {
    knack_record r;
    r.id = knack_record_id(times[i], rng);
    r.values["field_7"] = pick(kOrgs, rng);
    r.values["field_8"] = between(rng, 1, 12);
    r.values["field_9"] = times[i] - times[i] % kDayMs;
    r.values["field_10"] = pick(kCounties, rng);
    r.values["field_21"] = times[i];
    donations.records.push_back(std::move(r));
  }

  knack_object laptops{"object_1", "Laptops",
                       {field("field_1", "Serial", knack_type::short_text), field("field_2", "Model", knack_type::short_text),
                        field("field_3", "Status", knack_type::multiple_choice),
                        field("field_4", "Received", knack_type::date),
                        field("field_5", "County", knack_type::multiple_choice),
                        field("field_6", "Donation", knack_type::connection, "object_2"),
                        field("field_20", "Modified", knack_type::date_time)},
                       "field_1", "field_20", {}};
  times = sorted_times(rng, 2400, start, end);
  for (int i = 0; i < 2400; ++i) {
    knack_record r = new_laptop(rng, times[i], i + 1);
    // Older laptops are further along; most of the oldest are donated.
    const double age = static_cast<double>(end - times[i]) / static_cast<double>(end - start);
    const int status = std::min(4, static_cast<int>(age * 5.5 + static_cast<double>(rng() % 100) / 100.0));
    r.values["field_3"] = kStatuses[status];
    r.values["field_20"] = std::min(end, times[i] + between(rng, 0, 40) * kDayMs);
    if (status == 4) r.values["field_6"] = json::array{json::value(donations.records[rng() % 300].id)};
    laptops.records.push_back(std::move(r));
  }

  knack_object trainings{"object_3", "Training sessions",
                         {field("field_11", "Title", knack_type::short_text), field("field_12", "Date", knack_type::date),
                          field("field_13", "County", knack_type::multiple_choice),
                          field("field_14", "Capacity", knack_type::number),
                          field("field_15", "Registrations", knack_type::number),
                          field("field_22", "Modified", knack_type::date_time)},
                         "field_11", "field_22", {}};
  times = sorted_times(rng, 80, start, end);
  const char* const topics[] = {"Laptop basics", "Email and safety online", "Video calls", "Job search online"};
  for (int i = 0; i < 80; ++i) {
    knack_record r;
    r.id = knack_record_id(times[i], rng);
    const std::int64_t capacity = between(rng, 8, 24);
    r.values["field_11"] = pick(topics, rng);
    r.values["field_12"] = times[i] - times[i] % kDayMs + 30 * kDayMs;
    r.values["field_13"] = pick(kCounties, rng);
    r.values["field_14"] = capacity;
    r.values["field_15"] = between(rng, 0, capacity);
    r.values["field_22"] = times[i];
    trainings.records.push_back(std::move(r));
  }
  app.objects = {std::move(laptops), std::move(donations), std::move(trainings)};
  return app;
}

bool knack_dataset_exists(const std::string& name) { return name == "hti"; }

knack_app make_knack_dataset(const std::string& name, std::uint64_t seed) {
  if (name == "hti") return make_hti(seed);
  throw std::invalid_argument("unknown Knack data set '" + name + "' (this build has: hti)");
}

applied_change apply_random_change(knack_app& app, std::mt19937_64& rng, std::int64_t now) {
  knack_object& laptops = *app.object("object_1");
  knack_object& donations = *app.object("object_2");
  knack_object& trainings = *app.object("object_3");
  const int roll = static_cast<int>(rng() % 100);
  if (roll < 60 && !laptops.records.empty()) {
    // A laptop moves one step along its lifecycle (a Donated one is left alone).
    for (int tries = 0; tries < 20; ++tries) {
      knack_record& r = laptops.records[rng() % laptops.records.size()];
      const int s = status_index(r.values.if_contains("field_3"));
      if (s >= 4) continue;
      r.values["field_3"] = kStatuses[s + 1];
      if (s + 1 == 4 && !donations.records.empty())
        r.values["field_6"] = json::array{json::value(donations.records.back().id)};
      r.values["field_20"] = now;
      return {"updated", laptops.key, r.id};
    }
  }
  if (roll < 75) {
    knack_record r = new_laptop(rng, now, static_cast<int>(laptops.records.size()) + 10001);
    laptops.records.push_back(std::move(r));
    return {"created", laptops.key, laptops.records.back().id};
  }
  if (roll < 85) {
    knack_record r;
    r.id = knack_record_id(now, rng);
    r.values["field_7"] = pick(kOrgs, rng);
    r.values["field_8"] = between(rng, 1, 12);
    r.values["field_9"] = now - now % kDayMs;
    r.values["field_10"] = pick(kCounties, rng);
    r.values["field_21"] = now;
    donations.records.push_back(std::move(r));
    return {"created", donations.key, donations.records.back().id};
  }
  if (roll < 95 && !trainings.records.empty()) {
    knack_record& r = trainings.records[rng() % trainings.records.size()];
    const std::int64_t cap = r.values["field_14"].as_int64();
    const std::int64_t reg = r.values["field_15"].as_int64();
    r.values["field_15"] = reg < cap ? reg + 1 : reg - 1;
    r.values["field_22"] = now;
    return {"updated", trainings.key, r.id};
  }
  // A laptop found beyond repair is removed: deletes leave no trace (1.7).
  const std::size_t i = rng() % laptops.records.size();
  std::string id = laptops.records[i].id;
  laptops.records.erase(laptops.records.begin() + static_cast<std::ptrdiff_t>(i));
  return {"deleted", laptops.key, id};
}

}  // namespace freshet::sim
