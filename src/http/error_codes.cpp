#include "http/error_codes.hpp"

namespace freshet::http {

namespace {

using s = boost::beast::http::status;

constexpr error_code_spec kCodes[] = {
    // The request itself.
    {"bad_target", s::bad_request, "The request target is not a valid path."},
    {"malformed_request", s::bad_request, "The request is not valid HTTP/1.1."},
    {"malformed_json", s::bad_request, "The body (or WebSocket message) is not valid JSON."},
    {"invalid_body", s::bad_request, "The body is JSON of the wrong shape."},
    {"unknown_field", s::bad_request, "The body has a field the endpoint does not take."},
    {"missing_field", s::bad_request, "The body lacks a field the endpoint needs."},
    {"invalid_field", s::bad_request, "A field of the body has a value the endpoint does not take."},
    {"unknown_parameter", s::bad_request, "The query has a parameter the route does not take."},
    {"invalid_parameter", s::bad_request, "A query parameter is repeated, empty, comma-joined or out of its range."},
    {"malformed_signature", s::bad_request, "A webhook's signature header is not in the expected form."},
    {"invalid_message", s::bad_request, "A WebSocket message is not a subscribe message Freshet understands."},
    // Who is asking.
    {"unauthorized", s::unauthorized, "The endpoint needs a token and none was sent."},
    {"invalid_token", s::unauthorized, "The token is none of the configured tokens."},
    {"token_in_query", s::unauthorized, "access_token in the query is taken on the two stream routes only."},
    {"token_malformed", s::unauthorized, "The token is not a JSON Web Token Freshet can read."},
    {"token_wrong_issuer", s::unauthorized, "The token's issuer is not configured."},
    {"token_algorithm_refused", s::unauthorized, "The token's algorithm is not the one its issuer is configured with."},
    {"token_bad_signature", s::unauthorized, "The token's signature does not verify."},
    {"token_expired", s::unauthorized, "The token has expired: get a new one."},
    {"token_not_yet_valid", s::unauthorized, "The token's nbf is in the future."},
    {"token_wrong_audience", s::unauthorized, "The token is for another audience."},
    {"token_claims_missing", s::unauthorized, "The token lacks a claim Freshet needs (exp, scope, tenants)."},
    {"token_claims_invalid", s::unauthorized, "A claim of the token has a value Freshet does not take."},
    {"missing_signature", s::unauthorized, "A webhook came without its signature headers."},
    {"bad_signature", s::unauthorized, "A webhook's signature does not verify with the source's secret."},
    {"stale_timestamp", s::unauthorized, "A webhook's timestamp is outside the accepted window (a replay?)."},
    {"missing_scope", s::forbidden, "The token lacks the scope the endpoint needs."},
    {"forbidden_tenant", s::forbidden, "The token may not see or act on that tenant."},
    {"origin_not_allowed", s::forbidden, "The Origin is not in [server] allowed_origins."},
    // What is asked for.
    {"not_found", s::not_found, "No endpoint or page has that path."},
    {"unknown_object", s::not_found, "No object of that name is configured."},
    {"unknown_record", s::not_found, "The object has no record with that id."},
    {"unknown_tenant", s::not_found, "No record of any object has that tenant."},
    {"unknown_job", s::not_found, "No refresh job has that id (jobs are kept for a while after they end)."},
    {"unknown_source", s::not_found, "No source of that name is configured."},
    {"unknown_notification", s::not_found, "No notification has that id."},
    {"webhooks_not_enabled", s::not_found, "The source takes no webhooks (no secret configured)."},
    {"method_not_allowed", s::method_not_allowed, "The route does not take that method; Allow says which it takes."},
    {"already_subscribed", s::conflict, "The WebSocket already has a subscription."},
    {"body_too_large", s::payload_too_large, "The body is larger than [server] max_body_bytes."},
    {"websocket_required", s::upgrade_required, "/api/ws speaks WebSocket only."},
    {"refresh_cooldown", s::too_many_requests, "The tenant was refreshed moments ago; Retry-After says when to ask again."},
    {"headers_too_large", s::request_header_fields_too_large, "The request head is larger than [server] max_header_bytes."},
    // The server's state.
    {"store_overloaded", s::service_unavailable, "The store's write queue is full; try again shortly."},
    {"store_full", s::service_unavailable, "The disk is full: the store cannot take writes until space is freed."},
    {"store_failed", s::service_unavailable, "The store could not commit the write."},
    {"reads_overloaded", s::service_unavailable, "As many store reads are queued as the server takes; Retry-After says when to ask again."},
    {"store_unavailable", s::service_unavailable, "The store's Redis cannot be reached (the Redis engine); try again shortly."},
    {"shutting_down", s::service_unavailable, "The server is stopping."},
    {"internal_error", s::service_unavailable, "An unexpected store error."},
    {"too_many_connections", s::service_unavailable, "The server holds as many connections as [server] max_connections."},
    {"too_many_connections_from_address", s::service_unavailable,
     "The address holds as many connections as [server] max_connections_per_address."},
};

}  // namespace

std::span<const error_code_spec> error_codes() { return kCodes; }

const error_code_spec* find_error_code(std::string_view code) {
  for (const auto& c : kCodes)
    if (c.code == code) return &c;
  return nullptr;
}

}  // namespace freshet::http
