#include "actors/document_actor.hpp"

#include "metrics/log.hpp"
#include "actors/remote_sink.hpp"
#include "metrics/metrics.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <functional>

namespace stet {

namespace {

using commit_watch_atom = caf::atom_constant<caf::atom("cwatch")>;
using recheck_atom = caf::atom_constant<caf::atom("recheck")>;


std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

wire::ServerMessage applied_message(const document& doc, const history_entry& e) {
  wire::ServerMessage m;
  auto* a = m.mutable_applied();
  a->set_doc_id(doc.id());
  a->set_rev(e.rev);
  wire::to_wire(e.op, a->mutable_ops(), true);
  a->set_author(e.client_id);
  if (e.user_id)
    a->set_user_id(e.user_id);
  a->set_ts(e.ts);
  a->set_client_seq(e.client_seq);
  return m;
}

wire::ServerMessage ack_message(const std::string& doc_id, std::uint64_t seq, std::uint64_t rev, std::uint64_t ts) {
  wire::ServerMessage m;
  auto* a = m.mutable_ack();
  a->set_doc_id(doc_id);
  a->set_client_seq(seq);
  a->set_rev(rev);
  if (ts)
    a->set_ts(ts);
  return m;
}

subscriber* find_session(document_actor_state& st, const std::string& node, const std::string& session_id) {
  for (auto& s : st.subscribers)
    if (s.session_id == session_id && s.remote_node == node)
      return &s;
  return nullptr;
}

// Who a session is, as presence shows it: its client id and its user.
template <class Message>
void set_identity(Message* m, const std::string& client_id, std::int64_t user_id, const std::string& username) {
  m->set_client_id(client_id);
  if (user_id) {
    m->set_user_id(user_id);
    m->set_user(username);
  }
}

void fill_participants(document_actor_state& st, wire::Snapshot* snap) {
  for (auto& s : st.subscribers)
    set_identity(snap->add_participants(), s.client_id, s.user_id, s.username);
}

// Each subscriber gets the pending changes of everyone else in one hand-over.
void flush_presence(document_actor_type* self) {
  auto& st = self->state;
  std::vector<presence_batch::change> changes = st.presence.take(self->clock().now());
  std::vector<wire::encoded_message> encoded;
  encoded.reserve(changes.size());
  for (auto& c : changes) {
    wire::ServerMessage m;
    *m.mutable_presence() = std::move(c.presence);
    encoded.emplace_back(std::move(m));
  }
  for (auto& s : st.subscribers) {
    std::vector<std::shared_ptr<const std::string>> frames;
    for (std::size_t i = 0; i < changes.size(); ++i)
      if (changes[i].origin_session != s.session_id)
        frames.push_back(encoded[i].get(s.sink->format()));
    if (!frames.empty())
      s.sink->send(std::move(frames));
  }
}

void announce(document_actor_type* self, std::string origin_session, wire::Presence p) {
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

// Each local session gets everything a commit released in one hand-over
// (one hop onto its strand, and one frame when it batches), in edit order.
void deliver(document_actor_state& st, const std::vector<pending_notice>& notices) {
  auto& id = st.doc->id();
  auto now = std::chrono::steady_clock::now();
  std::vector<std::vector<std::shared_ptr<const std::string>>> out(st.subscribers.size());
  wire::DocBroadcasts to_other_nodes;
  auto index_of = [&](const subscriber* s) { return static_cast<std::size_t>(s - st.subscribers.data()); };
  for (auto& n : notices) {
    auto latency = std::chrono::duration<double>(now - n.received).count();
    metrics::get().edit_latency_seconds.Observe(latency);
    if (log::enabled(log::level::debug))
      log::debug("edit committed", {{"doc", id},
                                    {"edit", n.author_client + "/" + std::to_string(n.client_seq)},
                                    {"rev", std::to_string(n.rev)},
                                    {"latency_us", std::to_string(static_cast<long>(latency * 1e6))}});
    auto* author = find_session(st, n.author_node, n.author_session);
    if (author)
      out[index_of(author)].push_back(
        std::make_shared<const std::string>(wire::encode(ack_message(id, n.client_seq, n.rev, n.ts), author->sink->format())));
    if (n.applied) {
      std::size_t receivers = 0;
      bool remote = false;
      for (auto& s : st.subscribers) {
        if (!s.remote_node.empty()) {
          remote = true;
          continue;
        }
        if (&s != author || s.echo) {
          out[index_of(&s)].push_back(n.applied->get(s.sink->format()));
          ++receivers;
        }
      }
      if (remote && st.config.bus) {
        auto* b = to_other_nodes.add_edits();
        b->set_rev(n.rev);
        b->set_applied(*n.applied->get(wire::frame_format::binary));
        b->set_author_session(n.author_session);
        if (!n.author_node.empty())
          b->set_author_node(n.author_node);
      }
      metrics::get().fanout_sessions.Observe(static_cast<double>(receivers));
    }
    for (auto& c : n.conflicts) {
      wire::ServerMessage m;
      auto* cm = m.mutable_conflict();
      cm->set_doc_id(id);
      cm->set_client_seq(c.client_seq);
      cm->set_rev(n.rev);
      cm->set_dropped(c.dropped);
      cm->set_restored(c.restored);
      wire::encoded_message enc{m};
      for (auto& s : st.subscribers)
        if (s.client_id == c.client_id && s.user_id == c.user_id)
          out[index_of(&s)].push_back(enc.get(s.sink->format()));
    }
  }
  // Other nodes' sessions: once per commit, on the document's channel.
  if (to_other_nodes.edits_size() > 0) {
    wire::BusEnvelope env;
    env.set_from_node(st.config.bus->node_id());
    env.set_doc_id(id);
    if (to_other_nodes.edits_size() == 1)
      env.mutable_broadcast()->Swap(to_other_nodes.mutable_edits(0));
    else
      env.mutable_broadcasts()->Swap(&to_other_nodes);
    st.config.bus->publish(redis_bridge::doc_channel(id), env.SerializeAsString());
  }
  for (std::size_t i = 0; i < out.size(); ++i)
    if (!out[i].empty())
      st.subscribers[i].sink->send(std::move(out[i]));
}

void maybe_snapshot(document_actor_type* self, bool force);
void maybe_idle(document_actor_type* self);
void watch_commit(document_actor_type* self, caf::timespan after);
void close_moved(document_actor_type* self);
void close_with(document_actor_type* self, const error& why);

// Sends the current batch to storage unless a commit is already in flight;
// edits arriving meanwhile form the next batch (group commit).
void flush(document_actor_type* self) {
  auto& st = self->state;
  if (st.commit_in_flight || (st.batch_notices.empty() && st.batch_sessions.empty()))
    return;
  st.commit_in_flight = true;
  st.commit_started = self->clock().now();
  watch_commit(self, st.config.commit_timeout);
  auto rows = std::move(st.batch_rows);
  auto sessions = std::move(st.batch_sessions);
  auto notices = std::make_shared<std::vector<pending_notice>>(std::move(st.batch_notices));
  st.batch_rows.clear();
  st.batch_sessions.clear();
  st.batch_notices.clear();
  auto last_rev = rows.empty() ? st.committed_rev : rows.back().rev;
  // No per-request timeout: each would register with CAF's clock thread,
  // one lock and wake-up per commit (measured: 12% more CPU per edit over
  // many documents). watch_commit bounds the wait instead.
  self->request(st.store, caf::infinite, commit_atom::value, rows, sessions)
    .then(
      [=](caf::ok_atom) {
        auto& s = self->state;
        s.commit_in_flight = false;
        s.committed_rev = std::max(s.committed_rev, last_rev);
        s.doc->mark_durable(s.committed_rev, now_ms());
        s.history.report(s.doc->history_bytes());
        s.retry_delay = std::chrono::milliseconds{50};
        deliver(s, *notices);
        if (s.moving && s.batch_notices.empty())
          return close_moved(self);
        maybe_snapshot(self, false);
        flush(self);
        maybe_idle(self);
      },
      [=](caf::error& err) mutable {
        auto& s = self->state;
        auto e = from_caf(err);
        if (e.code == errc::fenced) {
          // Another node holds the lease now: nothing here may commit. The
          // unacked edits are the clients' to resend to the new owner.
          log::warn("lease lost; closing document", {{"doc", s.doc->id()}, {"error", describe(e)}});
          close_with(self, make_error(errc::fenced, "document " + s.doc->id() + " moved to another node; join it again"));
          return;
        }
        if (e.code == errc::nul_character || e.code == errc::internal) {
          // Retrying cannot make these commit; the pending edits are not
          // acked, and the clients resync from what is stored.
          log::error("commit refused for good; closing", {{"doc", s.doc->id()}, {"error", describe(e)}});
          close_with(self, make_error(errc::storage_unavailable,
                                      "document " + s.doc->id() + " could not store its latest edits; join again"));
          return;
        }
        if (e.code == errc::unknown_document) {
          // Deleted (on another node, say) while edits were in flight: they
          // can never commit, and retrying would never end.
          log::warn("document deleted; closing", {{"doc", s.doc->id()}});
          close_with(self, make_error(errc::unknown_document, "document " + s.doc->id() + " was deleted"));
          return;
        }
        log::error("commit failed; will retry", {{"doc", s.doc->id()}, {"error", describe(e)}});
        // Put the batch back in front of newer edits and try again later:
        // its revisions are already ordered, nothing is acked before it lands.
        s.commit_in_flight = false;
        rows.insert(rows.end(), std::make_move_iterator(s.batch_rows.begin()),
                    std::make_move_iterator(s.batch_rows.end()));
        s.batch_rows = std::move(rows);
        sessions.insert(sessions.end(), std::make_move_iterator(s.batch_sessions.begin()),
                        std::make_move_iterator(s.batch_sessions.end()));
        s.batch_sessions = std::move(sessions);
        notices->insert(notices->end(), std::make_move_iterator(s.batch_notices.begin()),
                        std::make_move_iterator(s.batch_notices.end()));
        s.batch_notices = std::move(*notices);
        self->delayed_send(self, s.retry_delay, retry_atom::value);
        s.retry_delay = std::min(s.retry_delay * 2, std::chrono::milliseconds{2000});
      });
}

// Bounds how long a commit may stay unanswered. Armed at most once per
// timeout, not per commit: when it fires it looks at the commit in flight
// then, and waits only for what that one has left. A commit that outlives
// it closes the document; the store may still land it, which only a reload
// shows, so the clients rejoin and resend and what landed is deduplicated.
void watch_commit(document_actor_type* self, caf::timespan after) {
  auto& st = self->state;
  if (st.commit_watch_armed)
    return;
  st.commit_watch_armed = true;
  self->delayed_send(self, after, commit_watch_atom::value);
}

void on_commit_watch(document_actor_type* self) {
  auto& st = self->state;
  st.commit_watch_armed = false;
  if (!st.commit_in_flight)
    return;
  auto waited = self->clock().now() - st.commit_started;
  caf::timespan limit = st.config.commit_timeout;
  if (waited < limit)
    return watch_commit(self, limit - waited);
  log::error("commit did not answer in time; closing",
             {{"doc", st.doc->id()}, {"waited_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count())}});
  close_with(self, make_error(errc::storage_unavailable,
                              "document " + st.doc->id() + " could not confirm its latest edits; join again"));
}

void maybe_snapshot(document_actor_type* self, bool force) {
  auto& st = self->state;
  if (st.snapshot_in_flight || st.committed_rev <= st.snapshot_rev)
    return;
  if (!force && st.committed_rev - st.snapshot_rev < st.config.snapshot_every)
    return;
  st.snapshot_in_flight = true;
  auto rev = st.committed_rev;
  auto prune = rev > st.config.log_tail ? rev - st.config.log_tail : 0;
  storage::snapshot_row snap{st.doc->id(), st.doc->text_at(rev), rev, prune};
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

bool is_quiet(const document_actor_state& st) {
  return st.subscribers.empty() && !st.commit_in_flight && st.batch_notices.empty() && st.batch_sessions.empty()
         && !st.snapshot_in_flight;
}

// Schedules a check: a document without subscribers and without work in
// flight flushes its snapshot and asks the registry to let it stop.
void maybe_idle(document_actor_type* self) {
  auto& st = self->state;
  if (!is_quiet(st))
    return;
  self->delayed_send(self, st.config.idle_timeout, idle_atom::value, ++st.idle_generation);
}

void on_idle(document_actor_type* self, std::uint64_t generation) {
  auto& st = self->state;
  if (generation != st.idle_generation || !is_quiet(st))
    return;
  if (st.committed_rev > st.snapshot_rev) {
    maybe_snapshot(self, true); // calls maybe_idle again once stored
    return;
  }
  self->request(st.registry, k_actor_timeout, idle_atom::value, st.doc->id(), st.joins_seen)
    .then(
      [=](bool stop) {
        if (stop && is_quiet(self->state))
          self->quit();
      },
      [=](caf::error&) { maybe_idle(self); }); // ask again later
}

// A session that leaves (or whose gateway or node goes) while its join
// waits for the access read never joins: admitting it later would leave a
// subscriber nobody removes.
template <class Predicate>
void drop_waiting_joins(document_actor_type* self, Predicate pred) {
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

template <class Predicate>
void remove_subscribers(document_actor_type* self, Predicate pred) {
  auto& st = self->state;

  std::vector<subscriber> gone;
  auto it = std::stable_partition(st.subscribers.begin(), st.subscribers.end(),
                                  [&](const subscriber& s) { return !pred(s); });
  gone.assign(std::make_move_iterator(it), std::make_move_iterator(st.subscribers.end()));
  st.subscribers.erase(it, st.subscribers.end());
  for (auto& g : gone) {
    st.batch_sessions.push_back({g.session_id, st.doc->id(), st.config.node_id, {}, wall_ms(), false});
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

caf::error on_join(document_actor_type* self, join_request& req) {
  auto& st = self->state;
  auto& doc = *st.doc;
  ++st.joins_seen;
  auto role = auth::role_of(st.access.current(), req.user_id);
  if (!auth::can_view(role)) {
    maybe_idle(self);
    return to_caf(make_error(errc::forbidden, "you may not open document " + doc.id()));
  }
  remove_subscribers(self, [&](const subscriber& s) {
    return s.session_id == req.session_id && s.remote_node == req.remote_node;
  });
  self->monitor(req.gateway);
  wire::ServerMessage m;
  auto* snap = m.mutable_snapshot();
  snap->set_doc_id(doc.id());
  snap->set_policy(std::string{to_string(doc.policy())});
  fill_participants(st, snap);
  set_identity(snap->add_participants(), req.client_id, req.user_id, req.username);
  bool resume = req.known_rev > 0 && req.known_rev <= st.committed_rev && req.known_rev >= doc.oldest_base();
  if (resume) {
    // The client keeps its text; it gets every revision it missed, its own
    // as acks, exactly as if it had stayed connected.
    snap->set_rev(req.known_rev);
    snap->set_resumed(true);
    req.sink->send(m);
    for (auto r = req.known_rev + 1; r <= st.committed_rev; ++r) {
      auto& e = *doc.entry(r);
      bool own = e.client_id == req.client_id && e.user_id == req.user_id;
      if (own)
        req.sink->send(ack_message(doc.id(), e.client_seq, e.rev, e.ts));
      if (!own || req.echo)
        req.sink->send(applied_message(doc, e));
    }
  } else {
    // Only committed revisions: later ones reach the client as `applied`
    // once their batch commits.
    snap->set_rev(st.committed_rev);
    snap->set_text(doc.text_at(st.committed_rev));
    req.sink->send(m);
  }
  st.subscribers.push_back({req.session_id, req.client_id, req.user_id, req.username, role, req.echo, req.sink,
                            req.gateway, req.remote_node});
  if (!st.access_recheck_armed) {
    st.access_recheck_armed = true;
    self->delayed_send(self, st.config.access_recheck, recheck_atom::value);
  }
  st.batch_sessions.push_back({req.session_id, doc.id(), st.config.node_id,
                               req.user_id ? std::to_string(req.user_id) : std::string{}, wall_ms(), true});
  wire::Presence joined;
  joined.set_doc_id(doc.id());
  set_identity(&joined, req.client_id, req.user_id, req.username);
  announce(self, req.session_id, std::move(joined));
  flush(self);
  return {};
}

void on_edit(document_actor_type* self, edit_request& req) {
  auto& st = self->state;
  auto& doc = *st.doc;
  auto* author = find_session(st, req.remote_node, req.session_id);
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
  // The author is who joined, not whoever the sender says.
  req.client_id = author->client_id;
  req.user_id = author->user_id;
  if (!auth::can_edit(author->role))
    return reject(make_error(errc::forbidden, "you may view but not edit document " + doc.id()));
  if (st.moving)
    return reject(make_error(errc::fenced, "document " + doc.id() + " is moving to another node; join it again"));
  if (st.batch_notices.size() >= st.config.max_pending_edits)
    return reject(make_error(errc::storage_unavailable,
                             std::to_string(st.batch_notices.size())
                               + " edits are waiting for storage to commit; this one was not applied, retry later"));
  auto outcome = doc.submit(req, now_ms());
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
  pending_notice n;
  n.author_session = req.session_id;
  n.author_node = req.remote_node;
  n.author_client = req.client_id;
  n.client_seq = req.client_seq;
  n.rev = outcome->rev;
  n.received = std::chrono::steady_clock::now();
  if (!outcome->duplicate) {
    auto& e = *doc.entry(outcome->rev);
    n.ts = e.ts;
    n.applied = std::make_shared<wire::encoded_message>(applied_message(doc, e));
    n.conflicts = std::move(outcome->conflicts);
    st.batch_rows.push_back(
      {doc.id(), e.rev, wire::encode_stored(e.op), e.client_id, e.client_seq, e.ts, author->user_id, st.epoch});
  }
  // A duplicate is acked with the batch too, so never before the original
  // edit is durable.
  st.batch_notices.push_back(std::move(n));
  flush(self);
}

// Hands the document over: every session is told to join again (the
// registry routes that to the new owner, which resumes it from its known
// revision) and this actor stops; its commits are fenced from now on anyway.
// Tells every session why the document closes (their gateways forget the
// join; remote sessions' stand-ins do so on the error) and stops.
void close_with(document_actor_type* self, const error& why) {
  auto& st = self->state;
  // Joins waiting for the access read are answered too: a promise dropped
  // with the actor would leave its joiner waiting.
  for (auto& w : st.joins_waiting)
    w.promise.deliver(to_caf(why));
  st.joins_waiting.clear();
  auto msg = wire::make_error(why, st.doc->id());
  for (auto& sub : st.subscribers) {
    sub.sink->send(msg);
    if (sub.remote_node.empty())
      self->send(sub.gateway, drop_atom::value, st.doc->id());
  }
  st.subscribers.clear();
  self->quit();
}

void close_moved(document_actor_type* self) {
  auto& st = self->state;
  metrics::get().document_moves.Increment();
  log::info("document moved", {{"doc", st.doc->id()}, {"rev", std::to_string(st.committed_rev)}});
  close_with(self, make_error(errc::fenced, "document " + st.doc->id() + " moved to another node; join it again"));
}

void on_drop(document_actor_type* self) {
  close_with(self, make_error(errc::unknown_document, "document " + self->state.doc->id() + " was deleted"));
}

// Sessions keep their connection; what they may do follows the access
// list. Those who may no longer view are told and removed.
void enforce_access(document_actor_type* self) {
  auto& st = self->state;
  auto revoked = make_error(errc::forbidden, "your access to document " + st.doc->id() + " was revoked");
  for (auto& s : st.subscribers) {
    s.role = auth::role_of(st.access.current(), s.user_id);
    if (!auth::can_view(s.role)) {
      s.sink->send(wire::make_error(revoked, st.doc->id()));
      if (s.remote_node.empty())
        self->send(s.gateway, drop_atom::value, st.doc->id());
    }
  }
  remove_subscribers(self, [](const subscriber& s) { return !auth::can_view(s.role); });
}

void on_grant(document_actor_type* self, std::int64_t user_id, const std::string& role, std::uint64_t version) {
  if (self->state.access.hear(user_id, auth::parse_grant(role), version))
    enforce_access(self);
}

void admit_waiting(document_actor_type* self) {
  auto waiting = std::move(self->state.joins_waiting);
  self->state.joins_waiting.clear();
  for (auto& w : waiting) {
    if (auto err = on_join(self, w.request)) {
      w.promise.deliver(err);
      continue;
    }
    w.promise.deliver(caf::actor_cast<caf::actor>(self));
    for (auto& e : w.edits)
      on_edit(self, e);
  }
}

// Reads who may open the document, then admits the joins waiting for it.
// Storage down: the last known access stands (the joins still answer).
void refresh_access(document_actor_type* self) {
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
bool defer_edit(document_actor_type* self, edit_request& req) {
  auto& st = self->state;
  for (auto& w : st.joins_waiting) {
    if (w.request.session_id != req.session_id || w.request.remote_node != req.remote_node)
      continue;
    if (w.edits.size() < st.config.max_edits_before_join) {
      w.edits.push_back(std::move(req));
    } else if (w.request.sink) {
      w.request.sink->send(wire::make_error(
        make_error(errc::rate_limited, "too many edits before the join of " + st.doc->id() + " completed; resend"),
        st.doc->id(), req.client_seq));
    }
    return true;
  }
  return false;
}

} // namespace

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

caf::behavior document_actor(document_actor_type* self, std::shared_ptr<document> doc, std::string title,
                             auth::document_access access, std::uint64_t snapshot_rev, caf::actor store,
                             caf::actor registry, document_actor_config config) {
  auto& st = self->state;
  st.committed_rev = doc->rev();
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
  self->set_down_handler([self](caf::down_msg& dm) {
    drop_waiting_joins(self, [&](const join_request& r) {
      return r.remote_node.empty() && r.gateway.address() == dm.source;
    });
    remove_subscribers(self, [&](const subscriber& s) { return s.gateway.address() == dm.source; });
  });
  return {
    [=](join_atom, join_request& req) -> caf::result<caf::actor> {
      auto& s = self->state;
      if (self->clock().now() - s.access_read_at >= s.config.access_refresh || s.access_read_in_flight) {
        s.joins_waiting.push_back({self->make_response_promise(), std::move(req)});
        refresh_access(self);
        return caf::delegated<caf::actor>{};
      }
      if (auto err = on_join(self, req))
        return err;
      return caf::actor_cast<caf::actor>(self);
    },
    [=](edit_atom, edit_request& req) {
      if (!find_session(self->state, req.remote_node, req.session_id) && defer_edit(self, req))
        return;
      on_edit(self, req);
    },
    [=](presence_atom, const std::string& node, const std::string& session_id, std::uint32_t cursor,
        std::uint32_t anchor) {
      auto* s = find_session(self->state, node, session_id);
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
      drop_waiting_joins(self, [&](const join_request& r) {
        return r.session_id == session_id && r.remote_node.empty();
      });
      remove_subscribers(self,
                         [&](const subscriber& s) { return s.session_id == session_id && s.remote_node.empty(); });
    },
    [=](leave_atom, const std::string& node, const std::string& session_id) {
      drop_waiting_joins(self, [&](const join_request& r) {
        return r.session_id == session_id && r.remote_node == node;
      });
      remove_subscribers(self,
                         [&](const subscriber& s) { return s.session_id == session_id && s.remote_node == node; });
    },
    [=](get_atom, std::uint64_t rev) -> caf::result<document_view> {
      auto& s = self->state;
      if (rev == k_current_rev)
        rev = s.committed_rev;
      if (rev > s.committed_rev)
        return to_caf(make_error(errc::bad_rev, "revision " + std::to_string(rev) + " does not exist yet (rev "
                                                  + std::to_string(s.committed_rev) + ")"));
      if (rev < s.doc->oldest_base())
        return to_caf(make_error(errc::rev_too_old, "revision " + std::to_string(rev)
                                                      + " was compacted; history reaches back to rev "
                                                      + std::to_string(s.doc->oldest_base())));
      return document_view{s.doc->id(), s.title, s.doc->text_at(rev), rev, std::string{to_string(s.doc->policy())}};
    },
    [=](acl_atom, std::int64_t user_id, const std::string& role, std::uint64_t version) {
      on_grant(self, user_id, role, version);
    },
    [=](acl_atom) { refresh_access(self); }, // changes may have been lost on the bus
    [=](recheck_atom) {
      auto& s = self->state;
      s.access_recheck_armed = !s.subscribers.empty();
      if (!s.access_recheck_armed)
        return;
      refresh_access(self);
      self->delayed_send(self, s.config.access_recheck, recheck_atom::value);
    },
    [=](drop_atom) { on_drop(self); },
    [=](move_atom) {
      auto& s = self->state;
      s.moving = true;
      if (!s.commit_in_flight && s.batch_notices.empty())
        close_moved(self);
    },
    [=](gone_atom, const std::string& node) {
      drop_waiting_joins(self, [&](const join_request& r) { return r.remote_node == node; });
      remove_subscribers(self, [&](const subscriber& s) { return s.remote_node == node; });
    },
    [=](retry_atom) { flush(self); },
    [=](commit_watch_atom) { on_commit_watch(self); },
    [=](idle_atom, std::uint64_t generation) { on_idle(self, generation); },
  };
}

} // namespace stet
