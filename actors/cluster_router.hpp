// The bus side of a node. Every payload another node sent (authenticated by
// the Redis bridge) is parsed here, once, and handed on as typed messages:
// frames and applied edits to the stand-in relaying the document here;
// joins, edits, presence and leaves of another node's sessions to the
// registry, which routes them as it routes this node's own (a remote join
// is the same request as a local one, with a sink that publishes to the
// session's node); access changes and deletes to the registry; token
// revokes to this node's sessions. Requests it cannot hand on are answered
// on the sender's node channel, so no remote session waits in vain.
#pragma once

#include "actors/api.hpp"
#include "actors/cluster_bus.hpp"

#include <functional>
#include <memory>
#include <unordered_map>

namespace stet {

struct cluster_router_config {
  std::shared_ptr<cluster_bus> bus;
  /// Another node revoked a user's tokens up to an epoch (on the router's
  /// thread).
  std::function<void(std::int64_t user_id, std::int64_t epoch)> on_tokens_revoked;
};

struct cluster_router_state {
  // Not an aggregate: CAF would construct it from the actor's pointer.
  cluster_router_state() = default;

  registry_api registry;
  cluster_router_config config;
  /// The stand-ins of this node, by document (announced by the registry).
  std::unordered_map<std::string, remote_document_api> stand_ins;

  static inline const char* name = "cluster_router";
};

using cluster_router_self = cluster_router_api::stateful_pointer<cluster_router_state>;

/// The router (cluster_router_api) in front of `registry`.
cluster_router_api::behavior_type cluster_router(cluster_router_self self, registry_api registry,
                                                 cluster_router_config config);

} // namespace stet
