// The actor that owns a `store`. It runs detached (its own thread) because
// every store call blocks. It is the one owner of group commit: the writes
// it holds, from any number of documents, share one transaction, and while
// the database is away it keeps them in order and retries.
#pragma once

#include "actors/api.hpp"
#include "actors/node_health.hpp"

#include <memory>

namespace stet {

/// The storage actor (storage_api): spawn it detached. Every outcome is
/// reported to `health` (for /readyz) and to the metrics. Snapshots ride
/// along with commits, at most one per transaction and spaced out while
/// edits are committing, so a burst of them never holds edits back.
storage_actor_api::behavior_type storage_actor(storage_actor_api::pointer self, std::shared_ptr<storage::store> store,
                                               std::shared_ptr<node_health> health);

} // namespace stet
