#include "gateway/webhook_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include <chrono>

namespace stet {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;

constexpr std::chrono::seconds k_request_timeout{10};

template <class Stream>
asio::awaitable<int> exchange(Stream& stream, http::request<http::string_body>& req) {
  co_await http::async_write(stream, req, use_awaitable);
  // Only the status counts: the answer's body (any size) is not read.
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  co_await http::async_read_header(stream, buffer, parser, use_awaitable);
  co_return static_cast<int>(parser.get().result_int());
}

asio::awaitable<int> deliver(asio::ssl::context& tls, webhook_request req) {
  auto t = parse_webhook_url(req.url);
  if (!t)
    throw std::runtime_error("not an http:// or https:// URL");
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver{executor};
  beast::tcp_stream stream{executor};
  // One deadline from the name lookup to the answer's status line: the
  // timer ends a slow lookup, the stream's own expiry the rest.
  asio::steady_timer deadline{executor, k_request_timeout};
  deadline.async_wait([&resolver](const boost::system::error_code& ec) {
    if (!ec) // not cancelled: the lookup may still run (else the reference may be gone)
      resolver.cancel();
  });
  auto endpoints = co_await resolver.async_resolve(t->host, t->port, use_awaitable);
  stream.expires_at(deadline.expiry());
  co_await stream.async_connect(endpoints, use_awaitable);
  http::request<http::string_body> message{http::verb::post, t->path, 11};
  message.set(http::field::host, t->host_header);
  for (auto& [name, value] : req.headers)
    message.set(name, value);
  message.body() = std::move(req.body);
  message.prepare_payload();
  if (!t->tls) {
    auto status = co_await exchange(stream, message);
    deadline.cancel();
    co_return status;
  }
  beast::ssl_stream<beast::tcp_stream> secure{std::move(stream), tls};
  // SNI for names (not addresses), and the certificate must name the host.
  if (!t->is_address && !SSL_set_tlsext_host_name(secure.native_handle(), t->host.c_str()))
    throw std::runtime_error("cannot set the TLS server name");
  secure.set_verify_callback(asio::ssl::host_name_verification(t->host));
  co_await secure.async_handshake(asio::ssl::stream_base::client, use_awaitable);
  auto status = co_await exchange(secure, message);
  deadline.cancel();
  beast::get_lowest_layer(secure).close();
  co_return status;
}

} // namespace

webhook_client::webhook_client(boost::asio::io_context& ioc) : ioc_(ioc), tls_(asio::ssl::context::tls_client) {
  // The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR move it).
  tls_.set_default_verify_paths();
  tls_.set_verify_mode(asio::ssl::verify_peer);
}

std::optional<webhook_target> parse_webhook_url(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host_address().empty())
    return std::nullopt;
  webhook_target t;
  t.tls = u->scheme() == "https";
  t.host = std::string{u->host_address()}; // IPv6 without its brackets
  t.is_address = u->host_type() != boost::urls::host_type::name;
  t.port = u->has_port() ? std::string{u->port()} : (t.tls ? "443" : "80");
  t.host_header = std::string{u->encoded_host_and_port()};
  t.path = std::string{u->encoded_target()};
  if (t.path.empty())
    t.path = "/";
  return t;
}

void webhook_client::post(webhook_request req, std::function<void(int status, std::string error)> done) {
  // A strand per request: the stream's timeout handler and the exchange
  // never run at once on the node's several I/O threads.
  asio::co_spawn(asio::make_strand(ioc_), deliver(tls_, std::move(req)), [done = std::move(done)](std::exception_ptr e, int status) {
    if (!e)
      return done(status, {});
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      done(0, ex.what());
    }
  });
}

} // namespace stet
