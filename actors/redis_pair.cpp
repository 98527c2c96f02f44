#include "actors/redis_pair.hpp"

#include "metrics/log.hpp"

namespace stet {

redis_pair::redis_pair(boost::asio::io_context& io, redis_endpoint at, std::string liveness_channel,
                       sentinel_config sentinel)
  : io_(io), liveness_channel_(std::move(liveness_channel)), sentinel_config_(std::move(sentinel)),
    cmd_(std::make_shared<redis_connection>(io, at)), sub_(std::make_shared<redis_connection>(io, at)) {
}

void redis_pair::start() {
  if (!sentinel_config_.sentinels.empty()) {
    sentinel_ = std::make_shared<redis_sentinel>(io_, sentinel_config_);
    cmd_->follow(sentinel_);
    sub_->follow(sentinel_);
  }
  cmd_->on_state([this](bool up, const std::string& why) {
    if (on_state_)
      on_state_(up, why);
  });
  sub_->on_message([this](const std::string& channel, const std::string& payload) {
    // Only our own ping counts: others' traffic on the subscriber says
    // nothing of the command connection it went out on.
    if (channel == liveness_channel_) {
      last_heard_ = std::chrono::steady_clock::now();
      return;
    }
    if (on_message_)
      on_message_(channel, payload);
  });
  sub_->on_subscribed([this](const std::string& channel) {
    if (on_subscribed_)
      on_subscribed_(channel);
  });
  if (sentinel_)
    sentinel_->start();
  cmd_->start();
  sub_->start();
  sub_->subscribe(liveness_channel_);
  last_heard_ = std::chrono::steady_clock::now();
  liveness_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  check_liveness();
}

void redis_pair::stop() {
  if (liveness_timer_)
    liveness_timer_->cancel();
  cmd_->stop();
  sub_->stop();
  if (sentinel_)
    sentinel_->stop();
}

void redis_pair::check_liveness() {
  auto now = std::chrono::steady_clock::now();
  if (!cmd_->up() || !sub_->up()) {
    last_heard_ = now; // reconnecting already; the clock starts when both are up
  } else if (now - last_heard_ > k_quiet_limit) {
    log::warn("redis went quiet; reconnecting",
              {{"silent_ms",
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard_).count())}});
    last_heard_ = now;
    cmd_->reset("no answer from redis");
    sub_->reset("no answer from redis");
  } else {
    // Unsealed and ignored by everyone: only its arrival counts.
    cmd_->command({"PUBLISH", liveness_channel_, "1"});
  }
  liveness_timer_->expires_after(std::chrono::seconds(1));
  liveness_timer_->async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec)
      self->check_liveness();
  });
}

} // namespace stet
