#include "actors/membership.hpp"

#include "metrics/metrics.hpp"

#include <algorithm>

namespace stet {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

membership::membership(boost::asio::io_context& io, std::shared_ptr<redis_commands> redis, std::string node_id,
                       std::shared_ptr<const auth::bus_seal> seal, std::chrono::milliseconds interval,
                       std::chrono::milliseconds ttl, std::string key)
  : timer_(io), redis_(std::move(redis)), node_id_(std::move(node_id)), seal_(std::move(seal)), interval_(interval),
    ttl_(ttl), key_(std::move(key)) {
}

std::string membership::entry(const auth::bus_seal& seal, const std::string& node, std::int64_t ms) {
  auto signed_part = node + "#" + std::to_string(ms);
  return signed_part + "#" + seal.tag("member", signed_part);
}

std::string membership::verify(const auth::bus_seal& seal, const std::string& entry, std::int64_t now_ms,
                               std::int64_t ttl_ms, std::int64_t* written_ms) {
  auto tag_at = entry.rfind('#');
  if (tag_at == std::string::npos || tag_at == 0)
    return {};
  auto ms_at = entry.rfind('#', tag_at - 1);
  if (ms_at == std::string::npos || ms_at == 0)
    return {};
  auto signed_part = entry.substr(0, tag_at);
  if (seal.tag("member", signed_part) != entry.substr(tag_at + 1))
    return {};
  auto ms_text = entry.substr(ms_at + 1, tag_at - ms_at - 1);
  if (ms_text.empty() || ms_text.size() > 18 || ms_text.find_first_not_of("0123456789") != std::string::npos)
    return {};
  auto ms = std::stoll(ms_text);
  if (ms < now_ms - ttl_ms || ms > now_ms + auth::bus_seal::k_max_skew_ms)
    return {};
  if (written_ms)
    *written_ms = ms;
  return entry.substr(0, ms_at);
}

void membership::start() {
  stopped_ = false;
  beat();
}

void membership::leave() {
  if (stopped_)
    return;
  stopped_ = true;
  timer_.cancel();
  if (!entry_.empty())
    redis_->command({"ZREM", key_, entry_});
  std::erase(live_, node_id_);
  if (on_change_)
    on_change_(live_);
}

void membership::forget(const std::string& node) {
  if (node == node_id_)
    return;
  departed_[node] = now_ms();
  auto before = live_.size();
  std::erase(live_, node);
  if (live_.size() != before && on_change_)
    on_change_(live_);
}

void membership::beat() {
  if (stopped_)
    return;
  auto now = now_ms();
  // Sent together, so one round trip: refresh, expire, read.
  auto fresh = entry(*seal_, node_id_, now);
  redis_->command({"ZADD", key_, std::to_string(now), fresh});
  if (!entry_.empty())
    redis_->command({"ZREM", key_, entry_});
  entry_ = std::move(fresh);
  redis_->command({"ZREMRANGEBYSCORE", key_, "-inf", "(" + std::to_string(now - ttl_.count())});
  redis_->command({"ZRANGE", key_, "0", "-1"}, [w = weak_from_this()](const redis_reply& r) {
    auto self = w.lock();
    // Redis down: keep the last live set; the caller knows from the
    // connection state that it is stale.
    if (!self || self->stopped_ || !r.ok || std::chrono::steady_clock::now() < self->settled_at_)
      return;
    std::vector<std::string> live;
    auto now = now_ms();
    for (auto& e : r.elements) {
      std::int64_t written = 0;
      auto node = verify(*self->seal_, e, now, self->ttl_.count(), &written);
      if (node.empty()) {
        metrics::get().bus_rejected("foreign_member");
        continue;
      }
      // Heartbeats of a node that said it left, written before it did.
      if (auto d = self->departed_.find(node); d != self->departed_.end()) {
        if (written <= d->second)
          continue;
        self->departed_.erase(d);
      }
      live.push_back(std::move(node));
    }
    std::erase_if(self->departed_, [&](auto& d) { return d.second < now - 2 * self->ttl_.count(); });
    std::sort(live.begin(), live.end()); // ZRANGE sorts by score: sort by name instead
    live.erase(std::unique(live.begin(), live.end()), live.end());
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
