#include "actors/document_actor_parts.hpp"

#include "actors/storage_requests.hpp"
#include "metrics/log.hpp"

#include <caf/event_based_actor.hpp>

#include <algorithm>

namespace stet::document_parts {

namespace {

void record_session(document_self self, const subscriber& s, bool joined) {
  auto& st = self->state;
  st.commits.stage(storage::session_event{s.session_id, st.doc->id(), st.config.node_id,
                                          joined && s.user_id ? std::to_string(s.user_id) : std::string{},
                                          wall_ms(), joined});
}

// -- sessions --

template <class Predicate>
void remove_subscribers(document_self self, Predicate pred) {
  auto& st = self->state;
  auto& all = st.sessions.subscribers();
  auto it = std::stable_partition(all.begin(), all.end(), [&](const subscriber& s) { return !pred(s); });
  std::vector<subscriber> gone(std::make_move_iterator(it), std::make_move_iterator(all.end()));
  all.erase(it, all.end());
  for (auto& g : gone) {
    record_session(self, g, false);
    wire::Presence p;
    p.set_doc_id(st.doc->id());
    set_identity(&p, g.client_id, g.user_id, g.username);
    p.set_left(true);
    announce(self, g.session_id, std::move(p));
  }
  if (!gone.empty())
    flush(self);
  maybe_idle(self);
}

// A session that leaves (or whose gateway or node goes) while its join
// waits for the access read never joins: admitting it later would leave a
// subscriber nobody removes.
template <class Predicate>
void drop_waiting_joins(document_self self, Predicate pred) {
  auto& waiting = self->state.joins_waiting;
  for (auto it = waiting.begin(); it != waiting.end();) {
    if (!pred(it->request)) {
      ++it;
      continue;
    }
    it->promise.deliver(to_caf(make_error(errc::not_joined, "the session left before its join completed")));
    it = waiting.erase(it);
  }
}

caf::error on_join(document_self self, join_request& req) {
  auto& st = self->state;
  auto& doc = *st.doc;
  // A scoped token grants exactly its scope, whatever the list says.
  bool scoped = !req.scoped_role.empty();
  auto role = scoped ? auth::parse_role(req.scoped_role) : auth::role_of(st.access.current(), req.user_id);
  if (!auth::can_view(role)) {
    maybe_idle(self);
    return to_caf(make_error(errc::forbidden, "you may not open document " + doc.id()));
  }
  // A re-attached session has seen revisions this node has not (the
  // revision is the server's own, not a client's): this node is not the
  // owner any more, another took the lease and committed since. Serving it
  // would take its text back; its node tries again, and finds the current
  // owner once the membership settles.
  if (st.config.bus && req.quiet && req.known_rev > st.commits.committed_rev()) {
    maybe_idle(self);
    return to_caf(make_error(errc::fenced, "document " + doc.id() + " is behind revision "
                                             + std::to_string(req.known_rev) + " here; join it again"));
  }
  remove_subscribers(self, [&](const subscriber& s) {
    return s.session_id == req.session_id && s.remote_node == req.remote_node;
  });
  if (req.gateway)
    self->monitor(req.gateway);
  // Stamped before the welcome goes out: a bus loss of the welcome counts.
  auto joined_ns = steady_now_ns();
  st.sessions.welcome(req, doc, st.commits.committed_rev());
  auto& joined = st.sessions.subscribers().emplace_back(subscriber{req.session_id, req.client_id, req.user_id,
                                                                   req.username, role, scoped, req.echo, req.sink,
                                                                   req.gateway, req.remote_node});
  joined.joined_ns = joined_ns;
  record_session(self, joined, true);
  if (!st.access_recheck_armed) {
    st.access_recheck_armed = true;
    self->delayed_send(self, st.config.access_recheck, recheck_atom::value);
  }
  wire::Presence p;
  p.set_doc_id(doc.id());
  set_identity(&p, req.client_id, req.user_id, req.username);
  announce(self, req.session_id, std::move(p));
  flush(self);
  return {};
}

// -- who may open the document --

// Sessions keep their connection; what they may do follows the access
// list. Those who may no longer view are told and removed.
void enforce_access(document_self self) {
  auto& st = self->state;
  auto revoked = make_error(errc::forbidden, "your access to document " + st.doc->id() + " was revoked");
  for (auto& s : st.sessions.subscribers()) {
    if (s.scoped)
      continue;
    s.role = auth::role_of(st.access.current(), s.user_id);
    if (!auth::can_view(s.role)) {
      s.sink->send(wire::make_error(revoked, st.doc->id()));
      if (s.remote_node.empty())
        self->send(s.gateway, drop_atom::value, st.doc->id());
    }
  }
  remove_subscribers(self, [](const subscriber& s) { return !auth::can_view(s.role); });
}

void admit_waiting(document_self self) {
  auto waiting = std::move(self->state.joins_waiting);
  self->state.joins_waiting.clear();
  for (auto& w : waiting) {
    if (auto err = on_join(self, w.request)) {
      w.promise.deliver(err);
      continue;
    }
    w.promise.deliver(joined{caf::actor_cast<document_api>(self)});
    for (auto& e : w.edits)
      on_edit(self, e);
  }
  maybe_idle(self); // every join that waited may have been refused or dropped
}

} // namespace

// Reads who may open the document, then admits the joins waiting for it.
// Storage down: the last known access stands (the joins still answer).
void refresh_access(document_self self) {
  auto& st = self->state;
  if (st.access_read_in_flight)
    return;
  st.access_read_in_flight = true;
  // Joins wait for this read: a store slower than this serves them with
  // what was known.
  self->request(st.store, std::chrono::seconds(5), acl_atom::value, st.doc->id())
    .then(
      [=](loaded_document& fresh) {
        auto& s = self->state;
        s.access_read_in_flight = false;
        s.access_read_at = self->clock().now();
        s.access.reread(access_of(fresh.row, fresh.acl));
        enforce_access(self);
        admit_waiting(self);
      },
      [=](caf::error& err) {
        auto& s = self->state;
        s.access_read_in_flight = false;
        auto e = from_caf(err);
        if (e.code == errc::unknown_document) // close_with answers the waiting joins
          return close_with(self, make_error(errc::unknown_document, "document " + s.doc->id() + " was deleted"));
        log::warn("cannot re-read who may open a document; using what was known",
                  {{"doc", s.doc->id()}, {"error", describe(e)}});
        admit_waiting(self);
      });
}

// An edit from a session whose join waits for the access read: kept for
// after it (bounded). True when it was kept or refused here.
bool defer_edit(document_self self, edit_request& req) {
  auto& st = self->state;
  for (auto& w : st.joins_waiting) {
    if (w.request.session_id != req.session_id || w.request.remote_node != req.remote_node)
      continue;
    if (w.edits.size() < st.config.max_edits_before_join) {
      w.edits.push_back(std::move(req));
      return true;
    }
    st.doc->hold_back(w.request.user_id, w.request.client_id, req.client_seq);
    if (w.request.sink) {
      w.request.sink->send(wire::make_error(
        make_error(errc::rate_limited, "too many edits before the join of " + st.doc->id() + " completed; resend"),
        st.doc->id(), req.client_seq));
    }
    return true;
  }
  return false;
}

// -- presence --

void flush_presence(document_self self) {
  auto& st = self->state;
  st.sessions.presence(st.presence.take(self->clock().now()));
}

void announce(document_self self, std::string origin_session, wire::Presence p) {
  auto& st = self->state;
  st.presence.add(std::move(origin_session), std::move(p));
  auto now = self->clock().now(); // the actor system's clock, so a test scheduler can drive it
  auto due = st.presence.due(now);
  if (!due || st.presence_flush_scheduled)
    return;
  if (*due <= now)
    return flush_presence(self);
  st.presence_flush_scheduled = true;
  self->delayed_send(self, *due - now, presence_atom::value);
}

caf::result<joined> join(document_self self, join_request& req) {
  auto& s = self->state;
  // Counted as it arrives, whatever becomes of it (a leave may drop it
  // while it waits): the registry lets the document stop only once it has
  // seen every join it forwarded.
  ++s.joins_seen;
  if (self->clock().now() - s.access_read_at >= s.config.access_refresh || s.access_read_in_flight) {
    s.joins_waiting.push_back({self->make_response_promise<joined>(), std::move(req)});
    refresh_access(self);
    return caf::delegated<joined>{};
  }
  if (auto err = on_join(self, req))
    return err;
  return joined{caf::actor_cast<document_api>(self)};
}

void leave(document_self self, const std::function<bool(const std::string&, const std::string&)>& pred) {
  drop_waiting_joins(self, [&](const join_request& r) { return pred(r.session_id, r.remote_node); });
  remove_subscribers(self, [&](const subscriber& s) { return pred(s.session_id, s.remote_node); });
}

void gateway_down(document_self self, const caf::actor_addr& gateway) {
  drop_waiting_joins(self, [&](const join_request& r) { return r.gateway && r.gateway.address() == gateway; });
  remove_subscribers(self, [&](const subscriber& s) { return s.gateway && s.gateway.address() == gateway; });
}

void reattach_remote(document_self self, const std::string& node, std::int64_t lost_at) {
  auto& st = self->state;
  auto missed = [&](const subscriber& s) {
    return !s.remote_node.empty() && (node.empty() || s.remote_node == node) && s.joined_ns < lost_at;
  };
  auto msg = wire::make_error(make_error(errc::fenced, "messages for document " + st.doc->id()
                                                         + " were lost on the bus; join it again"),
                              st.doc->id());
  for (auto& s : st.sessions.subscribers())
    if (missed(s))
      s.sink->send(msg);
  remove_subscribers(self, missed);
}

void hear_grant(document_self self, std::int64_t user_id, const std::string& role, std::uint64_t version) {
  if (self->state.access.hear(user_id, auth::parse_grant(role), version))
    enforce_access(self);
}

void on_recheck(document_self self) {
  auto& s = self->state;
  s.access_recheck_armed = !s.sessions.subscribers().empty();
  if (!s.access_recheck_armed)
    return;
  refresh_access(self);
  self->delayed_send(self, s.config.access_recheck, recheck_atom::value);
}

std::optional<error> check_comment(const document_actor_state& st, const comment_action& a, const subscriber& author) {
  auto& doc = *st.doc;
  if (!auth::can_comment(author.role))
    return make_error(errc::forbidden, "you may not comment on document " + doc.id());
  if (a.kind != comment_kind::remove || author.role == auth::role::owner)
    return std::nullopt;
  if (st.access.current().owner_id == 0 && auth::can_edit(author.role))
    return std::nullopt;
  auto* t = doc.comments().find(a.thread);
  if (t && !(author.user_id != 0 && t->entries.front().user_id == author.user_id))
    return make_error(errc::forbidden, "only its author or the document's owner may delete comment thread "
                                         + std::to_string(a.thread));
  return std::nullopt;
}

} // namespace stet::document_parts
