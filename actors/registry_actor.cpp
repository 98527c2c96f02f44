#include "actors/registry_actor.hpp"
#include "actors/registry_parts.hpp"

#include "metrics/log.hpp"
#include "actors/remote_document.hpp"
#include "actors/remote_sink.hpp"
#include "actors/storage_requests.hpp"
#include "core/rendezvous.hpp"
#include "metrics/metrics.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <random>

#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

namespace stet {

using namespace registry_parts;

namespace {

bool owned_here(const registry_state& st, const std::string& doc_id) {
  return !st.config.bus || owner_of(st, doc_id) == self_node(st);
}

const storage_api& store_for(registry_state& st, const std::string& doc_id) {
  return st.stores[storage_index(doc_id, st.stores.size())];
}

void reply_to_remote(registry_self self, const std::string& node, const std::string& doc_id,
                     const std::string& session_id, const error& err);
void on_loaded(registry_self self, const std::string& id, loaded_document& loaded);
void fail_waiting(registry_self self, const std::string& id, const caf::error& err);

// Loads (creating if needed, and leasing on a cluster node) a document
// that joins are waiting for; exactly one storage read however many wait.
// A document is loaded as it is first; only when it does not exist is the
// creator's quota charged and the document created.
void start_load(registry_self self, const std::string& id, const std::string& policy, std::int64_t owner,
                const std::string& creator, bool create = false) {
  auto& st = self->state;
  ++st.loads;
  metrics::get().document_loads.Increment();
  std::string lease = st.config.bus ? self_node(st) : std::string{};
  bool limited = st.config.creations != nullptr;
  bool may_create = !creator.empty(); // a join that may only open what exists
  self->request(store_for(st, id), k_store_timeout, load_atom::value,
                load_request{id, policy, may_create && (create || !limited), owner, lease})
    .then([=](loaded_document& loaded) { on_loaded(self, id, loaded); },
          [=](caf::error& err) {
            auto e = from_caf(err);
            if (!may_create || create || !limited || e.code != errc::unknown_document)
              return fail_waiting(self, id, err);
            if (!self->state.config.creations->try_take(creator)) {
              metrics::get().rate_limited("documents");
              return fail_waiting(self, id,
                                  to_caf(make_error(errc::rate_limited,
                                                    "too many documents created; wait before creating another")));
            }
            start_load(self, id, policy, owner, creator, true);
          });
}

void fail_waiting(registry_self self, const std::string& id, const caf::error& err) {
  auto waiting = std::move(self->state.loading[id]);
  self->state.loading.erase(id);
  self->state.held.erase(id);
  for (auto& w : waiting)
    w.promise.deliver(err);
}

void on_loaded(registry_self self, const std::string& id, loaded_document& loaded) {
  auto& st = self->state;
  // What other nodes said while the document loaded. Deletes and access
  // changes were stored after the load may have read, so they come before
  // any join: nobody sees text or rights already taken back.
  auto held = std::move(st.held[id]);
  st.held.erase(id);
  if (held.deleted) {
    fail_waiting(self, id, to_caf(make_error(errc::unknown_document, "document " + id + " was deleted")));
    return;
  }
  auto restored = restore(loaded, st.config.limits);
  if (!restored) {
    log::error("cannot restore document", {{"doc", id}, {"error", describe(restored.error())}});
    fail_waiting(self, id, to_caf(restored.error()));
    return;
  }
  auto doc = std::make_shared<document>(std::move(*restored));
  auto access = access_of(loaded.row, loaded.acl);
  auto config = st.config.document;
  config.epoch = loaded.row.owner_epoch;
  // Linked: a registry shut down takes its documents with it.
  auto actor = self->spawn<caf::linked>(document_actor, doc, loaded.row.title, std::move(access),
                                        loaded.row.snapshot_rev, store_for(st, id),
                                        caf::actor_cast<registry_api>(self), config);
  self->monitor(actor);
  auto& entry = st.open[id];
  entry.actor = actor;
  count_documents(st);
  for (auto& [user, role, version] : held.access)
    self->send(actor, acl_atom::value, user, role, version);
  auto waiting = std::move(st.loading[id]);
  st.loading.erase(id);
  for (auto& w : waiting) {
    ++entry.joins_forwarded;
    w.promise.delegate(actor, join_atom::value, std::move(w.request));
  }
  // Edits, presence and leaves of sessions that joined meanwhile: after
  // their joins.
  for (auto& hand_over : held.relayed)
    hand_over(actor);
}

void reply_to_remote(registry_self self, const std::string& node, const std::string& doc_id,
                     const std::string& session_id, const error& err) {
  remote_sink sink{self->state.config.bus, node, doc_id, session_id};
  sink.send(wire::make_error(err, doc_id));
}

// A request of another node's session for a document owned here: to the
// document, after its join if it is still loading. An edit for a document
// that is not open tells the session to join again.
void relay(registry_self self, const std::string& doc_id, const std::string& node, const std::string& session,
           bool is_edit, std::function<void(const document_actor_api&)> hand_over) {
  auto& st = self->state;
  if (auto it = st.open.find(doc_id); it != st.open.end())
    return hand_over(it->second.actor);
  if (st.loading.count(doc_id))
    return st.held[doc_id].relayed.push_back(std::move(hand_over));
  if (is_edit)
    reply_to_remote(self, node, doc_id, session,
                    make_error(errc::fenced, "document " + doc_id + " is not open on its owner; join again"));
}

// The live set changed: documents whose owner changed move, stand-ins for
// them resync, and sessions of nodes that left are forgotten.
void on_ring(registry_self self, std::vector<std::string> live) {
  auto& st = self->state;
  auto old = std::move(st.ring);
  st.ring = std::move(live);
  log::info("membership changed", {{"nodes", std::to_string(st.ring.size())}});
  for (auto& node : old)
    if (!std::binary_search(st.ring.begin(), st.ring.end(), node))
      for (auto& [id, doc] : st.open)
        self->send(doc.actor, gone_atom::value, node);
  std::vector<std::string> moved;
  for (auto& [id, doc] : st.open)
    if (!owned_here(st, id)) {
      self->send(doc.actor, move_atom::value);
      st.handing_over.insert(doc.actor.address());
      moved.push_back(id);
    }
  // The actor stops once drained; new joins already go to the new owner.
  for (auto& id : moved)
    st.open.erase(id);
  count_documents(st);
  std::vector<std::string> stale;
  for (auto& [id, proxy] : st.proxies)
    if (owner_of(st, id) != rendezvous_owner(id, old) || owned_here(st, id)) {
      self->send(proxy, move_atom::value);
      stale.push_back(id);
    }
  for (auto& id : stale)
    st.proxies.erase(id);
  count_documents(st);
}

// GET of a document (at `rev`) from its snapshot and stored op log.
void view_from_storage(registry_self self, const std::string& id, std::uint64_t rev,
                       caf::typed_response_promise<document_view> rp, bool from_primary = false) {
  auto& st = self->state;
  bool replica = !from_primary && !st.config.replicas.empty();
  ++st.loads;
  metrics::get().document_loads.Increment();
  auto& store = replica ? st.config.replicas[storage_index(id, st.config.replicas.size())] : store_for(st, id);
  // The replica may lack the document or the revision asked for (it
  // replays the primary's log a little later), or be down: then the primary.
  auto from_the_primary = [=]() mutable {
    metrics::get().replica_read("primary");
    view_from_storage(self, id, rev, rp, true);
  };
  self->request(store, replica ? caf::duration{k_replica_timeout} : caf::duration{k_store_timeout}, load_atom::value,
                load_request{id})
    .then(
      [=](loaded_document& loaded) mutable {
        // Shown once, not kept: every revision the log holds may be asked for.
        auto all = self->state.config.limits;
        all.history = all.history_bytes = std::numeric_limits<std::size_t>::max();
        auto d = restore(loaded, all);
        if (!d) {
          if (replica)
            return from_the_primary();
          rp.deliver(to_caf(d.error()));
          return;
        }
        auto at = rev == k_current_rev ? d->rev() : rev;
        if (replica && at > d->rev())
          return from_the_primary();
        if (at > d->rev() || at < d->oldest_base()) {
          rp.deliver(to_caf(make_error(at > d->rev() ? errc::bad_rev : errc::rev_too_old,
                                       "revision " + std::to_string(at) + " is not available (history covers "
                                         + std::to_string(d->oldest_base()) + " to " + std::to_string(d->rev())
                                         + ")")));
          return;
        }
        if (replica)
          metrics::get().replica_read("replica");
        document_view v{id, loaded.row.title, d->text_at(at), at, std::string{to_string(d->policy())}};
        if (at == d->rev())
          v.comments = d->comments().threads();
        rp.deliver(std::move(v));
      },
      [=](caf::error& err) mutable {
        if (replica)
          return from_the_primary();
        rp.deliver(err);
      });
}

} // namespace

registry_actor_api::behavior_type registry_actor(registry_self self, std::vector<storage_api> stores,
                                                 registry_config config) {
  self->state.stores = std::move(stores);
  self->state.config = config;
  self->set_down_handler([self](caf::down_msg& dm) {
    self->state.handing_over.erase(dm.source);
    auto& proxies = self->state.proxies;
    for (auto it = proxies.begin(); it != proxies.end(); ++it)
      if (it->second.address() == dm.source) {
        proxies.erase(it);
        count_documents(self->state);
        return;
      }
    auto& open = self->state.open;
    for (auto it = open.begin(); it != open.end(); ++it)
      if (it->second.actor.address() == dm.source) {
        if (dm.reason)
          log::error("document actor failed", {{"doc", it->first}, {"reason", caf::to_string(dm.reason)}});
        open.erase(it);
        count_documents(self->state);
        break;
      }
  });
  return {
    [=](join_atom, join_request& req) -> caf::result<joined> {
      auto& st = self->state;
      auto rp = self->make_response_promise<joined>();
      if (st.config.bus && st.ring.empty()) {
        rp.deliver(to_caf(make_error(errc::storage_unavailable,
                                     "cluster membership is not settled yet; join again in a moment")));
        return rp;
      }
      if (!owned_here(st, req.doc_id)) {
        // A session of another node asked the wrong owner: it joins again.
        if (!req.remote_node.empty()) {
          rp.deliver(to_caf(make_error(errc::fenced, "document " + req.doc_id + " is owned by another node; join again")));
          return rp;
        }
        // Sessions here go through a stand-in.
        auto& proxy = st.proxies[req.doc_id];
        if (!proxy) {
          proxy = self->spawn<caf::linked>(remote_document, req.doc_id, owner_of(st, req.doc_id), st.config.bus);
          self->monitor(proxy);
          if (st.router)
            self->send(st.router, route_atom::value, req.doc_id, proxy);
          count_documents(st);
        }
        rp.delegate(proxy, join_atom::value, std::move(req));
        return rp;
      }
      if (auto it = st.open.find(req.doc_id); it != st.open.end()) {
        ++it->second.joins_forwarded;
        rp.delegate(it->second.actor, join_atom::value, std::move(req));
        return rp;
      }
      if (st.config.bus && st.bus_down) {
        rp.deliver(to_caf(make_error(errc::storage_unavailable,
                                     "this node lost its link to the cluster; it opens no document until it is back")));
        return rp;
      }
      auto id = req.doc_id;
      auto policy = req.policy;
      auto owner = req.user_id; // a join that creates the document makes its user the owner
      auto creator = req.creator;
      // One load however many joins wait, and however many of them left:
      // the entry stays until the load answers.
      auto [entry, first] = st.loading.try_emplace(id);
      entry->second.push_back(registry_state::waiting_join{rp, std::move(req)});
      if (first)
        start_load(self, id, policy, owner, creator);
      return rp;
    },
    [=](get_atom, const std::string& id, std::uint64_t rev) -> caf::result<document_view> {
      auto& st = self->state;
      auto rp = self->make_response_promise<document_view>();
      auto it = st.open.find(id);
      if (it == st.open.end()) {
        view_from_storage(self, id, rev, rp);
        return rp;
      }
      // An open document keeps recent revisions in memory; older ones may
      // still be in the stored op log.
      self->request(it->second.actor, k_actor_timeout, get_atom::value, rev)
        .then([=](document_view& view) mutable { rp.deliver(std::move(view)); },
              [=](caf::error& err) mutable {
                if (from_caf(err).code == errc::rev_too_old)
                  view_from_storage(self, id, rev, rp);
                else
                  rp.deliver(err);
              });
      return rp;
    },
    [=](idle_atom, const std::string& id, std::uint64_t joins_seen) -> bool {
      auto& open = self->state.open;
      auto it = open.find(id);
      // An actor the registry no longer routes to (its answer came too
      // late once) may stop: nothing reaches it any more.
      if (it == open.end() || it->second.actor.address() != self->current_sender())
        return true;
      // A join forwarded but not yet seen by the document keeps it alive.
      if (it->second.joins_forwarded != joins_seen)
        return false;
      open.erase(it);
      count_documents(self->state);
      return true;
    },
    [=](route_atom, cluster_router_api& router) { self->state.router = std::move(router); },
    [=](edit_atom, const std::string& doc, edit_request& e) {
      auto node = e.remote_node, session = e.session_id;
      relay(self, doc, node, session, true, [self, e = std::move(e)](const document_actor_api& d) mutable {
        self->send(d, edit_atom::value, std::move(e));
      });
    },
    [=](presence_atom, const std::string& doc, const std::string& node, const std::string& session,
        std::uint32_t cursor, std::uint32_t anchor) {
      relay(self, doc, node, session, false, [=](const document_actor_api& d) {
        self->send(d, presence_atom::value, node, session, cursor, anchor);
      });
    },
    [=](leave_atom, const std::string& doc, const std::string& node, const std::string& session) {
      // A session that leaves while its join waits for the load never
      // joins: its leave must not wait behind a later join of the same
      // session (join, leave, join again) and undo that one.
      if (auto it = self->state.loading.find(doc); it != self->state.loading.end()) {
        auto& waiting = it->second;
        auto w = std::find_if(waiting.begin(), waiting.end(), [&](const registry_state::waiting_join& j) {
          return j.request.remote_node == node && j.request.session_id == session;
        });
        if (w != waiting.end()) {
          w->promise.deliver(to_caf(make_error(errc::not_joined, "the session left before its join completed")));
          waiting.erase(w);
          return;
        }
      }
      relay(self, doc, node, session, false,
            [=](const document_actor_api& d) { self->send(d, leave_atom::value, node, session); });
    },
    [=](heard_atom, const std::string& id, std::int64_t user_id, const std::string& role, std::uint64_t version) {
      deliver_grant(self, id, user_id, role, version);
    },
    [=](heard_atom, const std::string& id) { deliver_delete(self, id); },
    [=](ring_atom, std::vector<std::string>& live) { on_ring(self, std::move(live)); },
    [=](redis_atom, bool back) {
      auto& s = self->state;
      s.bus_down = !back;
      if (back && std::exchange(s.bus_heard, true))
        on_bus_back(self);
    },
    [=](repair_atom) { repair(self); },
    [=](lost_atom, const std::string& doc, const std::string& node, bool to_owner, std::int64_t at) {
      on_lost(self, doc, node, to_owner, at);
    },
    [=](acl_atom, const std::string& id, std::int64_t user_id, const std::string& role, std::uint64_t version) {
      on_access_stored(self, id, user_id, role, version);
    },
    [=](drop_atom, const std::string& id) { on_delete_stored(self, id); },
    [=](revoke_atom, std::int64_t user_id, std::int64_t epoch) { on_token_revoked(self, user_id, epoch); },
    [=](stats_atom) -> caf::result<std::uint64_t, std::uint64_t> {
      auto& s = self->state;
      return {static_cast<std::uint64_t>(s.open.size() + s.handing_over.size()), s.loads};
    },
    [=](owner_atom, std::vector<std::string>& ids) -> std::vector<std::string> {
      std::erase_if(ids, [&](const std::string& id) { return !owned_here(self->state, id); });
      return std::move(ids);
    },
  };
}

} // namespace stet
