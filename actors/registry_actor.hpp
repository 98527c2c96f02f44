// The directory of open documents on this node: spawns a document actor on
// the first join (loading it from storage exactly once, however many joiners
// arrive meanwhile) and lets idle ones stop.
#pragma once

#include "actors/document_actor.hpp"
#include "actors/redis_bridge.hpp"
#include "auth/token_bucket.hpp"

#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <functional>
#include <map>
#include <random>
#include <unordered_map>

namespace stet {

struct registry_config {
  document_limits limits;
  document_actor_config document;
  /// Set on cluster nodes: documents are owned by the rendezvous winner over
  /// the live nodes; the others relay through the bus.
  std::shared_ptr<redis_bridge> bus;
  /// Documents a join may create, per user or address (null: no limit).
  std::shared_ptr<auth::creation_quota> creations;
  /// Called (on the registry's thread) with a user's token epoch: from
  /// another node's revoke (`revoked`), or read again from storage after a
  /// Redis outage, when a revoke's bus message may have been lost.
  std::function<void(std::int64_t user_id, std::int64_t epoch, bool revoked)> on_token_epoch;
  /// The users with sessions on this node (thread-safe), whose epochs are
  /// read again after a Redis outage.
  std::function<std::vector<std::int64_t>()> session_users;
};

struct registry_state {
  struct open_document {
    caf::actor actor;
    std::uint64_t joins_forwarded = 0;
  };
  struct waiting_join {
    caf::response_promise promise; // unused for a remote session's join
    join_request request;
  };
  std::unordered_map<std::string, open_document> open;
  std::unordered_map<std::string, std::vector<waiting_join>> loading;
  /// Bus messages (edits, presence, leaves) for documents still loading,
  /// replayed in order once they are open.
  std::unordered_map<std::string, std::vector<std::string>> held_bus;
  /// The storage actors (one connection each); a document always uses the
  /// same one, so its commits stay in order.
  std::vector<caf::actor> stores;
  registry_config config;
  std::uint64_t loads = 0; // storage reads, for tests and metrics
  /// Cluster: the live nodes (sorted) and the stand-ins for documents that
  /// other nodes own.
  std::vector<std::string> ring;
  std::unordered_map<std::string, caf::actor> proxies;
  /// Repairs after the bus dropped messages (see redis_atom): one at a time.
  bool repair_pending = false;
  std::size_t epochs_unanswered = 0;
  std::minstd_rand random{std::random_device{}()};

  static inline const char* name = "registry";
};

using registry_actor_type = caf::stateful_actor<registry_state>;

/// Messages:
/// - (join_atom, join_request) -> caf::actor: the document actor, after it
///   sent the snapshot to the joiner's sink.
/// - (get_atom, doc_id, rev) -> document_view (rev: k_current_rev or an
///   older one); unknown_document when absent.
/// - (acl_atom, doc_id, user_id, role, version): a grant change stored here
///   in the access list's `version`: to the document if open or loading,
///   and to the other nodes.
/// - (drop_atom, doc_id): the document was deleted; its actor stops.
/// - (idle_atom, doc_id, joins_seen) -> bool: true when the document may stop.
/// - (revoke_atom, user_id, epoch): a user's tokens were revoked here; tell
///   the other nodes.
/// - (stats_atom) -> (open documents, storage loads).
/// Cluster nodes also take (bus_atom, BusEnvelope bytes) from the bridge,
/// (ring_atom, live nodes) on membership changes and (redis_atom, true) when
/// its subscriptions are back after they dropped.
caf::behavior registry_actor(registry_actor_type* self, std::vector<caf::actor> stores, registry_config config);

} // namespace stet
