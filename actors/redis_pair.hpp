// One Redis server (or the master Redis Sentinel names): a connection for
// commands and one for classic pub/sub. Its liveness check publishes to a
// channel only this node listens to every second; hearing nothing back
// for k_quiet_limit means a connection went quiet without closing (a
// half-open socket), and both are dropped and reconnected.
#pragma once

#include "actors/redis_connection.hpp"
#include "actors/redis_pubsub.hpp"
#include "actors/redis_sentinel.hpp"

#include <chrono>
#include <memory>

namespace stet {

class redis_pair final : public redis_pubsub, public std::enable_shared_from_this<redis_pair> {
public:
  static constexpr std::chrono::seconds k_quiet_limit{3};

  /// `liveness_channel`: a channel no other node uses. With sentinels
  /// named, `at` gives only the login.
  redis_pair(boost::asio::io_context& io, redis_endpoint at, std::string liveness_channel, sentinel_config sentinel);

  void start() override;
  void stop() override;
  bool up() const override {
    return cmd_->up();
  }
  void command(const std::vector<std::string>& args, reply_handler done = {}) override {
    cmd_->command(args, std::move(done));
  }
  void publish(const std::string& channel, const std::string& payload, reply_handler done) override {
    cmd_->command({"PUBLISH", channel, payload}, std::move(done));
  }
  void subscribe(const std::string& channel) override {
    sub_->subscribe(channel);
  }
  void unsubscribe(const std::string& channel) override {
    sub_->unsubscribe(channel);
  }
  bool listening(const std::string& channel) const override {
    return sub_->channels().count(channel) && sub_->up();
  }

private:
  void check_liveness();

  boost::asio::io_context& io_;
  std::string liveness_channel_;
  sentinel_config sentinel_config_;
  std::shared_ptr<redis_sentinel> sentinel_;
  std::shared_ptr<redis_connection> cmd_;
  std::shared_ptr<redis_connection> sub_;
  std::unique_ptr<boost::asio::steady_timer> liveness_timer_;
  std::chrono::steady_clock::time_point last_heard_{};
};

} // namespace stet
