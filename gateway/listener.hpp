// Accepts TCP connections and starts an http_session for each.
#pragma once

#include "gateway/connection_stream.hpp"
#include "gateway/gateway_context.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>

#include <memory>

namespace stet {

class listener : public std::enable_shared_from_this<listener> {
public:
  /// What a port serves: everything, or only /metrics and the health
  /// endpoints (for scrapers and probes on a private port).
  enum class role { everything, operations };

  /// Binds `endpoint`; throws boost::system::system_error when it cannot
  /// (start-up only). `ctx` must outlive the listener.
  listener(boost::asio::io_context& ioc, boost::asio::ip::tcp::endpoint endpoint, gateway_context& ctx,
           role serves = role::everything);

  void run();
  /// The bound port (useful with port 0).
  unsigned short port() const;

private:
  void do_accept();
  void on_accept(boost::system::error_code ec, connection_socket socket);
  void start(connection_socket socket);

  void back_off(boost::system::error_code ec);

  static constexpr int k_accepts_per_turn = 64;

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  std::chrono::milliseconds backoff_{0}; // 0: accepting normally
  gateway_context& ctx_;
  role role_;
};

} // namespace stet
