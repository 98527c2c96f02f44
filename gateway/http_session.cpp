#include "gateway/http_session.hpp"

#include "actors/messages.hpp"
#include "gateway/websocket_session.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>

namespace stet {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

http_session::response json_response(http::status status, const nlohmann::json& body, unsigned version,
                                     bool keep_alive) {
  http_session::response res{status, version};
  res.set(http::field::server, "stet");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.keep_alive(keep_alive);
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

nlohmann::json error_body(errc code, const std::string& message) {
  return {{"error", {{"code", std::string{to_string(code)}}, {"message", message}}}};
}

http::status status_of(errc code) {
  switch (code) {
    case errc::unknown_document: return http::status::not_found;
    case errc::invalid_argument: return http::status::bad_request;
    case errc::forbidden: return http::status::forbidden;
    case errc::storage_unavailable: return http::status::service_unavailable;
    default: return http::status::internal_server_error;
  }
}

} // namespace

http_session::http_session(net::ip::tcp::socket&& socket, gateway_context& ctx)
  : stream_(std::move(socket)), ctx_(ctx) {
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
  if (ec == http::error::body_limit) {
    respond(json_response(http::status::payload_too_large,
                          error_body(errc::frame_too_large, "request body over the limit"), 11, false));
    return;
  }
  if (ec)
    return;
  if (beast::websocket::is_upgrade(parser_->get())) {
    if (parser_->get().target() != "/ws") {
      respond(json_response(http::status::not_found,
                            error_body(errc::invalid_argument, "WebSocket endpoint is /ws"), 11, false));
      return;
    }
    stream_.expires_never();
    std::make_shared<websocket_session>(std::move(stream_), ctx_)->run(parser_->release());
    return;
  }
  handle(parser_->release());
}

void http_session::handle(http::request<http::string_body> req) {
  auto version = req.version();
  auto keep_alive = req.keep_alive();
  std::string_view target{req.target().data(), req.target().size()};
  if (auto q = target.find('?'); q != std::string_view::npos)
    target = target.substr(0, q);
  if (target == "/healthz") {
    return respond(json_response(http::status::ok, {{"status", "ok"}}, version, keep_alive));
  }
  if (target == "/readyz") {
    auto reason = ctx_.health->not_ready_reason();
    if (reason.empty())
      return respond(json_response(http::status::ok, {{"status", "ready"}}, version, keep_alive));
    return respond(json_response(http::status::service_unavailable, {{"status", "not_ready"}, {"reason", reason}},
                                 version, keep_alive));
  }
  if (target == "/metrics") {
    response res{http::status::ok, version};
    res.set(http::field::server, "stet");
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(keep_alive);
    res.body() = metrics::get().scrape();
    res.prepare_payload();
    return respond(std::move(res));
  }
  constexpr std::string_view docs = "/api/documents/";
  if (target.starts_with(docs) && target.size() > docs.size()) {
    if (req.method() != http::verb::get)
      return respond(json_response(http::status::method_not_allowed,
                                   error_body(errc::invalid_argument, "only GET is supported here"), version,
                                   keep_alive));
    std::string id{target.substr(docs.size())};
    // The actor answers on its own thread; the reply hops back onto the strand.
    auto self = shared_from_this();
    auto done = [self, version, keep_alive](response res) {
      net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->respond(std::move(res)); });
    };
    ctx_.system.spawn([registry = ctx_.registry, id, done, version, keep_alive](caf::event_based_actor* a) {
      a->request(registry, std::chrono::seconds(10), get_atom::value, id)
        .then(
          [=](const document_view& v) {
            done(json_response(http::status::ok,
                               {{"id", v.id}, {"title", v.title}, {"text", v.text}, {"rev", v.rev}, {"policy", v.policy}},
                               version, keep_alive));
          },
          [=](caf::error& err) {
            auto e = from_caf(err);
            done(json_response(status_of(e.code), error_body(e.code, e.message), version, keep_alive));
          });
    });
    return;
  }
  respond(json_response(http::status::not_found, error_body(errc::invalid_argument, "no such endpoint"), version,
                        keep_alive));
}

void http_session::respond(response res) {
  auto keep_alive = res.keep_alive();
  auto sp = std::make_shared<response>(std::move(res));
  http::async_write(stream_, *sp,
                    [self = shared_from_this(), sp, keep_alive](beast::error_code ec, std::size_t n) {
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
