// One Redis connection (hiredis async) driven by an Asio io_context, which
// must be run by exactly one thread: every member function, and every
// callback it makes, runs on that thread. It reconnects by itself with
// backoff (100 ms doubling to 5 s) and re-subscribes its channels, so
// callers see a state change and carry on.
#pragma once

#include "actors/redis_commands.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

struct redisAsyncContext;

namespace stet {

class redis_sentinel;

class redis_connection final : public redis_commands, public std::enable_shared_from_this<redis_connection> {
public:
  using state_handler = std::function<void(bool up, const std::string& why)>;
  using message_handler = std::function<void(const std::string& channel, const std::string& payload)>;

  /// Logs in with AUTH on every (re)connect when `at` has a password; a
  /// refused login counts as down (and is retried with backoff).
  redis_connection(boost::asio::io_context& io, redis_endpoint at);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  void on_state(state_handler h) {
    on_state_ = std::move(h);
  }
  void on_message(message_handler h) {
    on_message_ = std::move(h);
  }
  /// Called when Redis confirms a SUBSCRIBE (also after each reconnect).
  void on_subscribed(std::function<void(const std::string& channel)> h) {
    on_subscribed_ = std::move(h);
  }

  /// Connects to the master `sentinel` names, asked before every connect,
  /// and reconnects at once when it announces another. Before start().
  void follow(std::shared_ptr<redis_sentinel> sentinel);

  void start();
  void stop();
  /// Drops the connection now, whatever it is waiting for (pending replies
  /// fail), and reconnects: for one that went quiet without closing.
  void reset(const std::string& why);
  bool up() const noexcept {
    return up_;
  }

  /// Sends a command; `done` (optional) gets the reply, or !ok when the
  /// connection is down or drops first. Commands sent together are written
  /// together (pipelining comes with hiredis' output buffer).
  void command(const std::vector<std::string>& args, reply_handler done = {}) override;

  /// Pub/sub (use a connection only for this): kept across reconnects.
  void subscribe(const std::string& channel);
  void unsubscribe(const std::string& channel);
  const std::set<std::string>& channels() const noexcept {
    return channels_;
  }

  // hiredis callbacks (C linkage trampolines call these).
  void handle_connected(int status);
  void handle_disconnected(int status);
  void handle_pubsub(void* reply);

private:
  void connect();
  void dial();
  void schedule_reconnect(const std::string& why);
  void set_up(bool up, const std::string& why);
  void on_ready();

  boost::asio::io_context& io_;
  redis_endpoint at_;
  redisAsyncContext* ac_ = nullptr;
  bool up_ = false;
  bool reported_ = false; // the first outcome is reported even if it is "down"
  bool stopped_ = true;
  boost::asio::steady_timer retry_;
  std::chrono::milliseconds backoff_{100};
  std::set<std::string> channels_;
  state_handler on_state_;
  message_handler on_message_;
  std::function<void(const std::string&)> on_subscribed_;
  std::shared_ptr<redis_sentinel> sentinel_;
};

} // namespace stet
