// Deterministic Airtable bases for the simulator.
#pragma once

#include "sim/airtable_model.hpp"

#include <cstdint>
#include <random>
#include <string>

namespace freshet::sim {

// "app", "tbl", "fld", "rec", "itr", "ach" + 14 alphanumerics.
std::string airtable_id(std::string_view prefix, std::mt19937_64& rng);

// `services`: service sign-ups organised by quarter (Q3-2025, Q4-2025,
// Q1-2026), and the services themselves. About 600 records.
airtable_base make_services(std::uint64_t seed);

bool airtable_dataset_exists(const std::string& name);
airtable_base make_airtable_dataset(const std::string& name, std::uint64_t seed);

// One plausible change (a sign-up moves on, a new one, a cancellation that
// deletes it), made as a user in the Airtable UI would.
struct airtable_change {
  std::string op;  // created | updated | deleted
  std::string table;
  std::string id;
};
airtable_change apply_random_airtable_change(airtable_base& base, std::mt19937_64& rng, std::int64_t now_ms);

}  // namespace freshet::sim
