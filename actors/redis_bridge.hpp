// The node's link to the cluster: Redis (one server, the master Sentinel
// names, or a Redis Cluster; see redis_pubsub) and membership, on one Asio
// thread of their own, so no actor or gateway thread ever waits for Redis.
// What one node publishes on a channel arrives in that order (in a Redis
// Cluster, per shard: see relay_channel). Every payload is sealed under the
// cluster key (auth::bus_seal); what arrives unsealed, forged, replayed late
// or for another channel is dropped and counted (stet_bus_rejected_total).
#pragma once

#include "actors/api.hpp"
#include "actors/cluster_bus.hpp"
#include "actors/membership.hpp"
#include "actors/node_health.hpp"
#include "actors/redis_pubsub.hpp"
#include "actors/redis_sentinel.hpp"
#include "auth/bus_seal.hpp"

#include <boost/asio/steady_timer.hpp>
#include <caf/actor.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

namespace stet {

class redis_bridge final : public cluster_bus {
public:
  /// `url`: redis://[[USER]:PASSWORD@]HOST[:PORT] (or HOST:PORT);
  /// `cluster_key`: the key every node of the cluster shares, at least
  /// auth::bus_seal::k_min_key_bytes. Throws std::invalid_argument for a bad
  /// URL or a short key (start-up only).
  /// With `sentinel` (sentinels named), the master is found through them;
  /// with `cluster_seeds`, Redis is a Redis Cluster; either way `url` gives
  /// only the login.
  redis_bridge(std::string node_id, const std::string& url, std::shared_ptr<node_health> health,
               std::string cluster_key, sentinel_config sentinel = {}, std::vector<redis_endpoint> cluster_seeds = {});
  ~redis_bridge();
  redis_bridge(const redis_bridge&) = delete;
  redis_bridge& operator=(const redis_bridge&) = delete;

  /// Starts the Redis thread. Incoming bus messages go to `registry` as
  /// (bus_atom, payload); live-set changes as (ring_atom, nodes); the
  /// the bus up (subscribed, commands answered) as (redis_atom, true) and
  /// down as (redis_atom, false).
  void start(bus_listener_api registry);
  /// Announces that this node leaves (the others take its documents over at
  /// once) and leaves the membership; this node's registry hears a live set
  /// without it, so its documents move. stop() follows.
  void leave();
  void stop();
  void forget_node(const std::string& node) override;
  std::string relay_channel(const std::string& node, const std::string& doc) const override {
    return redis_->relay_channel(node_channel(node), doc_channel(doc));
  }

  const std::string& node_id() const noexcept override {
    return node_id_;
  }
  /// This node's liveness channel (it alone publishes and listens there).
  std::string liveness_channel() const {
    return "stet:alive:" + node_id_;
  }

  // -- thread-safe --

  void publish(std::string channel, std::string payload) override;
  /// `confirmed` runs (on the Redis thread) once Redis has subscribed us.
  void subscribe(std::string channel, std::function<void()> confirmed) override;
  void unsubscribe(std::string channel) override;

  struct publication {
    std::string channel;
    std::string payload;
    std::chrono::steady_clock::time_point handed_over{};
  };
  /// What to publish for `queued` (in order): a run of envelopes for one
  /// channel becomes one BusBatch envelope of at most `max_bytes` (a lone
  /// envelope stays as it is), so order holds within and across channels.
  static std::vector<publication> coalesce(std::vector<publication> queued, const std::string& from_node,
                                           std::size_t max_bytes = 256 * 1024);

  /// Whom a publication on `channel` was for: a document's sessions on one
  /// node (a relay_channel), on every node (doc_channel, node ""), or
  /// nullopt for a channel of no document.
  struct addressee {
    std::string doc;
    std::string node;
  };
  static std::optional<addressee> addressee_of(const std::string& channel);

private:
  std::string node_id_;
  redis_endpoint endpoint_;
  std::shared_ptr<const auth::bus_seal> seal_;
  std::shared_ptr<node_health> health_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::shared_ptr<redis_pubsub> redis_;
  std::shared_ptr<membership> members_;
  std::multimap<std::string, std::function<void()>> confirmations_; // io thread only
  std::unordered_map<std::string, int> listeners_;                   // subscribe() calls not undone, per channel
  // Publications waiting for the io thread: whatever queues while it is
  // busy goes out coalesced (one PUBLISH per run of a channel).
  std::mutex outbox_mutex_;
  std::vector<publication> outbox_;
  void flush_outbox();
  bus_listener_api registry_; // set before the io thread runs
  // Seals a payload as the next of its order domain's stream.
  std::string sealed_for(const std::string& channel, const std::string& payload);
  // Publications a Redis Cluster lost, per channel (io thread only): whom
  // they were for, (document, node or ""), whether they went to the
  // document's owner (a node's channel), and when the last one lost was
  // sealed. The channel is probed until someone hears it again; then the
  // registry hears of the loss, and what it sends then arrives.
  struct loss {
    std::set<std::pair<std::string, std::string>> addressees;
    bool to_owner = false;
    std::int64_t last_ns = 0;
    std::chrono::milliseconds next_probe{k_first_probe};
  };
  static constexpr std::chrono::milliseconds k_first_probe{250};
  static constexpr std::chrono::seconds k_probe_limit{10};
  std::map<std::string, loss> lost_;
  void publication_lost(const std::string& channel, const std::string& payload, std::int64_t sealed_ns);
  void probe(const std::string& channel);
  // This process's stream on the bus (see bus_seal): numbered where the
  // payloads are written, on the io thread, so the numbers follow the
  // order Redis receives them in.
  // One numbered stream per order domain (redis_pubsub::order_domain).
  std::uint64_t stream_base_ = 0;
  std::unordered_map<std::size_t, std::uint64_t> published_; // last number per domain
  auth::replay_guard heard_; // io thread only
  // When Redis last confirmed each subscription (wall ms; io thread only):
  // a sender first heard must have sealed its payload after that.
  std::unordered_map<std::string, std::int64_t> listening_since_;
  bool heard_cluster_ = false; // stet:cluster confirmed once (io thread only)
  std::unique_ptr<boost::asio::steady_timer> repair_timer_; // sharded: re-subscribed channels, debounced
  // After a reconnect, the channels not confirmed again yet; the registry
  // hears "back" k_back_settle after none is left (or after k_back_limit).
  // io thread only.
  static constexpr std::chrono::seconds k_back_limit{3};
  static constexpr std::chrono::seconds k_back_settle{1};
  std::set<std::string> awaiting_back_;
  bool back_due_ = false;
  std::int64_t down_since_ = 0; // wall ms the connection dropped
  std::unique_ptr<boost::asio::steady_timer> back_timer_;
  void tell_back(const bus_listener_api& registry);
  bool was_down_ = false;
  bool connected_once_ = false;
  std::atomic<bool> left_{false};
};

} // namespace stet
