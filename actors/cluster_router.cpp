#include "actors/cluster_router.hpp"

#include "actors/remote_sink.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "proto/comment_codec.hpp"

#include <caf/system_messages.hpp>

namespace stet {

namespace {

// Answers a request of `node`'s session that cannot be handed on.
void refuse(cluster_router_self self, const std::string& node, const std::string& doc_id,
            const std::string& session_id, const error& err, std::uint64_t client_seq = 0) {
  remote_sink{self->state.config.bus, node, doc_id, session_id}.send(wire::make_error(err, doc_id, client_seq));
}

// How long a relayed join may take: longer than the owner's own worst case
// (a load, a second load that creates the document, an access read), so
// the router never gives up on a join that the registry will still admit.
constexpr auto k_join_timeout = 2 * k_store_timeout + std::chrono::seconds(10);

// A session of another node joins: the same request as a session of this
// node, with a sink that publishes to its node; an empty message follows
// the join's frames once it is admitted. A join that fails is withdrawn (a session told it failed is never left subscribed) and the
// session is told why.
void relay_join(cluster_router_self self, const std::string& from, const std::string& doc_id,
                const wire::RemoteJoin& j) {
  join_request req{doc_id,
                   j.policy().empty() ? std::string{"lww"} : j.policy(),
                   j.known_rev(),
                   j.echo(),
                   j.client_id(),
                   j.session_id(),
                   j.user_id(),
                   j.username(),
                   std::make_shared<remote_sink>(self->state.config.bus, from, doc_id, j.session_id()),
                   session_api{}, // a session of another node: its node's departure drops it
                   from,
                   j.creator(),
                   j.scoped_role(),
                   j.quiet()};
  auto session = j.session_id();
  self->request(self->state.registry, k_join_timeout, join_atom::value, std::move(req))
    .then(
          [=](joined&) {
            // After the join's snapshot or catch-up: tells the session's
            // node that the owner serves it (a resume that missed nothing
            // has no other frame; remote_document waits for one).
            remote_sink{self->state.config.bus, from, doc_id, session}.send(wire::ServerMessage{});
          },
          [=](caf::error& err) {
            auto e = from_caf(err);
            // The session left while its join waited: nothing to withdraw,
            // nobody to tell (it may have joined again since).
            if (e.code == errc::not_joined)
              return;
            self->send(self->state.registry, leave_atom::value, doc_id, from, session);
            // Whatever the reason, the session is not joined: fenced makes
            // its node drop it and join again.
            if (e.code == errc::overloaded)
              e = make_error(errc::fenced, "the join of document " + doc_id + " did not complete; join it again");
            refuse(self, from, doc_id, session, e);
          });
}

// One envelope of another node (a batch is taken apart before).
void on_envelope(cluster_router_self self, wire::BusEnvelope& env) {
  auto& st = self->state;
  auto& doc_id = env.doc_id();
  if (env.has_frame() || env.has_broadcast() || env.has_frames() || env.has_broadcasts()) {
    if (auto it = st.stand_ins.find(doc_id); it != st.stand_ins.end())
      self->send(it->second, bus_atom::value, std::move(env));
    return;
  }
  auto& from = env.from_node();
  // A node hears its own publications on stet:cluster: it applied them
  // when it made them.
  if (from.empty() || from == st.config.bus->node_id())
    return;
  if (env.has_access()) {
    auto& a = env.access();
    self->send(st.registry, heard_atom::value, doc_id, a.user_id(), a.role(), a.version());
  } else if (env.has_deleted()) {
    self->send(st.registry, heard_atom::value, doc_id);
  } else if (env.has_leaving()) {
    st.config.bus->forget_node(from);
  } else if (env.has_tokens()) {
    if (st.config.on_tokens_revoked)
      st.config.on_tokens_revoked(env.tokens().user_id(), env.tokens().epoch());
  } else if (env.has_join()) {
    relay_join(self, from, doc_id, env.join());
  } else if (env.has_edit()) {
    auto& e = env.edit();
    auto op = wire::to_operation(e.ops());
    if (!op)
      return refuse(self, from, doc_id, e.session_id(), op.error(), e.client_seq());
    // The author is looked up by (from, session): whatever client id the
    // envelope names, the document uses the one the session joined with.
    edit_request req{{e.client_id(), 0, e.client_seq(), e.base_rev(), std::move(*op)}, e.session_id(),
                     e.client_ts(), from, {}};
    req.chained = e.has_prev_seq();
    req.prev_seq = e.prev_seq();
    if (e.has_comment()) {
      auto comment = wire::to_comment(e.comment());
      if (!comment)
        return refuse(self, from, doc_id, e.session_id(), comment.error(), e.client_seq());
      req.comment = std::move(*comment);
    }
    req.traceparent = e.traceparent();
    self->send(st.registry, edit_atom::value, doc_id, std::move(req));
  } else if (env.has_presence()) {
    auto& p = env.presence();
    self->send(st.registry, presence_atom::value, doc_id, from, p.session_id(), p.cursor(), p.anchor());
  } else if (env.has_leave()) {
    self->send(st.registry, leave_atom::value, doc_id, from, env.leave().session_id());
  }
}

} // namespace

cluster_router_api::behavior_type cluster_router(cluster_router_self self, registry_api registry,
                                                 cluster_router_config config) {
  self->state.registry = std::move(registry);
  self->state.config = std::move(config);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& all = self->state.stand_ins;
    for (auto it = all.begin(); it != all.end(); ++it)
      if (it->second.address() == dm.source) {
        all.erase(it);
        return;
      }
  });
  return {
    [=](bus_atom, const std::string& payload) {
      auto items = wire::decode_bus(payload);
      if (!items) {
        metrics::get().bus_rejected(items.error().code == errc::invalid_argument ? "nested_batch" : "undecodable");
        log::warn("bus payload dropped", {{"error", describe(items.error())}});
        return;
      }
      for (auto& item : *items)
        on_envelope(self, item.envelope);
    },
    [=](route_atom, const std::string& doc_id, remote_document_api& stand_in) {
      self->monitor(stand_in);
      self->state.stand_ins[doc_id] = std::move(stand_in);
    },
    [=](ring_atom, std::vector<std::string>& live) { self->send(self->state.registry, ring_atom::value, std::move(live)); },
    [=](redis_atom, bool back) { self->send(self->state.registry, redis_atom::value, back); },
    [=](lost_atom, const std::string& doc, const std::string& node, bool to_owner, std::int64_t at) {
      self->send(self->state.registry, lost_atom::value, doc, node, to_owner, at);
    },
  };
}

} // namespace stet
