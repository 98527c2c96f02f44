// The registry's parts shared between its files: registry_actor.cpp (joins,
// loads, reads, relays, membership, the behavior) and registry_changes.cpp
// (access changes, deletes and token revokes, heard from storage or other
// nodes, and the repair after the bus dropped messages). Internal to actors/.
#pragma once

#include "actors/registry_actor.hpp"
#include "core/rendezvous.hpp"
#include "metrics/metrics.hpp"

namespace stet::registry_parts {

inline const std::string& self_node(const registry_state& st) {
  return st.config.bus->node_id();
}

/// The node that owns `doc_id`: "" (this one) when not clustered.
inline std::string owner_of(const registry_state& st, const std::string& doc_id) {
  if (!st.config.bus)
    return {};
  return rendezvous_owner(doc_id, st.ring);
}

/// The gauges of this node's share of the documents.
inline void count_documents(const registry_state& st) {
  auto& m = metrics::get();
  m.open_documents.Set(static_cast<double>(st.open.size()));
  m.remote_documents.Set(static_cast<double>(st.proxies.size()));
}

// -- registry_changes.cpp --

/// An access change another node stored: to the document here.
void deliver_grant(registry_self self, const std::string& doc_id, std::int64_t user, const std::string& role,
                   std::uint64_t version);
/// A delete another node stored: the document here closes.
void deliver_delete(registry_self self, const std::string& doc_id);
/// An access change stored here: to the document here and every other node.
void on_access_stored(registry_self self, const std::string& doc_id, std::int64_t user, const std::string& role,
                      std::uint64_t version);
/// A delete stored here: to the document here and every other node.
void on_delete_stored(registry_self self, const std::string& doc_id);
/// A token revoke stored here: to this node's sessions and every other node.
void on_token_revoked(registry_self self, std::int64_t user, std::int64_t epoch);
/// The bus subscriptions are back: schedules one repair pass.
void on_bus_back(registry_self self);
/// Reads again what bus messages lost meanwhile would have said.
void repair(registry_self self);
/// Publications of this node about a document were lost (see lost_atom):
/// the sessions that missed them re-attach.
void on_lost(registry_self self, const std::string& doc_id, const std::string& node, bool to_owner, std::int64_t at);

} // namespace stet::registry_parts
