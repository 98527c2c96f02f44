#include "gateway/listener.hpp"

#include "gateway/http_session.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include <algorithm>

namespace stet {

namespace net = boost::asio;

listener::listener(net::io_context& ioc, net::ip::tcp::endpoint endpoint, gateway_context& ctx, role serves)
  : ioc_(ioc), acceptor_(net::make_strand(ioc)), retry_(acceptor_.get_executor()), ctx_(ctx), role_(serves) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  acceptor_.non_blocking(true); // the draining accepts below must not wait
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

void listener::on_accept(boost::system::error_code ec, connection_socket socket) {
  if (ec) {
    if (ec == net::error::operation_aborted)
      return;
    return back_off(ec);
  }
  backoff_ = std::chrono::milliseconds{0};
  start(std::move(socket));
  // Each async accept waits its turn behind every queued handler, so in a
  // reconnect storm one connection is taken per turn of a long queue while
  // thousands wait in the kernel's accept queue. Take what is already
  // waiting now, a bounded number per turn.
  for (int i = 0; i < k_accepts_per_turn; ++i) {
    connection_socket next{net::make_strand(ioc_)};
    acceptor_.accept(next, ec);
    if (ec)
      break; // would_block: the queue is empty; anything else: the async accept reports it
    start(std::move(next));
  }
  do_accept();
}

// Out of file descriptors (or memory), every accept fails at once: retrying
// immediately spun a core and wrote a million log lines in seconds. Wait 5
// ms, doubling to 1 s, and say so once per episode; waiting connections stay
// in the kernel's queue meanwhile.
void listener::back_off(boost::system::error_code ec) {
  metrics::get().accept_errors.Increment();
  if (backoff_.count() == 0)
    log::warn("accept failed; retrying with backoff until it succeeds", {{"error", ec.message()}});
  backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds{5}, std::chrono::milliseconds{1000});
  retry_.expires_after(backoff_);
  retry_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec)
      self->do_accept();
  });
}

void listener::start(connection_socket socket) {
  boost::system::error_code ignored;
  auto peer = socket.remote_endpoint(ignored).address();
  auto ip = limit_key(peer);
  // A proxy carries many clients: they are limited by the address it
  // forwards (per request, and per WebSocket at the upgrade).
  if (!ctx_.open_connection(ip, !ctx_.proxies.contains(peer))) {
    // The response fits the fresh socket's buffer: this write does not wait.
    static constexpr std::string_view refused =
      "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
      "Content-Length: 84\r\n\r\n"
      "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many connections from this address\"}}";
    net::write(socket, net::buffer(refused.data(), refused.size()), ignored);
    socket.close(ignored);
  } else {
    socket.set_option(net::ip::tcp::no_delay(true), ignored);
    std::make_shared<http_session>(std::move(socket), ctx_, connection_slot{ctx_, ip}, peer,
                                   role_ == role::operations)
      ->run();
  }
}

} // namespace stet
