#include "actors/registry_actor.hpp"

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <functional>

#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

namespace stet {

namespace {

const caf::actor& store_for(registry_state& st, const std::string& doc_id) {
  return st.stores[storage_index(doc_id, st.stores.size())];
}

void fail_waiting(registry_actor_type* self, const std::string& id, const caf::error& err) {
  auto waiting = std::move(self->state.loading[id]);
  self->state.loading.erase(id);
  for (auto& w : waiting)
    w.promise.deliver(err);
}

void on_loaded(registry_actor_type* self, const std::string& id, loaded_document& loaded) {
  auto& st = self->state;
  auto restored = document::restore(loaded, st.config.limits);
  if (!restored) {
    log::error("cannot restore document", {{"doc", id}, {"error", restored.error().message}});
    fail_waiting(self, id, to_caf(restored.error()));
    return;
  }
  auto doc = std::make_shared<document>(std::move(*restored));
  auth::document_access access{loaded.row.owner_id, loaded.row.is_public, {}};
  for (auto& a : loaded.acl)
    access.grants[a.user_id] = auth::parse_grant(a.role);
  auto config = st.config.document;
  config.epoch = loaded.row.owner_epoch;
  // Linked: a registry shut down takes its documents with it.
  auto actor = self->spawn<caf::linked>(document_actor, doc, loaded.row.title, std::move(access),
                                        loaded.row.snapshot_rev, store_for(st, id), caf::actor_cast<caf::actor>(self),
                                        config);
  self->monitor(actor);
  auto& entry = st.open[id];
  entry.actor = actor;
  metrics::get().open_documents.Set(static_cast<double>(st.open.size()));
  auto waiting = std::move(st.loading[id]);
  st.loading.erase(id);
  for (auto& w : waiting) {
    ++entry.joins_forwarded;
    w.promise.delegate(actor, join_atom::value, std::move(w.request));
  }
}

} // namespace

caf::behavior registry_actor(registry_actor_type* self, std::vector<caf::actor> stores, registry_config config) {
  self->state.stores = std::move(stores);
  self->state.config = config;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& open = self->state.open;
    for (auto it = open.begin(); it != open.end(); ++it)
      if (it->second.actor.address() == dm.source) {
        if (dm.reason)
          log::error("document actor failed", {{"doc", it->first}, {"reason", caf::to_string(dm.reason)}});
        open.erase(it);
        metrics::get().open_documents.Set(static_cast<double>(open.size()));
        break;
      }
  });
  return {
    [=](join_atom, join_request& req) {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (auto it = st.open.find(req.doc_id); it != st.open.end()) {
        ++it->second.joins_forwarded;
        rp.delegate(it->second.actor, join_atom::value, std::move(req));
        return rp;
      }
      auto id = req.doc_id;
      auto policy = req.policy;
      auto owner = req.user_id; // a join that creates the document makes its user the owner
      auto& waiting = st.loading[id];
      waiting.push_back(registry_state::waiting_join{rp, std::move(req)});
      if (waiting.size() == 1) {
        ++st.loads;
        self->request(store_for(st, id), caf::infinite, load_atom::value, id, policy, true, owner)
          .then([=](loaded_document& loaded) { on_loaded(self, id, loaded); },
                [=](caf::error& err) { fail_waiting(self, id, err); });
      }
      return rp;
    },
    [=](get_atom, const std::string& id, std::uint64_t rev) {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (auto it = st.open.find(id); it != st.open.end()) {
        rp.delegate(it->second.actor, get_atom::value, rev);
        return rp;
      }
      ++st.loads;
      self->request(store_for(st, id), caf::infinite, load_atom::value, id, std::string{}, false, std::int64_t{0})
        .then(
          [=](loaded_document& loaded) mutable {
            auto d = document::restore(loaded, self->state.config.limits);
            if (!d) {
              rp.deliver(to_caf(d.error()));
              return;
            }
            auto at = rev == k_current_rev ? d->rev() : rev;
            if (at > d->rev() || at < d->oldest_base()) {
              rp.deliver(to_caf(make_error(at > d->rev() ? errc::bad_rev : errc::rev_too_old,
                                           "revision " + std::to_string(at) + " is not available (history covers "
                                             + std::to_string(d->oldest_base()) + " to " + std::to_string(d->rev())
                                             + ")")));
              return;
            }
            rp.deliver(document_view{id, loaded.row.title, d->text_at(at), at, std::string{to_string(d->policy())}});
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](idle_atom, const std::string& id, std::uint64_t joins_seen) -> bool {
      auto& open = self->state.open;
      auto it = open.find(id);
      // A join forwarded but not yet seen by the document keeps it alive.
      if (it == open.end() || it->second.actor.address() != self->current_sender()
          || it->second.joins_forwarded != joins_seen)
        return false;
      open.erase(it);
      metrics::get().open_documents.Set(static_cast<double>(open.size()));
      return true;
    },
    [=](acl_atom, const std::string& id, std::int64_t user_id, const std::string& role) {
      if (auto it = self->state.open.find(id); it != self->state.open.end())
        self->send(it->second.actor, acl_atom::value, user_id, role);
    },
    [=](drop_atom, const std::string& id) {
      auto& open = self->state.open;
      if (auto it = open.find(id); it != open.end()) {
        self->send(it->second.actor, drop_atom::value);
        open.erase(it);
        metrics::get().open_documents.Set(static_cast<double>(open.size()));
      }
    },
    [=](stats_atom) -> caf::result<std::uint64_t, std::uint64_t> {
      return {static_cast<std::uint64_t>(self->state.open.size()), self->state.loads};
    },
  };
}

} // namespace stet
