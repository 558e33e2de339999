#include "sim/datasets.hpp"

#include "core/clock.hpp"
#include "sim/knack_format.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <cstdio>

namespace freshet::sim {

namespace json = boost::json;

namespace {

const char* const kStatuses[] = {"Received", "Data Wiped", "Refurbished", "Ready for Donation", "Donated"};
const char* const kCounties[] = {"hennepin", "ramsey", "anoka", "dakota", "washington"};
const char* const kModels[] = {"ThinkPad T480", "ThinkPad X270", "Latitude 5490", "EliteBook 840 G5",
                               "MacBook Air 2017", "Latitude 7400", "ProBook 450 G6"};
const char* const kOrgs[] = {"Northside Library",  "Phillips Community Center", "St. Paul Adult Learning",
                             "Anoka Food Shelf",   "Dakota Youth Hub",          "Washington Senior Center",
                             "Hmong Cultural Club", "Somali Parents Network",   "Frogtown Tech Club"};

std::string lower_email(const std::string& first, const std::string& last, const std::string& id) {
  std::string e = first + "." + last + "." + id.substr(18) + "@students.example.org";
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

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
  r.values["field_4"] = created - created % core::kDayMs;
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
  app.dataset = "hti";
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
    r.values["field_9"] = times[i] - times[i] % core::kDayMs;
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
    r.values["field_20"] = std::min(end, times[i] + between(rng, 0, 40) * core::kDayMs);
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
    r.values["field_12"] = times[i] - times[i] % core::kDayMs + 30 * core::kDayMs;
    r.values["field_13"] = pick(kCounties, rng);
    r.values["field_14"] = capacity;
    r.values["field_15"] = between(rng, 0, capacity);
    r.values["field_22"] = times[i];
    trainings.records.push_back(std::move(r));
  }
  app.objects = {std::move(laptops), std::move(donations), std::move(trainings)};
  return app;
}

namespace {

const char* const kFirst[] = {"Amara", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Hamza", "Isla", "Jack",
                              "Kai", "Lily", "Mohammed", "Niamh", "Oscar", "Priya", "Quinn", "Ruby", "Sam", "Tara"};
const char* const kLast[] = {"Patel", "Smith", "Jones", "Khan", "Williams", "Brown", "Taylor", "Ali", "Wilson",
                             "Evans", "Thomas", "Roberts", "Walker", "Wright", "Hughes", "Green", "Hall", "Wood"};
const char* const kComments[] = {"Good progress this term", "Needs support with revision planning",
                                 "Attendance has improved", "Consider a study group", "Excellent effort in mocks"};

std::int64_t score(std::mt19937_64& rng) { return between(rng, 1, 10); }

knack_record new_student(std::mt19937_64& rng, std::int64_t created, const knack_record& school) {
  knack_record r;
  r.id = knack_record_id(created, rng);
  const std::string first = pick(kFirst, rng), last = pick(kLast, rng);
  r.values["field_5"] = first + " " + last;
  r.values["field_6"] = lower_email(first, last, r.id);
  r.values["field_7"] = json::array{json::value(school.id)};
  r.values["field_8"] = school.values.at("field_2");
  r.values["field_9"] = rng() % 2 ? "Year 12" : "Year 13";
  r.values["field_31"] = created;
  return r;
}

knack_record new_vespa(std::mt19937_64& rng, std::int64_t created, const knack_record& student) {
  knack_record r;
  r.id = knack_record_id(created, rng);
  r.values["field_10"] = json::array{json::value(student.id)};
  r.values["field_11"] = student.values.at("field_8");
  for (const char* f : {"field_12", "field_13", "field_14", "field_15", "field_16"}) r.values[f] = score(rng);
  r.values["field_17"] = 1;
  r.values["field_32"] = created;
  return r;
}

knack_record new_comment(std::mt19937_64& rng, std::int64_t created, const knack_record& student) {
  knack_record r;
  r.id = knack_record_id(created, rng);
  r.values["field_18"] = json::array{json::value(student.id)};
  r.values["field_19"] = student.values.at("field_8");
  r.values["field_20"] = pick(kComments, rng);
  r.values["field_33"] = created;
  return r;
}

applied_change apply_schools_change(knack_app& app, std::mt19937_64& rng, std::int64_t now) {
  knack_object& schools = *app.object("object_1");
  knack_object& students = *app.object("object_2");
  knack_object& vespa = *app.object("object_3");
  knack_object& comments = *app.object("object_4");
  const int roll = static_cast<int>(rng() % 100);
  if (roll < 50 && !vespa.records.empty()) {  // a student retakes the questionnaire
    knack_record& r = vespa.records[rng() % vespa.records.size()];
    for (const char* f : {"field_12", "field_13", "field_14", "field_15", "field_16"}) r.values[f] = score(rng);
    r.values["field_17"] = std::min<std::int64_t>(3, r.values["field_17"].as_int64() + 1);
    r.values["field_32"] = now;
    return {"updated", vespa.key, r.id};
  }
  if (roll < 80 && !students.records.empty()) {  // a tutor comments
    comments.records.push_back(new_comment(rng, now, students.records[rng() % students.records.size()]));
    return {"created", comments.key, comments.records.back().id};
  }
  if (roll < 90) {  // a student joins
    const knack_record& school = schools.records[rng() % schools.records.size()];
    students.records.push_back(new_student(rng, now, school));
    return {"created", students.key, students.records.back().id};
  }
  const std::size_t i = rng() % students.records.size();  // a student leaves
  std::string id = students.records[i].id;
  students.records.erase(students.records.begin() + static_cast<std::ptrdiff_t>(i));
  return {"deleted", students.key, id};
}

}  // namespace

knack_app make_schools(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  knack_app app;
  app.dataset = "schools";
  app.name = "VESPA Schools";
  app.time_zone = "Europe/London";
  app.utc_offset_minutes = 0;
  {
    char b[32];
    std::snprintf(b, sizeof b, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng() & 0xffffffffULL));
    app.id = b;
  }
  const std::int64_t start = local_ms(2025, 9, 1), end = local_ms(2026, 11, 1);
  knack_object schools{"object_1", "Establishments",
                       {field("field_1", "Name", knack_type::short_text), field("field_2", "Code", knack_type::short_text),
                        field("field_3", "Students", knack_type::number),
                        field("field_30", "Modified", knack_type::date_time)},
                       "field_1", "field_30", {}};
  knack_object students{"object_2", "Students",
                        {field("field_5", "Name", knack_type::short_text), field("field_6", "Email", knack_type::email),
                         field("field_7", "Establishment", knack_type::connection, "object_1"),
                         field("field_8", "School code", knack_type::short_text),
                         field("field_9", "Year group", knack_type::multiple_choice),
                         field("field_31", "Modified", knack_type::date_time)},
                        "field_5", "field_31", {}};
  knack_object vespa{"object_3", "VESPA scores",
                     {field("field_10", "Student", knack_type::connection, "object_2"),
                      field("field_11", "School code", knack_type::short_text),
                      field("field_12", "Vision", knack_type::number), field("field_13", "Effort", knack_type::number),
                      field("field_14", "Systems", knack_type::number), field("field_15", "Practice", knack_type::number),
                      field("field_16", "Attitude", knack_type::number), field("field_17", "Cycle", knack_type::number),
                      field("field_32", "Modified", knack_type::date_time)},
                     "field_11", "field_32", {}};
  knack_object comments{"object_4", "Comments",
                        {field("field_18", "Student", knack_type::connection, "object_2"),
                         field("field_19", "School code", knack_type::short_text),
                         field("field_20", "Comment", knack_type::short_text),
                         field("field_33", "Modified", knack_type::date_time)},
                        "field_20", "field_33", {}};
  // The sizes the refresh benchmark names, then a spread of others.
  std::vector<std::int64_t> sizes = {50, 200, 465, 1000, 2000};
  while (sizes.size() < 40) sizes.push_back(between(rng, 50, 900));
  const char* const towns[] = {"Ashford", "Bolton", "Carlisle", "Derby", "Exeter", "Frome", "Gateshead", "Hull"};
  std::int64_t t = start;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    knack_record s;
    s.id = knack_record_id(t += 3600000, rng);
    char code[16];
    std::snprintf(code, sizeof code, "S%03zu", i + 1);
    s.values["field_1"] = std::string(pick(towns, rng)) + " Sixth Form " + std::to_string(i + 1);
    s.values["field_2"] = code;
    s.values["field_3"] = sizes[i];
    s.values["field_30"] = t;
    schools.records.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < sizes.size(); ++i)
    for (std::int64_t n = 0; n < sizes[i]; ++n) {
      students.records.push_back(new_student(rng, between(rng, start, end), schools.records[i]));
    }
  for (const auto& st : students.records) {
    vespa.records.push_back(new_vespa(rng, st.values.at("field_31").as_int64(), st));
    if (rng() % 10 < 3) comments.records.push_back(new_comment(rng, st.values.at("field_31").as_int64(), st));
  }
  app.objects = {std::move(schools), std::move(students), std::move(vespa), std::move(comments)};
  return app;
}

bool knack_dataset_exists(const std::string& name) { return name == "hti" || name == "schools"; }

knack_app make_knack_dataset(const std::string& name, std::uint64_t seed) {
  if (name == "hti") return make_hti(seed);
  if (name == "schools") return make_schools(seed);
  throw std::invalid_argument("unknown Knack data set '" + name + "' (this build has: hti, schools)");
}

applied_change apply_random_change(knack_app& app, std::mt19937_64& rng, std::int64_t now) {
  if (app.dataset == "schools") return apply_schools_change(app, rng, now);
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
    r.values["field_9"] = now - now % core::kDayMs;
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
