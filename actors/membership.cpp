#include "actors/membership.hpp"

#include <algorithm>

namespace stet {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

membership::membership(boost::asio::io_context& io, std::shared_ptr<redis_connection> redis, std::string node_id,
                       std::chrono::milliseconds interval, std::chrono::milliseconds ttl, std::string key)
  : timer_(io), redis_(std::move(redis)), node_id_(std::move(node_id)), interval_(interval), ttl_(ttl),
    key_(std::move(key)) {
}

void membership::start() {
  stopped_ = false;
  beat();
}

void membership::leave() {
  stopped_ = true;
  timer_.cancel();
  redis_->command({"ZREM", key_, node_id_});
}

void membership::beat() {
  if (stopped_)
    return;
  auto now = now_ms();
  // Sent together, so one round trip: refresh, expire, read.
  redis_->command({"ZADD", key_, std::to_string(now), node_id_});
  redis_->command({"ZREMRANGEBYSCORE", key_, "-inf", "(" + std::to_string(now - ttl_.count())});
  redis_->command({"ZRANGE", key_, "0", "-1"}, [w = weak_from_this()](const redis_reply& r) {
    auto self = w.lock();
    // Redis down: keep the last live set; the caller knows from the
    // connection state that it is stale.
    if (!self || !r.ok || std::chrono::steady_clock::now() < self->settled_at_)
      return;
    auto live = r.elements; // ZRANGE sorts by score: sort by name instead
    std::sort(live.begin(), live.end());
    if (live != self->live_) {
      self->live_ = std::move(live);
      if (self->on_change_)
        self->on_change_(self->live_);
    }
  });
  timer_.expires_after(interval_);
  timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec)
      self->beat();
  });
}

} // namespace stet
