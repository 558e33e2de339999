// POST /api/refresh and GET /api/jobs/{id} (DESIGN.md): start or join the
// refresh of one tenant, and read a job's progress.
#include "app/api.hpp"
#include "app/off_loop.hpp"
#include "app/responses.hpp"
#include "jobs/refresh_jobs.hpp"

#include <boost/json/parse.hpp>

#include <fmt/format.h>

namespace freshet::app {

namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using status = bhttp::status;
using http::api_error;

asio::awaitable<http::response> api::refresh(const http::request& req, const principal& who) {
  const unsigned version = req.version();
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec)
    co_return error_response({status::bad_request, "malformed_json", "The body is not valid JSON: " + ec.message() + "."},
                             version);
  const json::value* t = body.is_object() ? body.get_object().if_contains("tenant") : nullptr;
  if (!t || !t->is_string() || t->get_string().empty())
    co_return error_response({status::bad_request, "invalid_body", "The body must be {\"tenant\":\"<tenant>\"}."},
                             version);
  const std::string tenant(t->get_string());
  if (!who.may_see_tenant(tenant))
    co_return error_response({status::forbidden, "forbidden_tenant",
                              fmt::format("The token '{}' may not refresh tenant '{}'.", who.name, tenant)},
                             version);
  if (!refresh_)
    co_return error_response({status::not_found, "unknown_tenant",
                              fmt::format("No tenant '{}': no source is configured.", tenant)},
                             version);
  auto started = co_await off_loop(streams_.blocking, [&] { return refresh_->start(tenant, who.name); });
  if (std::holds_alternative<jobs::refresh_unknown_tenant>(started))
    co_return error_response({status::not_found, "unknown_tenant",
                              fmt::format("No records of tenant '{}' are stored, so there is nothing to refresh.", tenant)},
                             version);
  if (const auto* cool = std::get_if<jobs::refresh_cooling>(&started)) {
    auto res = error_response({status::too_many_requests, "refresh_cooldown",
                               fmt::format("Tenant '{}' was refreshed moments ago; try again in {} s.", tenant,
                                           cool->retry_after.count())},
                              version);
    res.set(bhttp::field::retry_after, std::to_string(cool->retry_after.count()));
    co_return res;
  }
  const auto& s = std::get<jobs::refresh_started>(started);
  if (!s.joined) cache_.refresh_started();  // a joined job reads upstream once for all who asked
  auto res = json_response(status::accepted, json::object{{"job_id", s.job_id}, {"joined", s.joined}}, version);
  res.set(bhttp::field::location, "/api/jobs/" + s.job_id);
  co_return res;
}

asio::awaitable<http::response> api::job(const principal& who, const std::string& id, unsigned version) const {
  // A job another instance runs is read from the shared store: off the loop.
  // (Not a co_await inside ?:, and a lambda that owns nothing: GCC 12
  // miscompiles both here.)
  std::optional<std::pair<json::object, std::string>> found;
  if (refresh_) found = co_await off_loop(streams_.blocking, [&] { return refresh_->find(id); });
  // Another tenant's job is "not found" to a scoped token.
  if (!found || !who.may_see_tenant(found->second))
    co_return error_response({status::not_found, "unknown_job", fmt::format("No job '{}'.", id)}, version);
  co_return json_response(status::ok, found->first, version);
}

}  // namespace freshet::app
