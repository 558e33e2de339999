// The client the connectors call upstream APIs with: keep-alive connections
// to one base URL (http:// or https:// with certificate and host name
// checks), a deadline on every request, and a small pool so concurrent
// requests overlap. It never retries on its own except once, on a fresh
// connection, when a pooled one turns out to have been closed by the server
// before answering; retries and backoff are the caller's (sources/retry).
//
// Thread-safety: the pool is locked, but a pooled connection belongs to the
// io_context it was opened on: run every request of one client on one executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace freshet::http {

struct upstream_response {
  bool ok = false;  // a whole answer arrived (any status)
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;  // the Retry-After header, when sent
  std::string error;        // why not, when !ok (timeout, refused, cut off)
  bool untrusted = false;   // !ok because the TLS certificate did not verify: permanent
};

// Awaited right before a request's bytes are written, after its connection
// is open: the caller's rate limiter goes here, so the time it grants is the
// time the request leaves (opening a connection, or a busy thread, cannot
// delay one request into the next one's second at the upstream).
using send_gate = std::function<boost::asio::awaitable<void>()>;

class upstream_client {
 public:
  // base_url: scheme://host[:port][/path]; request targets are appended to it.
  // Throws std::invalid_argument for a URL it cannot use.
  // ca_file: PEM certificate authorities to trust instead of the system's
  // ("": the system's, or SSL_CERT_FILE's). Throws std::invalid_argument for
  // a file OpenSSL cannot load.
  upstream_client(std::string base_url, std::chrono::milliseconds timeout, std::size_t max_idle = 16,
                  const std::string& ca_file = {});
  ~upstream_client();

  boost::asio::awaitable<upstream_response> request(boost::beast::http::verb method, std::string target,
                                                    std::vector<std::pair<std::string, std::string>> headers,
                                                    std::string body = {}, const send_gate& gate = {});

  const std::string& base_url() const { return base_url_; }

 private:
  struct connection;
  boost::asio::awaitable<std::unique_ptr<connection>> open();
  boost::asio::awaitable<upstream_response> exchange(connection& c, boost::beast::http::verb method,
                                                     const std::string& target,
                                                     const std::vector<std::pair<std::string, std::string>>& headers,
                                                     const std::string& body, const send_gate& gate, bool& reusable);

  const std::string base_url_;
  std::string host_, port_, base_path_;
  bool tls_ = false;
  const std::chrono::milliseconds timeout_;
  const std::size_t max_idle_;
  struct tls_context;
  std::unique_ptr<tls_context> tls_ctx_;
  std::mutex mu_;  // guards idle_
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace freshet::http
