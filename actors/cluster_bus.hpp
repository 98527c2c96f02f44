// What the actors need of the link between nodes: publish a payload on a
// channel, and listen to a channel. redis_bridge is it in a cluster (sealed
// payloads over Redis pub/sub); tests put a fake in its place. Payloads
// arriving on a channel go to the registry (see redis_bridge::start).
#pragma once

#include <functional>
#include <string>

namespace stet {

class cluster_bus {
public:
  virtual ~cluster_bus() = default;

  /// This node's name on the bus.
  virtual const std::string& node_id() const noexcept = 0;

  /// Thread-safe, non-blocking: publishes `payload` on `channel`, in the
  /// order of this node's publications.
  virtual void publish(std::string channel, std::string payload) = 0;
  /// Thread-safe: listens to `channel`; `confirmed` runs (on the bus's own
  /// thread) once every later publication on it will be heard.
  virtual void subscribe(std::string channel, std::function<void()> confirmed) = 0;
  virtual void unsubscribe(std::string channel) = 0;
  /// Thread-safe: `node` announced that it leaves; it is out of the live
  /// set now, not when its heartbeat expires.
  virtual void forget_node(const std::string& node) {
    (void)node;
  }

  /// Where the owner of `doc` sends the frames for `node`'s sessions on it:
  /// `node`'s channel, unless the bus splits channels over shards (then one
  /// beside the document's, so they stay in order with its broadcasts).
  virtual std::string relay_channel(const std::string& node, const std::string& doc) const {
    (void)doc;
    return node_channel(node);
  }

  // -- channels --

  /// One node's: relayed requests, and frames for its sessions.
  static std::string node_channel(const std::string& node) {
    return "stet:node:" + node;
  }
  /// One document's: its applied edits, for the nodes relaying to its sessions.
  static std::string doc_channel(const std::string& doc) {
    return "stet:doc:" + doc;
  }
  /// What every node hears: access changes, deletes and token revokes, which
  /// must reach a node even while the sender's view of the live set lacks it.
  static std::string cluster_channel() {
    return "stet:cluster";
  }
};

} // namespace stet
