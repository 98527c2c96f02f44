#include "actors/redis_bridge.hpp"

#include "actors/messages.hpp"
#include "actors/redis_cluster.hpp"
#include "actors/redis_pair.hpp"
#include "auth/token.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "proto/codec.hpp"
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
                           std::string cluster_key, sentinel_config sentinel, std::vector<redis_endpoint> cluster_seeds)
  : node_id_(std::move(node_id)), health_(std::move(health)) {
  auto endpoint = parse_redis_url(url);
  if (!endpoint)
    throw std::invalid_argument(endpoint.error().message);
  endpoint_ = std::move(*endpoint);
  if (cluster_key.size() < auth::bus_seal::k_min_key_bytes)
    throw std::invalid_argument("the cluster key must be at least " + std::to_string(auth::bus_seal::k_min_key_bytes)
                                + " bytes");
  seal_ = std::make_shared<const auth::bus_seal>(std::move(cluster_key));
  stream_base_ = std::stoull(auth::random_hex(8), nullptr, 16);
  if (!cluster_seeds.empty())
    redis_ = std::make_shared<redis_cluster>(io_, std::move(cluster_seeds), endpoint_);
  else
    redis_ = std::make_shared<redis_pair>(io_, endpoint_, liveness_channel(), std::move(sentinel));
  health_->clustered(true);
  metrics::get().enable_cluster_metrics();
}

redis_bridge::~redis_bridge() {
  stop();
}

void redis_bridge::start(bus_listener_api registry) {
  registry_ = registry;
  work_.emplace(boost::asio::make_work_guard(io_));
  members_ = std::make_shared<membership>(io_, redis_, node_id_, seal_);
  boost::asio::post(io_, [this, registry] {
    redis_->on_state([this, registry](bool up, const std::string& why) {
      health_->redis_result(up ? std::string{} : why);
      metrics::get().redis_connected->Set(up ? 1 : 0);
      if (!up) {
        log::warn(connected_once_ ? "redis connection lost" : "cannot reach redis; retrying", {{"error", why}});
        if (!std::exchange(was_down_, true))
          down_since_ = wall_ms();
        back_due_ = false; // a "back" still settling is not true any more
        back_timer_->cancel();
        // Until it is back this node takes no new document leases: others
        // may own them now, and it would not hear of it.
        caf::anon_send(registry, redis_atom::value, false);
      } else if (!connected_once_) {
        connected_once_ = true;
        if (was_down_)
          log::info("redis reached");
        was_down_ = false;
      } else if (was_down_) {
        was_down_ = false;
        log::info("redis connection back");
        metrics::get().redis_reconnects.Increment();
        members_->settle_for(std::chrono::milliseconds{2500});
        // A cluster repairs per shard as its channels are confirmed again
        // (the debounced repair below).
        if (redis_->sharded())
          return caf::anon_send(registry, redis_atom::value, true);
        // Back for the registry (re-attaching relayed sessions) once every
        // channel is subscribed again: a join answered on this node's
        // channel before Redis confirmed it would be lost, and the session
        // would wait for its relay timeout.
        awaiting_back_.clear();
        for (auto& [channel, since] : listening_since_)
          if (since <= down_since_) // not confirmed since the connection dropped
            awaiting_back_.insert(channel);
        back_due_ = true;
        back_timer_->expires_after(k_back_limit);
        back_timer_->async_wait([this, registry](const boost::system::error_code& ec) {
          if (!ec && std::exchange(back_due_, false)) {
            log::warn("redis subscriptions not all confirmed in time; repairing anyway",
                      {{"waiting", std::to_string(awaiting_back_.size())}});
            caf::anon_send(registry, redis_atom::value, true);
          }
        });
        if (awaiting_back_.empty())
          tell_back(registry);
      }
    });
    redis_->on_message([this, registry](const std::string& channel, const std::string& payload) {
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
    redis_->on_subscribed([this, registry](const std::string& channel) {
      bool again = listening_since_.count(channel) > 0;
      listening_since_[channel] = wall_ms(); // again after every reconnect
      // Listening again after a subscription dropped (Redis restarted, or
      // dropped this connection alone, or a shard failed over): what was
      // published meanwhile is lost, and the registry repairs it (access
      // re-read, relayed sessions re-attached). A shard's channels come
      // back in a burst of confirmations: one repair after the last.
      bool last_awaited = awaiting_back_.erase(channel) > 0 && awaiting_back_.empty();
      if (channel == cluster_channel() && !std::exchange(heard_cluster_, true)) {
        caf::anon_send(registry, redis_atom::value, true);
      } else if (back_due_ && last_awaited) {
        tell_back(registry);
      } else if (again && !redis_->sharded() && channel == cluster_channel() && !back_due_ && !was_down_) {
        // The subscriber alone reconnected (the server dropped it): its
        // channels come back in one burst, this one among them.
        back_due_ = true;
        tell_back(registry);
      } else if (again && redis_->sharded()) {
        repair_timer_->expires_after(std::chrono::milliseconds{250});
        repair_timer_->async_wait([registry](const boost::system::error_code& ec) {
          if (!ec)
            caf::anon_send(registry, redis_atom::value, true);
        });
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
    repair_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    back_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    redis_->start();
    redis_->subscribe(node_channel(node_id_));
    redis_->subscribe(cluster_channel());
    members_->start();
  });
  thread_ = std::thread{[this] { io_.run(); }};
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
      repair_timer_->cancel();
      back_timer_->cancel();
      redis_->stop();
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
  static const std::string node = node_channel("");
  for (auto& p : coalesce(std::move(queued), node_id_)) {
    auto published = [handed_over = p.handed_over](const redis_reply& r) {
      if (r.ok)
        metrics::get().redis_publish_seconds.Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - handed_over).count());
      else
        metrics::get().redis_errors.Increment();
    };
    auto sealed = sealed_for(p.channel, p.payload);
    auto sealed_ns = steady_now_ns();
    if (!redis_->sharded()) {
      redis_->publish(p.channel, sealed, std::move(published));
      continue;
    }
    // Whom a lost publication was for: the channel says, except a node's
    // own channel (then the envelopes do).
    auto kept = p.channel.starts_with(node) ? std::move(p.payload) : std::string{};
    redis_->publish(p.channel, sealed,
                    [this, channel = p.channel, kept = std::move(kept), sealed_ns, published](const redis_reply& r) {
                      published(r);
                      // Redis counts who heard it. Someone always listens on a
                      // node's channel, unless that node has not subscribed
                      // again after a failover. (A stand-in not subscribed again
                      // to the frames its owner sends is repaired by its node.)
                      if (!r.ok || (r.integer == 0 && channel.starts_with(node)))
                        publication_lost(channel, kept, sealed_ns);
                    });
  }
}

std::string redis_bridge::sealed_for(const std::string& channel, const std::string& payload) {
  auto domain = redis_->order_domain(channel);
  auth::bus_seal::origin origin{stream_base_ + domain, ++published_[domain]};
  return seal_->seal(channel, payload, wall_ms(), origin);
}

// On a Redis Cluster each shard fails over on its own and the nodes follow
// it one by one: a publication that waited too long for its shard is
// dropped, and one published before its addressee subscribed again is
// heard by nobody. The sessions it was for would wait for their relay
// timeouts. (A single Redis or a Sentinel pair loses everything at once
// instead, and every node repairs when it is back.)
void redis_bridge::publication_lost(const std::string& channel, const std::string& payload, std::int64_t sealed_ns) {
  if (left_)
    return;
  static const std::string node = node_channel("");
  bool to_owner = channel.starts_with(node);
  std::set<std::pair<std::string, std::string>> to;
  if (auto a = addressee_of(channel)) {
    to.emplace(a->doc, a->node);
  } else if (auto items = wire::decode_bus(payload)) { // this node's own payload
    for (auto& item : *items)
      if (!item.envelope.doc_id().empty())
        to.emplace(item.envelope.doc_id(), channel.substr(node.size()));
  }
  if (to.empty())
    return;
  auto [it, first] = lost_.try_emplace(channel);
  it->second.addressees.merge(to);
  it->second.to_owner = to_owner;
  it->second.last_ns = std::max(it->second.last_ns, sealed_ns);
  if (!first)
    return; // a probe is under way
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, k_first_probe);
  timer->async_wait([this, timer, channel](const boost::system::error_code& ec) {
    if (!ec)
      probe(channel);
  });
}

// Publishes an envelope with nothing in it (receivers ignore it) on the
// channel: once Redis says someone heard it, the addressees listen again.
// Gives up k_probe_limit after the last loss (a node gone for good; its
// sessions time out and go where the membership says).
void redis_bridge::probe(const std::string& channel) {
  auto it = lost_.find(channel);
  if (it == lost_.end())
    return;
  if (left_ || steady_now_ns() - it->second.last_ns > std::chrono::nanoseconds(k_probe_limit).count()) {
    log::debug("bus publications lost; nobody listens any more", {{"channel", channel}});
    lost_.erase(it);
    return;
  }
  wire::BusEnvelope empty;
  empty.set_from_node(node_id_);
  redis_->publish(channel, sealed_for(channel, empty.SerializeAsString()), [this, channel](const redis_reply& r) {
    auto it = lost_.find(channel);
    if (it == lost_.end())
      return;
    if (r.ok && r.integer > 0) {
      auto loss = std::move(it->second);
      lost_.erase(it);
      log::info("bus publications lost; re-attaching the sessions they were for",
                {{"channel", channel}, {"documents", std::to_string(loss.addressees.size())}});
      for (auto& [doc, node] : loss.addressees)
        caf::anon_send(registry_, lost_atom::value, doc, node, loss.to_owner, loss.last_ns);
      return;
    }
    auto wait = std::exchange(it->second.next_probe, std::min(2 * it->second.next_probe, std::chrono::milliseconds{1000}));
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, wait);
    timer->async_wait([this, timer, channel](const boost::system::error_code& ec) {
      if (!ec)
        probe(channel);
    });
  });
}

std::optional<redis_bridge::addressee> redis_bridge::addressee_of(const std::string& channel) {
  static const std::string doc = doc_channel(""), node = node_channel("");
  if (channel.starts_with(doc))
    return addressee{channel.substr(doc.size()), ""};
  // "{stet:doc:D}:stet:node:N" (redis_cluster::relay_channel_of)
  auto end = channel.rfind("}:" + node);
  if (!channel.starts_with("{" + doc) || end == std::string::npos || end <= 1 + doc.size()
      || end + 2 + node.size() == channel.size())
    return std::nullopt;
  return addressee{channel.substr(1 + doc.size(), end - 1 - doc.size()), channel.substr(end + 2 + node.size())};
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
    if (redis_->listening(c)) {
      if (f)
        f();
      return;
    }
    if (f)
      confirmations_.emplace(c, std::move(f));
    redis_->subscribe(c);
  });
}

void redis_bridge::tell_back(const bus_listener_api& registry) {
  // Every node follows a failover within milliseconds of the others, but
  // not at once: a join published to an owner that has not subscribed
  // again yet is lost (and waits for the relay timeout). A second's grace
  // lets the others come back first.
  back_timer_->expires_after(k_back_settle);
  back_timer_->async_wait([this, registry](const boost::system::error_code& ec) {
    if (!ec && std::exchange(back_due_, false))
      caf::anon_send(registry, redis_atom::value, true);
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
    redis_->unsubscribe(c);
    listening_since_.erase(c);
    awaiting_back_.erase(c);
  });
}

} // namespace stet
