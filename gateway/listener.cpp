#include "gateway/listener.hpp"

#include "gateway/http_session.hpp"
#include "metrics/log.hpp"

#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

namespace stet {

namespace net = boost::asio;

listener::listener(net::io_context& ioc, net::ip::tcp::endpoint endpoint, gateway_context& ctx)
  : ioc_(ioc), acceptor_(net::make_strand(ioc)), ctx_(ctx) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

void listener::run() {
  do_accept();
}

unsigned short listener::port() const {
  return acceptor_.local_endpoint().port();
}

void listener::do_accept() {
  // Each connection gets its own strand: its handlers never run concurrently.
  acceptor_.async_accept(net::make_strand(ioc_),
                         boost::beast::bind_front_handler(&listener::on_accept, shared_from_this()));
}

void listener::on_accept(boost::system::error_code ec, net::ip::tcp::socket socket) {
  if (ec) {
    if (ec == net::error::operation_aborted)
      return;
    log::warn("accept failed", {{"error", ec.message()}});
  } else {
    socket.set_option(net::ip::tcp::no_delay(true));
    std::make_shared<http_session>(std::move(socket), ctx_)->run();
  }
  do_accept();
}

} // namespace stet
