#include "actors/document_actor.hpp"
#include "actors/document_actor_parts.hpp"

#include "actors/remote_sink.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "metrics/tracing.hpp"
#include "proto/comment_codec.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>

namespace stet {

namespace document_parts {

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

static std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(wall_ms());
}

// -- closing --

// Tells every session why the document closes (their gateways forget the
// join; remote sessions' stand-ins do so on the error) and stops. Joins
// waiting for an access read are answered too: a promise dropped with the
// actor would leave its joiner waiting.
void close_with(document_self self, const error& why) {
  auto& st = self->state;
  for (auto& w : st.joins_waiting)
    w.promise.deliver(to_caf(why));
  st.joins_waiting.clear();
  auto msg = wire::make_error(why, st.doc->id());
  for (auto& sub : st.sessions.subscribers()) {
    sub.sink->send(msg);
    if (sub.remote_node.empty())
      self->send(sub.gateway, drop_atom::value, st.doc->id());
  }
  st.sessions.subscribers().clear();
  self->quit();
}

// The document cannot go on here: it moved, its lease was taken, or storage
// could not confirm its edits. Every session's node re-attaches the session
// wherever the document is now, from the last revision it was sent, and
// sends again what was not answered (a gateway here hears moved_atom; a
// stand-in on another node an error without an edit, which it takes the
// same way). Joins still waiting fail with `why`; their gateways retry.
void close_for_reattach(document_self self, const error& why) {
  auto& st = self->state;
  for (auto& w : st.joins_waiting)
    w.promise.deliver(to_caf(why));
  st.joins_waiting.clear();
  auto rev = st.commits.committed_rev();
  auto msg = wire::make_error(why, st.doc->id());
  for (auto& sub : st.sessions.subscribers()) {
    if (sub.remote_node.empty())
      self->send(sub.gateway, moved_atom::value, st.doc->id(), rev);
    else
      sub.sink->send(msg);
  }
  st.sessions.subscribers().clear();
  self->quit();
}

// Hands the document over once its commits are answered: the new owner
// loads what they stored (its lease fences anything later).
void close_moved(document_self self) {
  auto& st = self->state;
  metrics::get().document_moves.Increment();
  log::info("document moved", {{"doc", st.doc->id()}, {"rev", std::to_string(st.commits.committed_rev())}});
  close_for_reattach(self, make_error(errc::fenced, "document " + st.doc->id() + " moved to another node"));
}

// -- snapshots and idling --

void maybe_idle(document_self self);

void maybe_snapshot(document_self self, bool force) {
  auto& st = self->state;
  auto rev = st.commits.committed_rev();
  if (st.snapshot_in_flight || rev <= st.snapshot_rev)
    return;
  if (!force && rev - st.snapshot_rev < st.config.snapshot_every)
    return;
  st.snapshot_in_flight = true;
  auto prune = rev > st.config.log_tail ? rev - st.config.log_tail : 0;
  // The durable threads are those of the committed revision (see on_committed).
  storage::snapshot_row snap{st.doc->id(), st.doc->text_at(rev), rev, prune,
                             wire::encode_threads(st.doc->durable_comments().threads())};
  self->request(st.store, k_store_timeout, snapshot_atom::value, std::move(snap))
    .then(
      [=](caf::ok_atom) {
        self->state.snapshot_in_flight = false;
        self->state.snapshot_rev = std::max(self->state.snapshot_rev, rev);
        maybe_idle(self);
      },
      [=](caf::error& err) {
        self->state.snapshot_in_flight = false;
        log::warn("snapshot failed", {{"doc", self->state.doc->id()}, {"error", describe(from_caf(err))}});
        maybe_idle(self); // an idle document still closes (its op log has every edit)
      });
}

// Joins waiting for an access read count: the registry already counted
// them as seen, so a document that asked to stop now would drop them.
bool is_quiet(document_actor_state& st) {
  return st.sessions.subscribers().empty() && st.joins_waiting.empty() && !st.access_read_in_flight
         && st.commits.idle() && !st.snapshot_in_flight;
}

// Schedules a check: a document without subscribers and without work in
// flight flushes its snapshot and asks the registry to let it stop.
void maybe_idle(document_self self) {
  auto& st = self->state;
  if (!is_quiet(st))
    return;
  self->delayed_send(self, st.config.idle_timeout, idle_atom::value, ++st.idle_generation);
}

void on_idle(document_self self, std::uint64_t generation) {
  auto& st = self->state;
  if (generation != st.idle_generation || !is_quiet(st))
    return;
  if (st.commits.committed_rev() > st.snapshot_rev)
    return maybe_snapshot(self, true); // calls maybe_idle again once stored
  self->request(st.registry, k_actor_timeout, idle_atom::value, st.doc->id(), st.joins_seen)
    .then(
      [=](bool stop) {
        if (stop && is_quiet(self->state))
          self->quit();
      },
      [=](caf::error&) { maybe_idle(self); }); // ask again later
}

// -- commits --

// Bounds how long a write may stay unanswered. Armed at most once per
// timeout, not per write: when it fires it looks at the oldest write in
// flight then, and waits only for what that one has left. A write that
// outlives it closes the document; the store may still land it, which only
// a reload shows, so the clients rejoin and resend and what landed is
// deduplicated.
void watch_commit(document_self self, caf::timespan after) {
  auto& st = self->state;
  if (st.commit_watch_armed)
    return;
  st.commit_watch_armed = true;
  self->delayed_send(self, after, commit_watch_atom::value);
}

void on_commit_watch(document_self self) {
  auto& st = self->state;
  st.commit_watch_armed = false;
  auto sent = st.commits.oldest_sent();
  if (!sent)
    return;
  auto waited = self->clock().now() - *sent;
  caf::timespan limit = st.config.commit_timeout;
  if (waited < limit)
    return watch_commit(self, limit - waited);
  log::error("commit did not answer in time; closing",
             {{"doc", st.doc->id()},
              {"waited_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count())}});
  close_for_reattach(self, make_error(errc::storage_unavailable,
                                      "document " + st.doc->id() + " could not confirm its latest edits"));
}

void flush(document_self self);

void on_committed(document_self self) {
  auto& st = self->state;
  auto notices = st.commits.committed();
  st.doc->mark_durable(st.commits.committed_rev(), now_ms());
  st.history.report(st.doc->history_bytes());
  st.sessions.deliver(notices);
  if (st.moving && st.commits.idle())
    return close_moved(self);
  maybe_snapshot(self, false);
  flush(self);
  maybe_idle(self);
}

// Storage answers an error only for a write that cannot land (it retries
// while the database is away, up to its own limit): the document closes,
// and its sessions resync from what is stored and resend what was not acked.
void on_commit_failed(document_self self, const error& e) {
  auto& id = self->state.doc->id();
  if (e.code == errc::fenced) {
    log::warn("lease lost; closing document", {{"doc", id}, {"error", describe(e)}});
    return close_for_reattach(self, make_error(errc::fenced, "document " + id + " moved to another node"));
  }
  if (e.code == errc::unknown_document) {
    log::warn("document deleted; closing", {{"doc", id}});
    return close_with(self, make_error(errc::unknown_document, "document " + id + " was deleted"));
  }
  log::error("commit failed; closing", {{"doc", id}, {"error", describe(e)}});
  close_for_reattach(self, make_error(errc::storage_unavailable, "document " + id + " could not store its latest edits"));
}

// Sends what is staged as one write. No per-request timeout: each would
// register with CAF's clock thread, one lock and wake-up per commit
// (measured: 12% more CPU per edit over many documents); watch_commit
// bounds the wait instead.
void send_write(document_self self) {
  auto& st = self->state;
  auto writes = st.commits.send(self->clock().now());
  watch_commit(self, st.config.commit_timeout);
  self->request(st.store, caf::infinite, commit_atom::value, std::move(writes.ops), std::move(writes.sessions))
    .then([=](caf::ok_atom) { on_committed(self); },
          [=](caf::error& err) { on_commit_failed(self, from_caf(err)); });
}

// What is staged goes now, unless a write is in flight: then with the next
// one, when that answer comes (on_committed).
void flush(document_self self) {
  auto& st = self->state;
  if (st.commits.staged() && !st.commits.in_flight())
    send_write(self);
}

void on_edit(document_self self, edit_request& req) {
  auto& st = self->state;
  auto& doc = *st.doc;
  auto* author = st.sessions.find(req.remote_node, req.session_id);
  auto& m = metrics::get();
  auto reject = [&](const error& err) {
    m.rejected(to_string(err.code));
    if (log::enabled(log::level::debug))
      log::debug("edit rejected", {{"doc", doc.id()},
                                   {"edit", req.id()},
                                   {"session", req.session_id},
                                   {"code", std::string{to_string(err.code)}},
                                   {"error", describe(err)}});
    if (author)
      author->sink->send(wire::make_error(err, doc.id(), req.client_seq));
  };
  if (!author) {
    // The session left, or was dropped (say its node seemed gone for a
    // moment): a remote one is told to join again, which resumes it.
    if (!req.remote_node.empty() && st.config.bus)
      remote_sink{st.config.bus, req.remote_node, doc.id(), req.session_id}.send(wire::make_error(
        make_error(errc::fenced, "session not joined to document " + doc.id() + "; join it again"), doc.id()));
    return;
  }
  // An edit of a remote session whose previous one never arrived (the bus
  // dropped it): applying this one first would make that one look like a
  // duplicate when it comes again. The session's node re-attaches it and
  // sends both again, in order.
  if (req.chained && !req.remote_node.empty() && req.prev_seq != author->last_seq) {
    log::warn("edit relayed after a lost one; re-attaching its session",
              {{"doc", doc.id()}, {"edit", req.id()}, {"expected_prev", std::to_string(author->last_seq)},
               {"prev", std::to_string(req.prev_seq)}});
    remote_sink{st.config.bus, req.remote_node, doc.id(), req.session_id}.send(
      wire::make_error(make_error(errc::fenced, "an edit of this session was lost on the way; re-attaching"), doc.id()));
    return;
  }
  if (!req.remote_node.empty())
    author->last_seq = req.client_seq;
  // The author is who joined, not whoever the sender says.
  req.client_id = author->client_id;
  req.user_id = author->user_id;
  if (req.comment) {
    if (auto err = check_comment(st, *req.comment, *author))
      return reject(*err);
    req.comment->user = author->username;
  } else if (!auth::can_edit(author->role)) {
    return reject(make_error(errc::forbidden, author->role == auth::role::commenter
                                                ? "you may comment on but not edit document " + doc.id()
                                                : "you may view but not edit document " + doc.id()));
  }
  // Moving: the edit stays unanswered with the session's node, which sends
  // it again to the new owner once it re-attached the session.
  if (st.moving)
    return;
  if (st.commits.edits_waiting() >= st.config.max_pending_edits) {
    doc.hold_back(req.user_id, req.client_id, req.client_seq);
    return reject(make_error(errc::storage_unavailable,
                             std::to_string(st.commits.edits_waiting())
                               + " edits are waiting for storage to commit; this one was not applied, retry later"));
  }
  auto ordered = tracing::start(req.traceparent, "stet.order");
  auto outcome = doc.submit(req, now_ms());
  if (ordered) {
    ordered->with("stet.doc", doc.id()).with("stet.rev", std::to_string(outcome ? outcome->rev : 0));
    if (!outcome)
      ordered->with("stet.error", std::string{to_string(outcome.error().code)});
    tracing::finish(std::move(*ordered));
  }
  if (!outcome)
    return reject(outcome.error());
  (outcome->duplicate ? m.edits_duplicate : m.edits_applied).Increment();
  m.conflicts.Increment(static_cast<double>(outcome->conflicts.size()));
  if (log::enabled(log::level::debug))
    log::debug(outcome->duplicate ? "edit duplicate" : "edit serialised",
               {{"doc", doc.id()},
                {"edit", req.id()},
                {"rev", std::to_string(outcome->rev)},
                {"session", req.session_id},
                {"from_node", req.remote_node},
                {"conflicts", std::to_string(outcome->conflicts.size())}});
  pending_notice n{req.session_id, req.remote_node, req.client_seq, outcome->rev, 0, nullptr, req.client_id, {},
                   std::chrono::steady_clock::now()};
  if (!req.traceparent.empty()) {
    n.traceparent = std::move(req.traceparent);
    n.staged_unix_ns = tracing::unix_now_ns();
  }
  std::optional<storage::op_row> row;
  if (!outcome->duplicate) {
    auto& e = *doc.entry(outcome->rev);
    n.ts = e.ts;
    n.applied = std::make_shared<wire::encoded_message>(applied_message(doc, e));
    n.conflicts = std::move(outcome->conflicts);
    row = storage::op_row{doc.id(), e.rev, wire::encode_stored(e.op, e.comment ? &*e.comment : nullptr),
                          e.client_id, e.client_seq, e.ts,
                          author->user_id, st.epoch};
  }
  st.commits.stage(std::move(row), std::move(n));
  flush(self);
}

} // namespace document_parts

void history_gauge::report(std::size_t bytes) {
  auto& g = metrics::get().history_bytes;
  if (bytes >= reported_)
    g.Increment(static_cast<double>(bytes - reported_));
  else
    g.Decrement(static_cast<double>(reported_ - bytes));
  reported_ = bytes;
}

history_gauge::~history_gauge() {
  metrics::get().history_bytes.Decrement(static_cast<double>(reported_));
}

document_actor_api::behavior_type document_actor(document_self self, std::shared_ptr<document> doc, std::string title,
                                                 auth::document_access access, std::uint64_t snapshot_rev,
                                                 storage_api store, registry_api registry,
                                                 document_actor_config config) {
  using namespace document_parts;
  auto& st = self->state;
  st.commits = commit_pipeline{doc->rev()};
  st.sessions = fanout{doc->id(), config.bus};
  st.epoch = config.epoch;
  st.snapshot_rev = snapshot_rev;
  st.doc.emplace(std::move(*doc));
  st.history.report(st.doc->history_bytes());
  st.title = std::move(title);
  st.access = auth::access_tracker{std::move(access)};
  st.store = std::move(store);
  st.registry = std::move(registry);
  st.config = config;
  st.presence = presence_batch{config.cursor_interval, config.roster_interval};
  st.access_read_at = self->clock().now(); // as loaded
  self->set_down_handler([self](caf::down_msg& dm) { gateway_down(self, dm.source); });
  return {
    [=](join_atom, join_request& req) -> caf::result<joined> { return join(self, req); },
    [=](edit_atom, edit_request& req) {
      if (!self->state.sessions.find(req.remote_node, req.session_id) && defer_edit(self, req))
        return;
      on_edit(self, req);
    },
    [=](presence_atom, const std::string& node, const std::string& session_id, std::uint32_t cursor,
        std::uint32_t anchor) {
      auto* s = self->state.sessions.find(node, session_id);
      if (!s)
        return;
      wire::Presence p;
      p.set_doc_id(self->state.doc->id());
      set_identity(&p, s->client_id, s->user_id, s->username);
      p.set_cursor(cursor);
      p.set_anchor(anchor);
      announce(self, session_id, std::move(p));
    },
    [=](presence_atom) {
      self->state.presence_flush_scheduled = false;
      flush_presence(self);
    },
    [=](leave_atom, const std::string& session_id) {
      leave(self, [&](const std::string& id, const std::string& node) { return id == session_id && node.empty(); });
    },
    [=](leave_atom, const std::string& from, const std::string& session_id) {
      leave(self, [&](const std::string& id, const std::string& node) { return id == session_id && node == from; });
    },
    [=](gone_atom, const std::string& from) {
      leave(self, [&](const std::string&, const std::string& node) { return node == from; });
    },
    [=](lost_atom, const std::string& node, std::int64_t at) { reattach_remote(self, node, at); },
    [=](get_atom, std::uint64_t rev) -> caf::result<document_view> {
      auto& s = self->state;
      auto committed = s.commits.committed_rev();
      if (rev == k_current_rev)
        rev = committed;
      if (rev > committed)
        return to_caf(make_error(errc::bad_rev, "revision " + std::to_string(rev) + " does not exist yet (rev "
                                                  + std::to_string(committed) + ")"));
      if (rev < s.doc->oldest_base())
        return to_caf(make_error(errc::rev_too_old, "revision " + std::to_string(rev)
                                                      + " was compacted; history reaches back to rev "
                                                      + std::to_string(s.doc->oldest_base())));
      document_view v{s.doc->id(), s.title, s.doc->text_at(rev), rev, std::string{to_string(s.doc->policy())}};
      if (rev == committed)
        v.comments = s.doc->durable_comments().threads();
      return v;
    },
    [=](acl_atom, std::int64_t user_id, const std::string& role, std::uint64_t version) {
      hear_grant(self, user_id, role, version);
    },
    [=](acl_atom) { refresh_access(self); }, // changes may have been lost on the bus
    [=](recheck_atom) { on_recheck(self); },
    [=](drop_atom) {
      close_with(self, make_error(errc::unknown_document, "document " + self->state.doc->id() + " was deleted"));
    },
    [=](move_atom) {
      self->state.moving = true;
      if (self->state.commits.idle())
        close_moved(self);
    },
    [=](commit_watch_atom) { on_commit_watch(self); },
    [=](idle_atom, std::uint64_t generation) { on_idle(self, generation); },
  };
}

} // namespace stet
