// `freshet init knack|airtable`: reads the upstream's own schema (Knack's
// application metadata; Airtable's metadata API) with the credentials in the
// environment and prints a commented [[sources]] block to start a config from.
#pragma once

#include <boost/json/object.hpp>

#include <string>

namespace freshet::app {

struct init_options {
  std::string kind;      // knack | airtable
  std::string base_url;  // "": the real API
  std::string name;      // the source's name; "": from the application's or base's name
  std::string ca_file;
};

int run_init(const init_options& opts);

// The block for a schema already read (the answer of GET
// /v1/applications/{id}, or of GET /v0/meta/bases/{id}/tables); pure, for tests.
std::string knack_source_block(const boost::json::object& application, const init_options& opts);
std::string airtable_source_block(const boost::json::object& tables, const init_options& opts);

}  // namespace freshet::app
