// The actor that owns a `store`. It runs detached (its own thread) because
// every store call blocks. Commits that arrive together, from any number of
// documents, share one transaction (group commit).
#pragma once

#include "actors/messages.hpp"
#include "actors/node_health.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <memory>

namespace stet {

/// Messages:
/// - (load_atom, doc_id, policy, create, owner_id, lease_node) ->
///   loaded_document; creates the document (owned by owner_id, 0 = open to
///   all) when absent and `create`, else fails with unknown_document; with a
///   lease_node, takes the document's lease for it first.
/// - (user_atom, user_id) -> the user's token epoch; unauthorized when the
///   account is gone.
/// - (acl_atom, doc_id) -> loaded_document with only the row and the access
///   list (who may open it now); unknown_document when it was deleted.
/// - (run_atom, store_job): runs the job with the store (REST requests).
/// - (commit_atom, std::vector<op_row>, std::vector<session_event>) -> ok_atom
///   once durable.
/// - (snapshot_atom, snapshot_row) -> ok_atom once stored. Snapshots ride
///   along with commits, at most one per transaction and spaced out while
///   edits are committing, so a burst of them never holds edits back.
/// Failures are stet errors carried in caf::error (see to_caf).
/// Every outcome is reported to `health` (for /readyz) and to the metrics.
caf::behavior storage_actor(caf::event_based_actor* self, std::shared_ptr<storage::store> store,
                            std::shared_ptr<node_health> health);

} // namespace stet
