#include "http/upstream_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace freshet::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::use_awaitable;
using asio::as_tuple;

// A page of 1,000 Knack records with their formatted HTML runs to a few MiB.
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;
// What one read asks the socket for (Beast's own upper bound for a read).
constexpr std::size_t kReadChunk = 64 * 1024;

struct upstream_client::tls_context {
  asio::ssl::context ctx{asio::ssl::context::tls_client};
};

struct upstream_client::connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

namespace {
// A handshake that failed on the certificate (untrusted issuer, expired, a
// host name that does not match): the same answer awaits every retry.
struct untrusted_certificate : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

upstream_client::upstream_client(std::string base_url, std::chrono::milliseconds timeout, std::size_t max_idle,
                                 const std::string& ca_file)
    : base_url_(std::move(base_url)), timeout_(timeout), max_idle_(max_idle) {
  auto u = boost::urls::parse_absolute_uri(base_url_);
  if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty())
    throw std::invalid_argument("base_url must be an absolute http:// or https:// URL, not '" + base_url_ + "'");
  tls_ = u->scheme() == "https";
  host_ = u->host();
  port_ = u->has_port() ? std::string(u->port()) : (tls_ ? "443" : "80");
  base_path_ = u->encoded_path();
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  if (tls_) {
    tls_ctx_ = std::make_unique<tls_context>();
    if (ca_file.empty()) {
      tls_ctx_->ctx.set_default_verify_paths();
    } else {
      boost::system::error_code ec;
      tls_ctx_->ctx.load_verify_file(ca_file, ec);
      if (ec) throw std::invalid_argument("cannot load the CA file '" + ca_file + "': " + ec.message());
    }
    tls_ctx_->ctx.set_verify_mode(asio::ssl::verify_peer);
  }
}

upstream_client::~upstream_client() = default;

asio::awaitable<std::unique_ptr<upstream_client::connection>> upstream_client::open() {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(host_, port_, as_tuple(use_awaitable));
  if (rec) throw std::runtime_error("resolve " + host_ + ": " + rec.message());
  auto c = std::make_unique<connection>();
  // Beast reads at most the buffer's free capacity at a time (512 bytes at
  // least), and a string body leaves the buffer empty: without room made here
  // a page of a few MiB came in reads of a kilobyte or two, each a recvmsg and
  // an epoll_wait (69,000 of each for a full sync of 48,745 records).
  c->buffer.reserve(kReadChunk);
  if (tls_) c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, tls_ctx_->ctx);
  else c->plain = std::make_unique<beast::tcp_stream>(ex);
  c->tcp().expires_after(timeout_);
  auto [cec, ep] = co_await c->tcp().async_connect(endpoints, as_tuple(use_awaitable));
  if (cec) throw std::runtime_error("connect " + host_ + ":" + port_ + ": " + cec.message());
  c->tcp().socket().set_option(asio::ip::tcp::no_delay(true));
  if (c->tls) {
    if (!SSL_set_tlsext_host_name(c->tls->native_handle(), host_.c_str()))
      throw std::runtime_error("TLS: cannot set the server name");
    c->tls->set_verify_callback(asio::ssl::host_name_verification(host_));
    auto [hec] = co_await c->tls->async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec) {
      const long verdict = SSL_get_verify_result(c->tls->native_handle());
      if (verdict != X509_V_OK)
        throw untrusted_certificate("the certificate of " + host_ + " did not verify: " +
                                    X509_verify_cert_error_string(verdict));
      if (hec.category() == asio::error::get_ssl_category() &&
          ERR_GET_REASON(static_cast<unsigned long>(hec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED)
        throw untrusted_certificate("the certificate of " + host_ + " did not verify: " + hec.message());
      throw std::runtime_error("TLS handshake with " + host_ + ": " + hec.message());
    }
  }
  co_return c;
}

asio::awaitable<upstream_response> upstream_client::exchange(
    connection& c, bhttp::verb method, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body, const send_gate& gate,
    bool& reusable) {
  upstream_response out;
  bhttp::request<bhttp::string_body> req{method, base_path_ + target, 11};
  req.set(bhttp::field::host, port_ == (tls_ ? "443" : "80") ? host_ : host_ + ":" + port_);
  req.set(bhttp::field::user_agent, "freshet");
  req.keep_alive(true);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == bhttp::verb::post || method == bhttp::verb::put || method == bhttp::verb::patch)
    req.body() = body;
  req.prepare_payload();
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxBody);
  if (gate) co_await gate();  // the last thing before the write: nothing may come between
  c.tcp().expires_after(timeout_);
  boost::system::error_code ec;
  if (c.tls) {
    std::tie(ec, std::ignore) = co_await bhttp::async_write(*c.tls, req, as_tuple(use_awaitable));
    if (!ec) std::tie(ec, std::ignore) = co_await bhttp::async_read(*c.tls, c.buffer, parser, as_tuple(use_awaitable));
  } else {
    std::tie(ec, std::ignore) = co_await bhttp::async_write(*c.plain, req, as_tuple(use_awaitable));
    if (!ec) std::tie(ec, std::ignore) = co_await bhttp::async_read(*c.plain, c.buffer, parser, as_tuple(use_awaitable));
  }
  if (ec) {
    reusable = false;
    out.error = ec == beast::error::timeout ? "timed out after " + std::to_string(timeout_.count()) + " ms"
                                            : ec.message();
    // Nothing of an answer arrived on a reused connection: the server had closed it.
    if (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset || ec == asio::error::eof)
      out.error = "closed:" + out.error;
    co_return out;
  }
  auto& res = parser.get();
  out.ok = true;
  out.status = res.result_int();
  out.content_type = res[bhttp::field::content_type];
  out.retry_after = res[bhttp::field::retry_after];
  out.body = std::move(res.body());
  reusable = res.keep_alive();
  co_return out;
}

asio::awaitable<upstream_response> upstream_client::request(bhttp::verb method, std::string target,
                                                            std::vector<std::pair<std::string, std::string>> headers,
                                                            std::string body, const send_gate& gate) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<connection> c;
    bool pooled = false;
    {
      std::lock_guard lk(mu_);
      if (!idle_.empty() && attempt == 0) {
        c = std::move(idle_.back());
        idle_.pop_back();
        pooled = true;
      }
    }
    if (!c) {
      try {
        c = co_await open();
      } catch (const untrusted_certificate& e) {
        upstream_response r;
        r.error = e.what();
        r.untrusted = true;
        co_return r;
      } catch (const std::exception& e) {
        upstream_response r;
        r.error = e.what();
        co_return r;
      }
    }
    bool reusable = false;
    auto r = co_await exchange(*c, method, target, headers, body, gate, reusable);
    // Stale keep-alive: once more, fresh (through the gate again: the upstream may have counted the first).
    if (!r.ok && pooled && r.error.starts_with("closed:")) continue;
    if (r.error.starts_with("closed:")) r.error = r.error.substr(7);
    if (reusable) {
      std::lock_guard lk(mu_);
      if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
    }
    co_return r;
  }
  co_return upstream_response{};  // not reached
}

}  // namespace freshet::http
