// What a client sends the simulators to filter records: a Knack filters
// document or an Airtable formula. Parsed against the hti and services data
// sets, and, when valid, evaluated on a few of their records.
#include "sim/airtable_datasets.hpp"
#include "sim/airtable_formula.hpp"
#include "sim/datasets.hpp"
#include "sim/knack_filters.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace freshet::sim;
  static const knack_app app = make_hti(1);
  static const airtable_base base = make_services(1);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!text.empty() && text[0] == 'K') {
    auto f = parse_filters(text.substr(1), app.objects.front());
    if (auto* ok = std::get_if<knack_filter>(&f))
      for (std::size_t i = 0; i < 5 && i < app.objects.front().records.size(); ++i)
        (void)matches(*ok, app, app.objects.front().records[i], 1'800'000'000'000);
  } else {
    auto f = airtable_formula::parse(text, base.tables.front());
    if (auto* ok = std::get_if<airtable_formula>(&f))
      for (std::size_t i = 0; i < 5 && i < base.tables.front().records.size(); ++i)
        (void)ok->matches(base.tables.front().records[i]);
  }
  return 0;
}
