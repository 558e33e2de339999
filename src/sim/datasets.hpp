// Deterministic data sets for the simulators: the same seed gives the same
// records, ids and values, whenever and wherever it runs (no clock involved).
#pragma once

#include "sim/knack_model.hpp"

#include <cstdint>
#include <random>
#include <string>

namespace freshet::sim {

// `hti`: a laptop refurbishing nonprofit. Laptops (object_1) move through
// Received -> Data Wiped -> Refurbished -> Ready for Donation -> Donated, in
// five counties; donations (object_2); training sessions (object_3). Its goal
// is 3,500 laptops donated. About 2,800 records.
knack_app make_hti(std::uint64_t seed);

// `schools`: about 40 establishments (50 to 2,000 students; one has exactly
// 465), their students (linked by a connection and by a school code),
// one VESPA score record per student, and comments. About 45,000 records.
knack_app make_schools(std::uint64_t seed);

// The data set names this build knows, for --dataset.
bool knack_dataset_exists(const std::string& name);
knack_app make_knack_dataset(const std::string& name, std::uint64_t seed);

// A Knack-style record id (24 lowercase hex): creation seconds, then random.
std::string knack_record_id(std::int64_t created_local_ms, std::mt19937_64& rng);

// The change trickle: one plausible change, as staff would make it in the
// app (so each stamps the object's modified field with `now_local_ms`, as a
// record rule would). Deterministic for a given rng state.
struct applied_change {
  std::string op;  // created | updated | deleted
  std::string object;
  std::string id;
};
applied_change apply_random_change(knack_app& app, std::mt19937_64& rng, std::int64_t now_local_ms);

}  // namespace freshet::sim
