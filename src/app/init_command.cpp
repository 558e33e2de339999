#include "app/init_command.hpp"

#include "core/names.hpp"
#include "http/upstream_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>

namespace freshet::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Words a dashboard's partition goes by: a school, a county, a quarter.
constexpr std::array kTenantWords = {"county", "school", "district", "region", "tenant", "site", "branch", "chapter",
                                     "quarter", "team", "location", "office", "program", "campus"};
constexpr std::array kModifiedWords = {"modified", "updated", "changed", "last_edit", "edited"};

bool contains_any(const std::string& name, auto const& words) {
  for (std::string_view w : words)
    if (name.find(w) != std::string::npos) return true;
  return false;
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::array* array_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}

// A field of an object, as both schemas describe it.
struct field_info {
  std::string local, upstream, type;
};

// Local names unique within the object: a second "Name" becomes name_2.
std::vector<field_info> fields_of(const json::array& fields, std::string_view upstream_key) {
  std::vector<field_info> out;
  std::set<std::string> taken;
  for (const auto& f : fields) {
    if (!f.is_object()) continue;
    std::string local = core::snake_case(str(f.get_object(), "name"));
    if (local.empty()) local = "field";
    std::string unique = local;
    for (int n = 2; !taken.insert(unique).second; ++n) unique = local + "_" + std::to_string(n);
    out.push_back({unique, str(f.get_object(), upstream_key), str(f.get_object(), "type")});
  }
  return out;
}

void write_fields(std::ostringstream& os, const std::vector<field_info>& fields) {
  os << "  fields = { ";
  for (std::size_t i = 0; i < fields.size(); ++i)
    os << (i ? ", " : "") << fields[i].local << " = \"" << fields[i].upstream << "\"";
  os << " }\n";
}

// The tenant guess: a field named like a partition that holds one plain value.
const field_info* guess_tenant(const std::vector<field_info>& fields, std::initializer_list<std::string_view> plain) {
  for (const auto& f : fields)
    if (contains_any(f.local, kTenantWords) &&
        std::find(plain.begin(), plain.end(), f.type) != plain.end())
      return &f;
  return nullptr;
}

void write_tenant(std::ostringstream& os, const field_info* t) {
  if (t)
    os << "  tenant_field = \"" << t->local << "\"   # a guess, from its name: tokens' tenants are this field's values\n";
  else
    os << "  # tenant_field = \"...\"   # the field whose value is a dashboard's tenant (a school, a county), if any\n";
}

struct fetched {
  http::upstream_response res;
  std::string error;
};

fetched get(const std::string& base_url, const std::string& ca_file, std::string target,
            std::vector<std::pair<std::string, std::string>> headers) {
  fetched out;
  try {
    // The context first: the client's pooled connection lives on it, so the
    // client must go before it does.
    asio::io_context io;
    http::upstream_client client(base_url, std::chrono::seconds(30), 1, ca_file);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          out.res = co_await client.request(boost::beast::http::verb::get, std::move(target), std::move(headers));
        },
        [&](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            out.error = ex.what();
          }
        });
    io.run();
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  if (out.error.empty() && !out.res.ok) out.error = out.res.error;
  return out;
}

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// The schema document, or an exit code after saying why not.
std::optional<json::object> read_schema(const fetched& f, const std::string& what, const std::string& credentials) {
  if (!f.error.empty()) {
    std::cerr << "freshet init: cannot read " << what << ": " << f.error << "\n";
    return std::nullopt;
  }
  if (f.res.status == 401 || f.res.status == 403) {
    std::cerr << "freshet init: the upstream refused the credentials (" << f.res.status << "): check " << credentials
              << "\n";
    return std::nullopt;
  }
  if (f.res.status == 404) {
    std::cerr << "freshet init: the upstream has no such " << what << " (404): check " << credentials << "\n";
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto doc = json::parse(f.res.body, ec);
  if (f.res.status != 200 || ec || !doc.is_object()) {
    std::cerr << "freshet init: " << what << " answered " << f.res.status << " with no schema: "
              << f.res.body.substr(0, 200) << "\n";
    return std::nullopt;
  }
  return std::move(doc.get_object());
}

}  // namespace

std::string knack_source_block(const json::object& doc, const init_options& opts) {
  const auto* app_v = doc.if_contains("application");
  const json::object& app = app_v && app_v->is_object() ? app_v->get_object() : doc;
  const std::string app_name = str(app, "name");
  const std::string name = !opts.name.empty() ? opts.name : core::snake_case(app_name.empty() ? "knack" : app_name);
  std::ostringstream os;
  os << "# A Freshet source for the Knack application \"" << app_name << "\", read from its schema by\n"
     << "# `freshet init knack`. Review the lines marked \"a guess\", and delete the objects and\n"
     << "# fields no dashboard needs. Set in the environment: KNACK_APP_ID and KNACK_API_KEY\n"
     << "# (Settings > API & Code in the Knack builder). docs/knack.md says more.\n"
     << "[[sources]]\nname = \"" << name << "\"\nkind = \"knack\"\n"
     << "base_url = \"" << (opts.base_url.empty() ? "https://api.knack.com" : opts.base_url) << "\"\n"
     << "app_id_env = \"KNACK_APP_ID\"\napi_key_env = \"KNACK_API_KEY\"\n"
     << "# Knack allows 10 requests a second per application; leave room for its other clients.\n"
     << "requests_per_second = 8\n"
     << "# Changes in seconds instead of at the next poll: a Flow or record rule that calls\n"
     << "# https://<this server>/api/webhooks/" << name << ", signed with a whsec_ secret (docs/knack.md):\n"
     << "# webhook_secret_env = \"KNACK_WEBHOOK_SECRET\"\n";
  if (const auto* objects = array_at(app, "objects"))
    for (const auto& o : *objects) {
      if (!o.is_object()) continue;
      const auto& obj = o.get_object();
      const auto* fa = array_at(obj, "fields");
      const auto fields = fa ? fields_of(*fa, "key") : std::vector<field_info>{};
      os << "\n  [[sources.objects]]\n  name = \"" << core::snake_case(str(obj, "name")) << "\"   # \""
         << str(obj, "name") << "\"\n  key = \"" << str(obj, "key") << "\"\n";
      write_fields(os, fields);
      const field_info* modified = nullptr;
      for (const auto& f : fields)
        if (f.type == "date_time" && contains_any(f.local, kModifiedWords)) modified = &f;
      if (modified)
        os << "  modified_field = \"" << modified->local
           << "\"   # a guess, from its name: a record rule must set it on every edit (docs/knack.md)\n";
      else
        os << "  # modified_field = \"...\"   # none found: without one every poll reads the whole object; add a\n"
           << "  #                            date/time field that a record rule sets on every edit (docs/knack.md)\n";
      write_tenant(os, guess_tenant(fields, {"short_text", "multiple_choice", "number", "email"}));
    }
  return os.str();
}

std::string airtable_source_block(const json::object& doc, const init_options& opts) {
  const std::string name = !opts.name.empty() ? opts.name : "airtable";
  std::ostringstream os;
  os << "# A Freshet source for an Airtable base, read from its metadata by `freshet init airtable`.\n"
     << "# Review the lines marked \"a guess\", and delete the tables and fields no dashboard needs.\n"
     << "# Set in the environment: AIRTABLE_BASE_ID and AIRTABLE_TOKEN, a personal access token with\n"
     << "# data.records:read, schema.bases:read and, for webhooks, webhook:manage (docs/airtable.md).\n"
     << "[[sources]]\nname = \"" << name << "\"\nkind = \"airtable\"\n"
     << "base_url = \"" << (opts.base_url.empty() ? "https://api.airtable.com" : opts.base_url) << "\"\n"
     << "base_id_env = \"AIRTABLE_BASE_ID\"\ntoken_env = \"AIRTABLE_TOKEN\"\n"
     << "# Airtable allows 5 requests a second per base; leave room for its other clients.\n"
     << "requests_per_second = 4\n"
     << "# Changes in seconds instead of at the next poll: Freshet registers an Airtable webhook\n"
     << "# that pings this URL, which Airtable must be able to reach (docs/airtable.md):\n"
     << "# webhook_url = \"https://<this server>/api/webhooks/" << name << "\"\n";
  if (const auto* tables = array_at(doc, "tables"))
    for (const auto& t : *tables) {
      if (!t.is_object()) continue;
      const auto& table = t.get_object();
      const auto* fa = array_at(table, "fields");
      const auto fields = fa ? fields_of(*fa, "name") : std::vector<field_info>{};
      os << "\n  [[sources.objects]]\n  name = \"" << core::snake_case(str(table, "name")) << "\"   # \""
         << str(table, "name") << "\"\n  key = \"" << str(table, "id") << "\"\n";
      write_fields(os, fields);
      const field_info* modified = nullptr;
      for (const auto& f : fields)
        if (f.type == "lastModifiedTime") modified = &f;
      if (modified)
        os << "  modified_field = \"" << modified->local << "\"   # a last-modified-time field: Airtable keeps it current\n";
      else
        os << "  # modified_field = \"...\"   # none found: Freshet asks for LAST_MODIFIED_TIME() instead, which\n"
           << "  #                            works; a \"Last modified time\" field named here is the same, indexed\n";
      write_tenant(os, guess_tenant(fields, {"singleLineText", "singleSelect", "number", "email"}));
    }
  return os.str();
}

int run_init(const init_options& opts) {
  if (opts.kind == "knack") {
    const char* app_id = env_or_null("KNACK_APP_ID");
    if (!app_id) {
      std::cerr << "freshet init knack: set KNACK_APP_ID to the application id (Settings > API & Code in the Knack "
                   "builder); the schema needs no API key\n";
      return 2;
    }
    const std::string base = opts.base_url.empty() ? "https://api.knack.com" : opts.base_url;
    auto f = get(base, opts.ca_file,
                 "/v1/applications/" + boost::urls::encode(app_id, boost::urls::unreserved_chars), {});
    auto doc = read_schema(f, "Knack application", "KNACK_APP_ID");
    if (!doc) return 1;
    std::cout << knack_source_block(*doc, opts);
    return 0;
  }
  if (opts.kind == "airtable") {
    const char* base_id = env_or_null("AIRTABLE_BASE_ID");
    const char* token = env_or_null("AIRTABLE_TOKEN");
    if (!base_id || !token) {
      std::cerr << "freshet init airtable: set AIRTABLE_BASE_ID (app..., in the base's URL) and AIRTABLE_TOKEN (a "
                   "personal access token with schema.bases:read)\n";
      return 2;
    }
    const std::string base = opts.base_url.empty() ? "https://api.airtable.com" : opts.base_url;
    auto f = get(base, opts.ca_file,
                 "/v0/meta/bases/" + boost::urls::encode(base_id, boost::urls::unreserved_chars) + "/tables",
                 {{"Authorization", std::string("Bearer ") + token}});
    auto doc = read_schema(f, "Airtable base",
                           "AIRTABLE_BASE_ID and AIRTABLE_TOKEN (it needs the schema.bases:read scope and access to "
                           "the base)");
    if (!doc) return 1;
    std::cout << airtable_source_block(*doc, opts);
    return 0;
  }
  std::cerr << "freshet init: say knack or airtable\n";
  return 2;
}

}  // namespace freshet::app
