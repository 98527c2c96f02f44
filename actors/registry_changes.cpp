#include "actors/registry_parts.hpp"

#include "actors/storage_requests.hpp"
#include "metrics/log.hpp"

#include <chrono>
#include <limits>
#include <random>

namespace stet::registry_parts {

namespace {

// Tells every other node about a stored access change, delete or token
// revoke: the document may be open on whichever node thinks it owns it,
// and a node this one does not count as live yet hears it all the same.
void publish_change(registry_self self, const std::string& doc_id, wire::BusEnvelope env) {
  auto& st = self->state;
  if (!st.config.bus)
    return;
  env.set_from_node(self_node(st));
  env.set_doc_id(doc_id);
  st.config.bus->publish(cluster_bus::cluster_channel(), env.SerializeAsString());
}

// Each user with a session here: its token epoch as stored (a revoke whose
// bus message was lost is learned this way).
void reread_token_epochs(registry_self self) {
  auto& st = self->state;
  if (!st.config.session_users || !st.config.on_token_epoch)
    return;
  for (auto user : st.config.session_users()) {
    auto key = "user:" + std::to_string(user);
    ++st.epochs_unanswered;
    self->request(st.stores[storage_index(key, st.stores.size())], k_store_timeout, user_atom::value, user)
      .then(
        [=](std::int64_t epoch) {
          --self->state.epochs_unanswered;
          self->state.config.on_token_epoch(user, epoch, false);
        },
        [=](caf::error& err) {
          --self->state.epochs_unanswered;
          // The account is gone: every token of it is revoked.
          if (from_caf(err).code == errc::unauthorized)
            self->state.config.on_token_epoch(user, std::numeric_limits<std::int64_t>::max(), true);
        });
  }
}

} // namespace

// An access change, stored by some node: to the document if it is open;
// one still loading may have read its access list before the change was
// stored, so it gets the change once it is open.
void deliver_grant(registry_self self, const std::string& doc_id, std::int64_t user, const std::string& role,
                   std::uint64_t version) {
  auto& st = self->state;
  if (auto it = st.open.find(doc_id); it != st.open.end())
    self->send(it->second.actor, acl_atom::value, user, role, version);
  else if (st.loading.count(doc_id))
    st.held[doc_id].access.emplace_back(user, role, version);
}

// A delete, stored by some node: the document closes, or never opens.
void deliver_delete(registry_self self, const std::string& doc_id) {
  auto& st = self->state;
  if (auto it = st.open.find(doc_id); it != st.open.end()) {
    self->send(it->second.actor, drop_atom::value);
    st.open.erase(it);
    count_documents(st);
  } else if (st.loading.count(doc_id)) {
    st.held[doc_id].deleted = true;
  }
}

void on_access_stored(registry_self self, const std::string& doc_id, std::int64_t user, const std::string& role,
                      std::uint64_t version) {
  deliver_grant(self, doc_id, user, role, version);
  wire::BusEnvelope env;
  env.mutable_access()->set_user_id(user);
  env.mutable_access()->set_role(role);
  env.mutable_access()->set_version(version);
  publish_change(self, doc_id, std::move(env));
}

void on_delete_stored(registry_self self, const std::string& doc_id) {
  deliver_delete(self, doc_id);
  wire::BusEnvelope env;
  env.mutable_deleted();
  publish_change(self, doc_id, std::move(env));
}

void on_token_revoked(registry_self self, std::int64_t user, std::int64_t epoch) {
  if (self->state.config.on_token_epoch)
    self->state.config.on_token_epoch(user, epoch, true);
  wire::BusEnvelope env;
  env.mutable_tokens()->set_user_id(user);
  env.mutable_tokens()->set_epoch(epoch);
  publish_change(self, "", std::move(env));
}

// Messages may have been lost while the subscriptions were down: stand-ins
// resync at once. Open documents read who may open them again, and the
// token epochs of this node's users are read again (revokes published
// meanwhile): one pass at a time, started after a random pause, so nodes
// that all saw Redis come back do not all read storage in the same moment.
void on_bus_back(registry_self self) {
  auto& st = self->state;
  for (auto& [id, proxy] : st.proxies)
    self->send(proxy, move_atom::value);
  if (st.repair_pending)
    return;
  st.repair_pending = true;
  self->delayed_send(self, std::chrono::milliseconds(std::uniform_int_distribution<int>{0, 2000}(st.random)),
                     repair_atom::value);
}

// The owner tells the sessions of the node that missed its frames (of
// every node, when its broadcasts were lost) to re-attach; the stand-in
// whose joins or edits to that owner were lost re-attaches its sessions.
// Either way they resume from what they were sent, and what is unanswered
// goes again. Without this they would wait for the relay timeouts. What
// joined or was made after the loss missed nothing and stays.
void on_lost(registry_self self, const std::string& doc_id, const std::string& node, bool to_owner, std::int64_t at) {
  auto& st = self->state;
  if (!to_owner) {
    if (auto it = st.open.find(doc_id); it != st.open.end())
      self->send(it->second.actor, lost_atom::value, node, at);
  } else if (auto p = st.proxies.find(doc_id); p != st.proxies.end() && owner_of(st, doc_id) == node) {
    self->send(p->second, lost_atom::value, at);
  }
}

void repair(registry_self self) {
  auto& st = self->state;
  if (st.epochs_unanswered > 0) { // the last pass is still reading: again once it is done
    self->delayed_send(self, std::chrono::seconds(1), repair_atom::value);
    return;
  }
  st.repair_pending = false;
  for (auto& [id, doc] : st.open)
    self->send(doc.actor, acl_atom::value);
  reread_token_epochs(self);
}

} // namespace stet::registry_parts
