// The directory of open documents on this node: spawns a document actor on
// the first join (loading it from storage exactly once, however many joiners
// arrive meanwhile) and lets idle ones stop.
#pragma once

#include "actors/document_actor.hpp"
#include "actors/cluster_bus.hpp"
#include "auth/token_bucket.hpp"


#include <functional>
#include <tuple>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

namespace stet {

/// How long a read from a replica may take before the primary is asked: a
/// replica that is down or unreachable must not hold reads for long.
constexpr std::chrono::seconds k_replica_timeout{3};

struct registry_config {
  document_limits limits;
  document_actor_config document;
  /// Set on cluster nodes: documents are owned by the rendezvous winner over
  /// the live nodes; the others relay through the bus.
  std::shared_ptr<cluster_bus> bus;
  /// Documents a join may create, per user or address (null: no limit).
  std::shared_ptr<auth::creation_quota> creations;
  /// Called (on the registry's thread) with a user's token epoch: revoked
  /// here, or read again from storage after a Redis outage (when a
  /// revoke's bus message may have been lost).
  std::function<void(std::int64_t user_id, std::int64_t epoch, bool revoked)> on_token_epoch;
  /// The users with sessions on this node (thread-safe), whose epochs are
  /// read again after a Redis outage.
  std::function<std::vector<std::int64_t>()> session_users;
  /// Storage actors on a streaming replica (--postgres-read): a document
  /// shown over REST is read there first, and from the primary when the
  /// replica fails or is behind the revision asked for.
  std::vector<storage_api> replicas;
};

struct registry_state {
  struct open_document {
    document_actor_api actor;
    std::uint64_t joins_forwarded = 0;
  };
  struct waiting_join {
    caf::typed_response_promise<joined> promise; // unused for a remote session's join
    join_request request;
  };
  std::unordered_map<std::string, open_document> open;
  std::unordered_map<std::string, std::vector<waiting_join>> loading;
  /// What other nodes said about documents still loading, applied once
  /// they are open: access changes and deletes before the joins, the
  /// requests of their sessions (edits, presence, leaves) after, in order.
  struct held_messages {
    std::vector<std::tuple<std::int64_t, std::string, std::uint64_t>> access;
    bool deleted = false;
    std::vector<std::function<void(const document_actor_api&)>> relayed;
  };
  std::unordered_map<std::string, held_messages> held;
  /// The storage actors (one connection each); a document always uses the
  /// same one, so its commits stay in order.
  std::vector<storage_api> stores;
  registry_config config;
  std::uint64_t loads = 0; // storage reads, for tests and metrics
  /// Cluster: the live nodes (sorted) and the stand-ins for documents that
  /// other nodes own.
  std::vector<std::string> ring;
  std::unordered_map<std::string, remote_document_api> proxies;
  /// Documents told to move and not stopped yet (their last commits are
  /// still answering): a stopping node waits for them.
  std::set<caf::actor_addr> handing_over;
  /// Where stand-ins are announced (cluster nodes).
  cluster_router_api router;
  /// Repairs after the bus dropped messages (see redis_atom): one at a time.
  bool repair_pending = false;
  /// The bus (Redis) is down: no new document is opened here, since
  /// another node may own it now without this one hearing of it.
  bool bus_down = false;
  bool bus_heard = false; // the first "up" is the start, not a return
  std::size_t epochs_unanswered = 0;
  std::minstd_rand random{std::random_device{}()};

  static inline const char* name = "registry";
};

using registry_self = registry_actor_api::stateful_pointer<registry_state>;

/// The registry (registry_api) over the node's storage actors.
registry_actor_api::behavior_type registry_actor(registry_self self, std::vector<storage_api> stores,
                                                 registry_config config);

} // namespace stet
