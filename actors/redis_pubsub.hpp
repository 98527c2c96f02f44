// What the bridge needs of Redis: commands, publishing, and subscriptions
// kept across reconnects. Two kinds: redis_pair (one server, or the master
// Sentinel names: classic pub/sub) and redis_cluster (Redis Cluster:
// sharded pub/sub, each channel on the shard that owns its slot). Both run
// on one io_context thread; every call and callback happens there.
#pragma once

#include "actors/redis_commands.hpp"

#include <functional>
#include <string>

namespace stet {

class redis_pubsub : public redis_commands {
public:
  using state_handler = std::function<void(bool up, const std::string& why)>;
  using message_handler = std::function<void(const std::string& channel, const std::string& payload)>;

  /// Up: commands and subscriptions work (for a cluster: on every shard).
  /// The first outcome is reported even when it is "down".
  void on_state(state_handler h) {
    on_state_ = std::move(h);
  }
  void on_message(message_handler h) {
    on_message_ = std::move(h);
  }
  /// Redis confirmed a subscription (again after every reconnect or move).
  void on_subscribed(std::function<void(const std::string& channel)> h) {
    on_subscribed_ = std::move(h);
  }

  /// Channels live on several servers (a Redis Cluster), so one can lose
  /// its subscription while the others keep theirs.
  virtual bool sharded() const {
    return false;
  }
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual bool up() const = 0;
  /// PUBLISH (SPUBLISH in a cluster); `done` gets the reply.
  virtual void publish(const std::string& channel, const std::string& payload, reply_handler done) = 0;
  virtual void subscribe(const std::string& channel) = 0;
  virtual void unsubscribe(const std::string& channel) = 0;
  /// Subscribed to `channel` on a connection that is up now.
  virtual bool listening(const std::string& channel) const = 0;
  /// Publications on one channel arrive in order. Only a cluster splits
  /// channels over shards, where a document's broadcasts and the frames for
  /// its sessions on `node` must share a shard to stay in order: there, a
  /// channel of their own in the document channel's slot; elsewhere `node`'s.
  virtual std::string relay_channel(const std::string& node_channel, const std::string& doc_channel) const {
    (void)doc_channel;
    return node_channel;
  }

  /// Publications whose channels share a domain arrive in the order they
  /// were published (a shard's slot in a cluster; everything on one server):
  /// the bus numbers its payloads per domain, so receivers can drop replays.
  virtual std::size_t order_domain(const std::string& channel) const {
    (void)channel;
    return 0;
  }

protected:
  state_handler on_state_;
  message_handler on_message_;
  std::function<void(const std::string&)> on_subscribed_;
};

} // namespace stet
