// A Redis Cluster as the bus: every master gets two links (commands, and
// sharded pub/sub), commands and SPUBLISH go to the master that serves the
// slot of their key or channel, and each channel is SSUBSCRIBEd on the
// master that serves its slot, so a document's traffic stays on one shard.
// The slot map comes from CLUSTER NODES, asked at start, every 5 s, and at
// once when a link drops, a command is redirected (MOVED, or ASK while a
// slot is being moved) or a shard drops a subscription by itself (its slot
// moved away). When a master fails over, the promoted replica takes its
// slots: links are made to it and its channels subscribed there again.
// Everything runs on the io_context's single thread.
#pragma once

#include "actors/redis_pubsub.hpp"
#include "actors/redis_slots.hpp"
#include "actors/resp_link.hpp"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace stet {

class redis_cluster final : public redis_pubsub, public std::enable_shared_from_this<redis_cluster> {
public:
  /// Commands redirected this many times fail.
  static constexpr int k_max_hops = 6;
  /// Commands for a slot whose master is unreachable wait this long (in
  /// order) for the slot to be served again, then fail: long enough for a
  /// link that dropped to be made again, not for a failover (what waited
  /// that long would reach sessions that have moved on).
  static constexpr std::chrono::seconds k_hold_limit{1};
  /// How often what waits for a slot is tried again.
  static constexpr std::chrono::milliseconds k_hop_delay{200};

  /// `seeds`: where to ask for the slot map first; `login`: the user and
  /// password every shard is logged in with (its address is not used).
  redis_cluster(boost::asio::io_context& io, std::vector<redis_endpoint> seeds, redis_endpoint login);

  bool sharded() const override {
    return true;
  }
  void start() override;
  void stop() override;
  bool up() const override {
    return up_;
  }
  void command(const std::vector<std::string>& args, reply_handler done = {}) override;
  void publish(const std::string& channel, const std::string& payload, reply_handler done) override;
  void subscribe(const std::string& channel) override;
  void unsubscribe(const std::string& channel) override;
  bool listening(const std::string& channel) const override;
  std::string relay_channel(const std::string& node_channel, const std::string& doc_channel) const override {
    return relay_channel_of(node_channel, doc_channel);
  }
  /// A channel in `doc_channel`'s slot (a hash tag of the whole name);
  /// redis_bridge::addressee_of reads it back.
  static std::string relay_channel_of(const std::string& node_channel, const std::string& doc_channel) {
    return "{" + doc_channel + "}:" + node_channel;
  }

  std::size_t order_domain(const std::string& channel) const override {
    return static_cast<std::size_t>(redis_key_slot(channel));
  }

  /// The masters serving slots now ("host:port").
  std::set<std::string> masters() const {
    return map_.masters();
  }

private:
  struct shard {
    redis_endpoint at;
    std::shared_ptr<resp_link> cmd;
    std::shared_ptr<resp_link> sub;
    std::set<std::string> confirmed; // channels SSUBSCRIBE confirmed on `sub`
    bool opened_before = false;
    // Links that keep failing are made again no sooner than this.
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::milliseconds backoff{100};
  };
  struct held_command {
    std::vector<std::string> args;
    reply_handler done;
    int hops = 0;
    std::chrono::steady_clock::time_point deadline;
    std::string last_error{}; // what Redis said, when it was told to wait
  };

  void refresh(const std::string& why);
  void ask_for_slots(std::vector<redis_endpoint> candidates, std::size_t next);
  void refreshed(std::optional<redis_slot_map> map);
  void schedule_refresh(std::chrono::milliseconds after);
  void reconcile();
  void open_links(shard& s);
  void link_closed(const std::string& address, const std::string& why);
  void on_push(const std::string& address, const redis_reply& r);
  void place(const std::string& channel);
  void ssubscribe(shard& s, const std::string& channel);
  void route(held_command c, std::optional<redis_endpoint> ask);
  bool send_now(int slot, held_command& c, std::optional<redis_endpoint> ask);
  void hold(int slot, held_command c);
  void drain(int slot);
  shard& shard_at(const redis_endpoint& at);
  shard* shard_of_slot(int slot);
  void update_state();

  boost::asio::io_context& io_;
  std::vector<redis_endpoint> seeds_;
  redis_endpoint login_;
  redis_slot_map map_;
  std::map<std::string, shard> shards_;       // by "host:port"
  std::set<std::string> wanted_;              // channels subscribe() asked for
  std::map<std::string, std::string> placed_; // channel -> shard it is subscribed on (or being)
  // Commands waiting for their slot's master, per slot in the order given:
  // a later one never overtakes them (receivers drop what arrives out of
  // order on a slot as replayed).
  std::map<int, std::deque<held_command>> held_;
  std::map<int, std::shared_ptr<boost::asio::steady_timer>> draining_;
  boost::asio::steady_timer refresh_timer_;
  bool refreshing_ = false;
  bool refresh_again_ = false;
  std::chrono::milliseconds backoff_{100};
  bool up_ = false;
  bool reported_ = false;
  bool stopped_ = true;
  std::string last_trouble_ = "no slot map yet";
};

} // namespace stet
