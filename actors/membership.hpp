// Cluster membership through Redis: every node refreshes its entry in one
// sorted set (score = last heartbeat, ms) every `interval`; entries older
// than `ttl` are dropped, so a killed node leaves the live set by itself.
// Every node reads the same set and so derives the same ring.
//
// Entries are signed: "<node>#<ms>#<tag>", the tag a MAC under the cluster
// key over node and ms. Whoever can write to Redis without the key cannot add
// a member (which would take documents), and an entry copied from Redis
// stops counting `ttl` after its ms, whatever score it is given.
#pragma once

#include "actors/redis_commands.hpp"
#include "auth/bus_seal.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace stet {

class membership : public std::enable_shared_from_this<membership> {
public:
  using change_handler = std::function<void(const std::vector<std::string>& live)>;

  /// `redis` must be a command connection on `io`'s single thread.
  membership(boost::asio::io_context& io, std::shared_ptr<redis_commands> redis, std::string node_id,
             std::shared_ptr<const auth::bus_seal> seal, std::chrono::milliseconds interval = std::chrono::milliseconds{1000},
             std::chrono::milliseconds ttl = std::chrono::milliseconds{3000}, std::string key = "stet:nodes");

  /// Called on the io thread whenever the live set (sorted) changes.
  void on_change(change_handler h) {
    on_change_ = std::move(h);
  }
  void start();
  /// Leaves the set at once (graceful shutdown), then stops heartbeating;
  /// the change handler hears the live set without this node.
  void leave();
  /// `node` said it leaves: out of the live set now, and its entries
  /// written before this moment do not count any more (a node of the same
  /// name that starts again later does).
  void forget(const std::string& node);
  /// Ignores the live sets read during `d` (after Redis lost its data, the
  /// set refills over one heartbeat round; partial sets would move documents
  /// back and forth).
  void settle_for(std::chrono::milliseconds d) {
    settled_at_ = std::chrono::steady_clock::now() + d;
  }
  const std::vector<std::string>& live() const noexcept {
    return live_;
  }

  /// The signed entry for `node` at `ms`.
  static std::string entry(const auth::bus_seal& seal, const std::string& node, std::int64_t ms);
  /// The node of a signed entry still fresh at `now_ms`, or "" when it is
  /// forged, malformed or older than `ttl_ms`.
  static std::string verify(const auth::bus_seal& seal, const std::string& entry, std::int64_t now_ms,
                            std::int64_t ttl_ms, std::int64_t* written_ms = nullptr);

private:
  void beat();

  boost::asio::steady_timer timer_;
  std::shared_ptr<redis_commands> redis_;
  std::string node_id_;
  std::shared_ptr<const auth::bus_seal> seal_;
  std::string entry_; // the one in Redis now
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds ttl_;
  std::string key_;
  std::vector<std::string> live_;
  change_handler on_change_;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point settled_at_{};
  std::map<std::string, std::int64_t> departed_; // node -> when it said it left (ms)
};

} // namespace stet
