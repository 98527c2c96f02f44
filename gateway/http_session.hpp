// One HTTP connection: serves health, metrics, the REST API and static
// files, and hands WebSocket upgrades on /ws over to a websocket_session.
#pragma once

#include "gateway/connection_stream.hpp"
#include "gateway/gateway_context.hpp"
#include "gateway/http_util.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <memory>
#include <optional>

namespace stet {

class http_session : public std::enable_shared_from_this<http_session> {
public:
  /// `ctx` must outlive the session; `slot` counts the connection from
  /// `peer`. `operations_only`: serve /metrics, /healthz and /readyz,
  /// nothing else.
  http_session(connection_socket&& socket, gateway_context& ctx, connection_slot slot,
               boost::asio::ip::address peer, bool operations_only = false);

  void run();

private:
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle(http_util::request req);
  void upgrade();
  void respond(http_util::response res);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);

  connection_stream stream_;
  boost::beast::flat_buffer buffer_;
  gateway_context& ctx_;
  std::optional<connection_slot> slot_;
  boost::asio::ip::address peer_;
  bool operations_only_;
  bool over_tls_ = false; // the request being answered came over TLS to a trusted proxy
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

} // namespace stet
