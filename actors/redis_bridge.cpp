#include "actors/redis_bridge.hpp"

#include "actors/messages.hpp"
#include "auth/token.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "proto/stet.pb.h"

#include <boost/asio/post.hpp>
#include <caf/send.hpp>

#include <stdexcept>
#include <utility>

namespace stet {

namespace {

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

redis_bridge::redis_bridge(std::string node_id, const std::string& url, std::shared_ptr<node_health> health,
                           std::string cluster_key, sentinel_config sentinel)
  : node_id_(std::move(node_id)), health_(std::move(health)), sentinel_config_(std::move(sentinel)) {
  auto endpoint = parse_redis_url(url);
  if (!endpoint)
    throw std::invalid_argument(endpoint.error().message);
  endpoint_ = std::move(*endpoint);
  if (cluster_key.size() < auth::bus_seal::k_min_key_bytes)
    throw std::invalid_argument("the cluster key must be at least " + std::to_string(auth::bus_seal::k_min_key_bytes)
                                + " bytes");
  seal_ = std::make_shared<const auth::bus_seal>(std::move(cluster_key));
  origin_.stream = std::stoull(auth::random_hex(8), nullptr, 16);
  health_->clustered(true);
  metrics::get().enable_cluster_metrics();
}

redis_bridge::~redis_bridge() {
  stop();
}

void redis_bridge::start(bus_listener_api registry) {
  work_.emplace(boost::asio::make_work_guard(io_));
  cmd_ = std::make_shared<redis_connection>(io_, endpoint_);
  sub_ = std::make_shared<redis_connection>(io_, endpoint_);
  if (!sentinel_config_.sentinels.empty()) {
    sentinel_ = std::make_shared<redis_sentinel>(io_, sentinel_config_);
    cmd_->follow(sentinel_);
    sub_->follow(sentinel_);
  }
  members_ = std::make_shared<membership>(io_, cmd_, node_id_, seal_);
  boost::asio::post(io_, [this, registry] {
    cmd_->on_state([this, registry](bool up, const std::string& why) {
      health_->redis_result(up ? std::string{} : why);
      metrics::get().redis_connected->Set(up ? 1 : 0);
      if (!up) {
        log::warn(connected_once_ ? "redis connection lost" : "cannot reach redis; retrying", {{"error", why}});
        was_down_ = true;
        // Until it is back this node takes no new document leases: others
        // may own them now, and it would not hear of it.
        caf::anon_send(registry, redis_atom::value, false);
      } else if (!connected_once_) {
        connected_once_ = true;
        if (was_down_)
          log::info("redis reached");
        was_down_ = false;
      } else if (was_down_) {
        caf::anon_send(registry, redis_atom::value, true);
        log::info("redis connection back");
        metrics::get().redis_reconnects.Increment();
        members_->settle_for(std::chrono::milliseconds{2500});
      }
    });
    sub_->on_message([this, registry](const std::string& channel, const std::string& payload) {
      // Only our own ping counts: others' traffic on the subscriber says
      // nothing of the command connection it went out on.
      if (channel == liveness_channel()) {
        last_heard_ = std::chrono::steady_clock::now();
        return;
      }
      auto now = wall_ms();
      auto opened = seal_->open(channel, payload, now);
      if (opened.ok) {
        // Redis confirms a subscription before it delivers on the channel.
        auto since = listening_since_.find(channel);
        if (auto refused = heard_.admit(opened, since == listening_since_.end() ? now : since->second, now))
          opened = {false, *refused};
      }
      if (!opened.ok) {
        metrics::get().bus_rejected(auth::bus_seal::to_string(opened.why));
        if (log::enabled(log::level::debug))
          log::debug("bus payload dropped",
                     {{"channel", channel}, {"reason", std::string{auth::bus_seal::to_string(opened.why)}}});
        return;
      }
      caf::anon_send(registry, bus_atom::value, std::string{opened.body});
    });
    sub_->on_subscribed([this, registry](const std::string& channel) {
      listening_since_[channel] = wall_ms(); // again after every reconnect
      // Listening to every node again after the subscriptions dropped
      // (Redis restarted, or dropped this connection alone): what was
      // published meanwhile is lost, and the registry repairs it.
      if (channel == cluster_channel()) {
        heard_cluster_ = true;
        caf::anon_send(registry, redis_atom::value, true);
      }
      auto [first, last] = confirmations_.equal_range(channel);
      std::vector<std::function<void()>> ready;
      for (auto it = first; it != last; ++it)
        ready.push_back(std::move(it->second));
      confirmations_.erase(first, last);
      for (auto& f : ready)
        f();
    });
    members_->on_change([this, registry](const std::vector<std::string>& live) {
      health_->ring_size(live.size());
      metrics::get().cluster_nodes->Set(static_cast<double>(live.size()));
      caf::anon_send(registry, ring_atom::value, live);
    });
    if (sentinel_)
      sentinel_->start();
    cmd_->start();
    sub_->start();
    sub_->subscribe(node_channel(node_id_));
    sub_->subscribe(cluster_channel());
    sub_->subscribe(liveness_channel());
    members_->start();
    last_heard_ = std::chrono::steady_clock::now();
    liveness_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    check_liveness();
  });
  thread_ = std::thread{[this] { io_.run(); }};
}

void redis_bridge::check_liveness() {
  auto now = std::chrono::steady_clock::now();
  if (!cmd_->up() || !sub_->up()) {
    last_heard_ = now; // reconnecting already; the clock starts when both are up
  } else if (now - last_heard_ > k_quiet_limit) {
    log::warn("redis went quiet; reconnecting", {{"silent_ms", std::to_string(std::chrono::duration_cast<
                                                                  std::chrono::milliseconds>(now - last_heard_)
                                                                  .count())}});
    last_heard_ = now;
    cmd_->reset("no answer from redis");
    sub_->reset("no answer from redis");
  } else {
    // Unsealed and ignored by everyone: only its arrival counts.
    cmd_->command({"PUBLISH", liveness_channel(), "1"});
  }
  liveness_timer_->expires_after(std::chrono::seconds(1));
  liveness_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec)
      check_liveness();
  });
}

void redis_bridge::leave() {
  if (!thread_.joinable() || left_.exchange(true))
    return;
  wire::BusEnvelope env;
  env.set_from_node(node_id_);
  env.mutable_leaving();
  publish(cluster_channel(), env.SerializeAsString());
  boost::asio::post(io_, [this] { members_->leave(); });
}

void redis_bridge::forget_node(const std::string& node) {
  boost::asio::post(io_, [this, node] { members_->forget(node); });
}

void redis_bridge::stop() {
  if (!thread_.joinable())
    return;
  boost::asio::post(io_, [this] {
    members_->leave();
    // Let the ZREM go out before closing.
    auto t = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(100));
    t->async_wait([this, t](const boost::system::error_code&) {
      if (liveness_timer_)
        liveness_timer_->cancel();
      cmd_->stop();
      sub_->stop();
      if (sentinel_)
        sentinel_->stop();
      work_.reset();
      io_.stop();
    });
  });
  thread_.join();
}

void redis_bridge::publish(std::string channel, std::string payload) {
  bool first;
  {
    std::lock_guard<std::mutex> guard{outbox_mutex_};
    first = outbox_.empty();
    outbox_.push_back({std::move(channel), std::move(payload), std::chrono::steady_clock::now()});
  }
  if (first)
    boost::asio::post(io_, [this] { flush_outbox(); });
}

void redis_bridge::flush_outbox() {
  std::vector<publication> queued;
  {
    std::lock_guard<std::mutex> guard{outbox_mutex_};
    queued.swap(outbox_);
  }
  auto now = wall_ms();
  for (auto& p : coalesce(std::move(queued), node_id_)) {
    ++origin_.seq;
    cmd_->command({"PUBLISH", p.channel, seal_->seal(p.channel, p.payload, now, origin_)},
                  [handed_over = p.handed_over](const redis_reply& r) {
                    auto& m = metrics::get();
                    if (!r.ok)
                      return m.redis_errors.Increment();
                    m.redis_publish_seconds.Observe(
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - handed_over).count());
                  });
  }
}

std::vector<redis_bridge::publication> redis_bridge::coalesce(std::vector<publication> queued,
                                                               const std::string& from_node, std::size_t max_bytes) {
  std::vector<publication> out;
  std::size_t i = 0;
  while (i < queued.size()) {
    auto j = i + 1;
    std::size_t bytes = queued[i].payload.size();
    while (j < queued.size() && queued[j].channel == queued[i].channel && bytes + queued[j].payload.size() <= max_bytes)
      bytes += queued[j++].payload.size();
    if (j - i == 1) {
      out.push_back(std::move(queued[i]));
    } else {
      wire::BusEnvelope env;
      env.set_from_node(from_node);
      auto* batch = env.mutable_batch();
      for (auto k = i; k < j; ++k)
        batch->add_envelopes(std::move(queued[k].payload));
      out.push_back({std::move(queued[i].channel), env.SerializeAsString(), queued[i].handed_over});
    }
    i = j;
  }
  return out;
}

void redis_bridge::subscribe(std::string channel, std::function<void()> confirmed) {
  boost::asio::post(io_, [this, c = std::move(channel), f = std::move(confirmed)]() mutable {
    ++listeners_[c];
    if (sub_->channels().count(c) && sub_->up()) {
      if (f)
        f();
      return;
    }
    if (f)
      confirmations_.emplace(c, std::move(f));
    sub_->subscribe(c);
  });
}

void redis_bridge::unsubscribe(std::string channel) {
  boost::asio::post(io_, [this, c = std::move(channel)] {
    // A channel two stand-ins listen to (one leaving, its successor come)
    // stays subscribed until the last one goes.
    auto it = listeners_.find(c);
    if (it != listeners_.end() && --it->second > 0)
      return;
    listeners_.erase(c);
    sub_->unsubscribe(c);
    listening_since_.erase(c);
  });
}

} // namespace stet
