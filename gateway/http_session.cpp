#include "gateway/http_session.hpp"

#include "gateway/api.hpp"
#include "gateway/static_files.hpp"
#include "gateway/websocket_session.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace stet {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

// Browsers send Origin on every WebSocket handshake; scripts usually do not.
// Without --allowed-origin, a page may connect when it was served by this
// server under an address, not a DNS name: a name can be rebound to this
// server's address by whoever controls it (DNS rebinding), and its pages
// would then pass an Origin-equals-Host check. Name-based deployments list
// their origins.
bool origin_allowed(const gateway_context& ctx, const http_util::request& req) {
  auto origin = req[http::field::origin];
  if (origin.empty())
    return true;
  auto& allowed = ctx.auth.allowed_origins;
  if (!allowed.empty())
    return std::find(allowed.begin(), allowed.end(), std::string_view{origin.data(), origin.size()}) != allowed.end();
  std::string host{req[http::field::host]};
  if (origin != "http://" + host && origin != "https://" + host)
    return false;
  auto name = host.substr(0, host.rfind(':') == std::string::npos || host.back() == ']' ? host.size() : host.rfind(':'));
  if (name.size() > 2 && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  boost::system::error_code ec;
  (void) net::ip::make_address(name, ec);
  return !ec || name == "localhost";
}

// Every line of a header, joined in order: a proxy may add its own
// X-Forwarded-For line rather than extend the client's, and reading only the
// first would let the client's own claim win.
std::string all_lines(const http_util::request& req, std::string_view name) {
  std::string all;
  for (auto [it, end] = req.equal_range(name); it != end; ++it) {
    if (!all.empty())
      all += ',';
    all.append(it->value().data(), it->value().size());
  }
  return all;
}

} // namespace

http_session::http_session(connection_socket&& socket, gateway_context& ctx, connection_slot slot,
                           net::ip::address peer, bool operations_only)
  : stream_(std::move(socket)), ctx_(ctx), slot_(std::move(slot)), peer_(peer), operations_only_(operations_only) {
}

void http_session::run() {
  net::dispatch(stream_.get_executor(), beast::bind_front_handler(&http_session::do_read, shared_from_this()));
}

void http_session::do_read() {
  parser_.emplace();
  parser_->body_limit(ctx_.limits.max_http_body_bytes);
  parser_->header_limit(16 * 1024);
  stream_.expires_after(std::chrono::seconds(30));
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) {
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
    return;
  }
  over_tls_ = forwarded_https(peer_, all_lines(parser_->get(), "X-Forwarded-Proto"), ctx_.proxies);
  if (ec == http::error::body_limit) {
    auto res = http_util::error(http::status::payload_too_large, errc::frame_too_large,
                                "request body over " + std::to_string(ctx_.limits.max_http_body_bytes) + " bytes",
                                parser_->get());
    res.keep_alive(false);
    return respond(std::move(res));
  }
  if (ec == http::error::header_limit || (ec && ec.category() == http::make_error_code(http::error::bad_value).category()
                                           && ec != http::error::partial_message)) {
    // A request Beast could not parse: say why rather than just hang up.
    bool headers = ec == http::error::header_limit;
    auto res = http_util::error(headers ? http::status::request_header_fields_too_large : http::status::bad_request,
                                errc::bad_message, "malformed HTTP request: " + ec.message(), parser_->get());
    res.keep_alive(false);
    return respond(std::move(res));
  }
  if (ec)
    return;
  if (beast::websocket::is_upgrade(parser_->get()) && !operations_only_)
    return upgrade();
  handle(parser_->release());
}

void http_session::upgrade() {
  auto& req = parser_->get();
  auto refuse = [&](http::status status, errc code, const std::string& why) {
    metrics::get().rejected(to_string(code));
    auto res = http_util::error(status, code, why, req);
    res.keep_alive(false);
    respond(std::move(res));
  };
  if (req.target() != "/ws")
    return refuse(http::status::not_found, errc::invalid_argument, "the WebSocket endpoint is /ws");
  if (!origin_allowed(ctx_, req))
    return refuse(http::status::forbidden, errc::forbidden,
                  "origin " + std::string{req[http::field::origin]} + " may not open a session here");
  // Through a trusted proxy, the session counts against the client's
  // address too (the proxy's own connection is counted, not limited).
  std::optional<connection_slot> client;
  auto from = client_address(peer_, all_lines(req, "X-Forwarded-For"), ctx_.proxies);
  if (from != peer_) {
    auto key = limit_key(from);
    if (!ctx_.open_connection(key))
      return refuse(http::status::too_many_requests, errc::rate_limited, "too many connections from this address");
    client.emplace(ctx_, key);
  }
  stream_.expires_never();
  std::make_shared<websocket_session>(std::move(stream_), ctx_, std::move(*slot_), std::move(client))
    ->run(parser_->release());
}

void http_session::handle(http_util::request req) {
  std::string_view target{req.target().data(), req.target().size()};
  target = target.substr(0, target.find('?'));
  // With an operations port, probes and metrics stay off the public one.
  bool public_only = !operations_only_ && ctx_.operations_port;
  if ((target == "/metrics" || target == "/readyz") && public_only)
    return respond(http_util::error(http::status::not_found, errc::invalid_argument,
                                    "served on the operations port (--metrics-listen) only", req));
  if (target == "/healthz")
    return respond(http_util::json(http::status::ok, {{"status", "ok"}}, req));
  if (target == "/readyz") {
    // Without an operations port, /readyz is on the public one.
    auto reason = ctx_.health->not_ready_reason(operations_only_);
    if (reason.empty())
      return respond(http_util::json(http::status::ok, {{"status", "ready"}}, req));
    return respond(
      http_util::json(http::status::service_unavailable, {{"status", "not_ready"}, {"reason", reason}}, req));
  }
  if (target == "/metrics") {
    http_util::response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = metrics::get().scrape();
    http_util::secure(res);
    res.prepare_payload();
    return respond(std::move(res));
  }
  if (operations_only_)
    return respond(http_util::error(http::status::not_found, errc::invalid_argument,
                                    "this port serves /metrics, /healthz and /readyz only", req));
  if (api::handles(target)) {
    // The answer may come from any thread; it hops back onto the strand.
    auto self = shared_from_this();
    auto from = limit_key(client_address(peer_, all_lines(req, "X-Forwarded-For"), ctx_.proxies));
    api::handle(ctx_, std::move(req), from, [self](http_util::response res) {
      net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->respond(std::move(res)); });
    });
    return;
  }
  if (req.method() == http::verb::get || req.method() == http::verb::head)
    if (auto res = ctx_.site.serve(req))
      return respond(std::move(*res));
  respond(http_util::error(http::status::not_found, errc::invalid_argument, "no such endpoint", req));
}

void http_session::respond(http_util::response res) {
  // Browsers honour HSTS only over HTTPS, which stet sees only as a trusted
  // proxy's word; a year is what the preload list asks for.
  if (over_tls_)
    res.set(http::field::strict_transport_security, "max-age=31536000");
  auto keep_alive = res.keep_alive();
  auto sp = std::make_shared<http_util::response>(std::move(res));
  http::async_write(stream_, *sp, [self = shared_from_this(), sp, keep_alive](beast::error_code ec, std::size_t n) {
    self->on_write(keep_alive, ec, n);
  });
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (ec)
    return;
  if (!keep_alive) {
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
    return;
  }
  do_read();
}

} // namespace stet
