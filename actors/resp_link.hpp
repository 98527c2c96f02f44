// One connection to one Redis server, speaking RESP2 over an Asio socket
// with hiredis' parser (redisReader) and command encoder. Unlike hiredis'
// async context (0.14), it knows Redis 7's sharded pub/sub: `smessage` and
// server-sent `sunsubscribe` pushes go to the push handler, everything else
// answers the oldest command in flight, so one connection can carry
// SSUBSCRIBE, its confirmations and PINGs. A link is used once: it connects,
// logs in, serves, and closes for good (its owner makes a new one), telling
// on_closed why. It closes itself when Redis leaves a command unanswered for
// k_answer_limit, which also catches a connection that went quiet without
// closing (it pings every second when idle). Everything runs on the
// io_context's single thread.
#pragma once

#include "actors/redis_commands.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

struct redisReader;

namespace stet {

class resp_link : public redis_commands, public std::enable_shared_from_this<resp_link> {
public:
  using push_handler = std::function<void(const redis_reply& push)>;
  static constexpr std::chrono::seconds k_answer_limit{3};

  resp_link(boost::asio::io_context& io, redis_endpoint at);
  ~resp_link() override;
  resp_link(const resp_link&) = delete;
  resp_link& operator=(const resp_link&) = delete;

  /// Once logged in (AUTH or PING answered).
  void on_ready(std::function<void()> h) {
    on_ready_ = std::move(h);
  }
  /// Once, when the link closes for good (never after close()).
  void on_closed(std::function<void(const std::string& why)> h) {
    on_closed_ = std::move(h);
  }
  /// Pub/sub messages and confirmations: elements {kind, channel, payload or count}.
  void on_push(push_handler h) {
    on_push_ = std::move(h);
  }

  void start();
  /// Closes now; commands in flight are answered !ok; no callback follows.
  void close();
  bool ready() const noexcept {
    return ready_;
  }
  const redis_endpoint& at() const noexcept {
    return at_;
  }

  /// Answered !ok at once unless ready (or `early`: the login itself).
  void command(const std::vector<std::string>& args, reply_handler done = {}) override;

private:
  void send(const std::vector<std::string>& args, reply_handler done);
  void fail(const std::string& why);
  void write_more();
  void read_more();
  void dispatch(const redis_reply& r);
  void watch();

  struct pending {
    reply_handler done;
    std::chrono::steady_clock::time_point sent;
    std::string unsubscribe{}; // SUNSUBSCRIBE <channel>: its confirmation is an answer, not news
  };

  boost::asio::io_context& io_;
  redis_endpoint at_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer watchdog_;
  redisReader* reader_ = nullptr;
  std::deque<pending> in_flight_;
  std::string out_;      // encoded commands not yet handed to the socket
  std::string writing_;  // what the socket is writing now
  std::array<char, 16 * 1024> in_{};
  std::chrono::steady_clock::time_point started_{};
  bool ready_ = false;
  bool closed_ = false;
  std::function<void()> on_ready_;
  std::function<void(const std::string&)> on_closed_;
  push_handler on_push_;
};

} // namespace stet
