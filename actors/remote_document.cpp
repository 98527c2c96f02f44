#include "actors/remote_document.hpp"

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "metrics/tracing.hpp"
#include "proto/comment_codec.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace stet {

namespace {

// Where a re-attached session resumes: what it was sent, or nowhere yet
// (a client still waiting for its snapshot gets one).
std::uint64_t resume_from(const remote_document_state::local_session& s) {
  return s.synced || s.quiet ? s.rev : k_unsynced;
}

void publish_to_owner(remote_document_self self, wire::BusEnvelope& env) {
  auto& st = self->state;
  env.set_from_node(st.bus->node_id());
  env.set_doc_id(st.doc_id);
  st.bus->publish(cluster_bus::node_channel(st.owner), env.SerializeAsString());
}

// The channels the owner sends on: the document's broadcasts and, where the
// bus keeps them apart from this node's channel, the frames for its sessions.
std::vector<std::string> owner_channels(const remote_document_state& st) {
  std::vector<std::string> out{cluster_bus::doc_channel(st.doc_id)};
  auto relay = st.bus->relay_channel(st.bus->node_id(), st.doc_id);
  if (relay != cluster_bus::node_channel(st.bus->node_id()))
    out.push_back(std::move(relay));
  return out;
}

void stop_listening(remote_document_state& st) {
  for (auto& c : owner_channels(st))
    st.bus->unsubscribe(c);
}

// Every session is re-attached by its node (through the registry, which
// knows the owner now), from the last revision it was sent; its unanswered
// edits go again to whoever owns the document then. Joins still waiting for
// the subscription fail; their gateways retry. The stand-in stops.
void reattach_all(remote_document_self self, const std::string& why) {
  auto& st = self->state;
  log::info("re-attaching sessions", {{"doc", st.doc_id}, {"owner", st.owner}, {"why", why},
                                      {"sessions", std::to_string(st.sessions.size())}});
  for (auto& [id, s] : st.sessions) {
    self->send(s.gateway, moved_atom::value, st.doc_id, resume_from(s));
    // The owner may still answer this join late: it must not keep a
    // second subscriber for the session.
    wire::BusEnvelope env;
    env.mutable_leave()->set_session_id(id);
    publish_to_owner(self, env);
  }
  st.sessions.clear();
  for (auto& [rp, req] : st.waiting)
    rp.deliver(to_caf(make_error(errc::fenced, "document " + st.doc_id + " " + why)));
  st.waiting.clear();
  stop_listening(st);
  self->quit();
}

// One session missed what the others did not: its node re-attaches it from
// the revision it was sent; the owner forgets it here.
void reattach_one(remote_document_self self, const std::string& session_id, const std::string& why) {
  auto& st = self->state;
  auto it = st.sessions.find(session_id);
  if (it == st.sessions.end())
    return;
  log::info("re-attaching a session", {{"doc", st.doc_id}, {"owner", st.owner}, {"why", why}});
  self->send(it->second.gateway, moved_atom::value, st.doc_id, resume_from(it->second));
  st.sessions.erase(it);
  wire::BusEnvelope env;
  env.mutable_leave()->set_session_id(session_id);
  publish_to_owner(self, env);
  if (st.sessions.empty() && st.waiting.empty()) {
    stop_listening(st);
    self->quit();
  }
}

// Checks that the owner answers: a join without its first frame, or an
// edit without its answer, after k_relay_*_timeout means the owner is gone
// or no longer serves the document (its node died before the membership
// noticed, or it was fenced): the sessions are re-attached, which routes
// them to whoever the membership names now.
void watch_owner(remote_document_self self) {
  auto& st = self->state;
  auto now = self->clock().now();
  bool late = false;
  for (auto& [id, s] : st.sessions) {
    late = late || (!s.answered_once && now - s.joined_at >= k_relay_join_timeout);
    late = late || (!s.unanswered.empty() && now - s.unanswered.begin()->second.sent >= k_relay_edit_timeout);
  }
  late = late || (!st.waiting.empty() && now - st.created_at >= k_relay_join_timeout);
  if (late) {
    metrics::get().relay_timeouts.Increment();
    return reattach_all(self, "got no answer from node " + st.owner);
  }
  self->delayed_send(self, std::chrono::seconds(1), relay_watch_atom::value);
}

void send_join(remote_document_self self, const join_request& req) {
  wire::BusEnvelope env;
  auto* j = env.mutable_join();
  j->set_session_id(req.session_id);
  j->set_client_id(req.client_id);
  j->set_user_id(req.user_id);
  if (!req.username.empty())
    j->set_username(req.username);
  j->set_creator(req.creator);
  j->set_known_rev(req.known_rev);
  j->set_echo(req.echo);
  j->set_policy(req.policy);
  if (!req.scoped_role.empty())
    j->set_scoped_role(req.scoped_role);
  if (req.quiet)
    j->set_quiet(true);
  publish_to_owner(self, env);
}

void add_session(remote_document_self self, join_request& req) {
  auto& st = self->state;
  self->monitor(req.gateway);
  auto& s = st.sessions[req.session_id];
  s = {req.client_id, req.echo, req.quiet, req.sink, req.gateway};
  s.rev = req.known_rev; // what the client has, should it move again before its snapshot
  s.joined_at = self->clock().now();
  send_join(self, req);
}

void leave(remote_document_self self, const std::string& session_id) {
  auto& st = self->state;
  if (!st.sessions.erase(session_id))
    return;
  wire::BusEnvelope env;
  env.mutable_leave()->set_session_id(session_id);
  publish_to_owner(self, env);
  if (st.sessions.empty() && st.waiting.empty()) {
    stop_listening(st);
    self->quit(); // the registry sees it go down
  }
}

// Messages from the owner for one local session, in order: one hand-over.
void on_frames(remote_document_self self, const std::string& session_id,
               const std::vector<const std::string*>& messages) {
  auto& st = self->state;
  auto it = st.sessions.find(session_id);
  if (it == st.sessions.end())
    return;
  auto& s = it->second;
  std::vector<std::shared_ptr<const std::string>> out;
  bool dropped = false;
  bool moved = false;
  bool gap = false;
  s.answered_once = true;
  for (auto* bytes : messages) {
    wire::ServerMessage m;
    if (!m.ParseFromString(*bytes))
      continue;
    // An empty message says the owner admitted the join (cluster_router).
    if (m.body_case() == wire::ServerMessage::BODY_NOT_SET)
      continue;
    // An ack does not count: an echo session still wants its own edit's
    // broadcast, and a non-echo author's is skipped by author below.
    if (m.has_snapshot()) {
      // A resumed snapshot for a session that has its text (re-attached,
      // or answered twice when a join was retried) only says where the
      // owner resumes: the client keeps going, never back.
      bool keep = m.snapshot().resumed() && (s.quiet || s.synced);
      s.quiet = false;
      s.synced = true;
      if (keep)
        continue;
      s.rev = m.snapshot().rev();
    } else if (m.has_applied()) {
      // Sent for an earlier join of this session and delayed on the way: the
      // client has it.
      if ((s.synced || s.quiet) && m.applied().rev() <= s.rev)
        continue;
      if (s.synced && m.applied().rev() > s.rev + 1) {
        gap = true; // frames lost while its channel moved: resync, never a gap to the client
        break;
      }
      s.rev = std::max(s.rev, m.applied().rev());
    }
    // Acks come in the session's order: one answers every edit before it.
    if (m.has_ack()) {
      // A session that does not see its own edits gets only the ack for
      // them, also when it catches up: that revision is not missing.
      if (!s.echo && (s.synced || s.quiet) && m.ack().rev() == s.rev + 1)
        s.rev = m.ack().rev();
      s.unanswered.erase(s.unanswered.begin(), s.unanswered.upper_bound(m.ack().client_seq()));
      s.sink->answered(st.doc_id, m.ack().client_seq());
    } else if (m.has_error() && m.error().client_seq() != 0) {
      s.unanswered.erase(m.error().client_seq());
      s.sink->answered(st.doc_id, m.error().client_seq());
    }
    // The owner cannot serve the session any more (the document moved, its
    // lease was taken, its storage failed): its node re-attaches it, and
    // the client hears nothing of it.
    if (m.has_error() && m.error().client_seq() == 0
        && (m.error().code() == "fenced" || m.error().code() == "storage_unavailable"
            || m.error().code() == "overloaded" || m.error().code() == "internal")) {
      moved = true;
      break;
    }
    out.push_back(std::make_shared<const std::string>(wire::encode(m, s.sink->format())));
    // The owner refused or dropped this session: it is not joined any more.
    dropped = dropped
              || (m.has_error() && (m.error().code() == "unknown_document" || m.error().code() == "forbidden")
                  && m.error().client_seq() == 0);
  }
  if (!out.empty())
    s.sink->send(std::move(out));
  if (gap)
    return reattach_one(self, session_id, "missed revisions");
  if (moved) {
    self->send(s.gateway, moved_atom::value, st.doc_id, resume_from(s));
    st.sessions.erase(it);
  } else if (dropped) {
    self->send(s.gateway, drop_atom::value, st.doc_id);
    st.sessions.erase(it);
  }
  if (st.sessions.empty() && st.waiting.empty()) {
    stop_listening(st);
    self->quit();
  }
}

// A commit's applied edits, in rev order: each local session gets the ones
// it has not seen, in one hand-over.
void on_broadcasts(remote_document_self self, const std::vector<const wire::DocBroadcast*>& edits) {
  auto& st = self->state;
  std::map<std::string, std::vector<std::shared_ptr<const std::string>>> out;
  std::set<std::string> behind;
  std::vector<tracing::span> spans;
  for (auto* b : edits) {
    if (b->has_traceparent())
      if (auto s = tracing::start(b->traceparent(), "stet.fanout"))
        spans.push_back(std::move(s->with("stet.doc", st.doc_id).with("stet.rev", std::to_string(b->rev()))));
    if (st.last_broadcast != 0 && b->rev() > st.last_broadcast + 1) {
      log::warn("revision gap on the bus; resyncing", {{"doc", st.doc_id},
                                                       {"have", std::to_string(st.last_broadcast)},
                                                       {"got", std::to_string(b->rev())}});
      return reattach_all(self, "missed revisions");
    }
    st.last_broadcast = std::max(st.last_broadcast, b->rev());
    if (log::enabled(log::level::debug))
      log::debug("edit relayed", {{"doc", st.doc_id}, {"rev", std::to_string(b->rev())}, {"owner", st.owner}});
    std::optional<wire::encoded_message> shared;
    for (auto& [id, s] : st.sessions) {
      if (!s.synced || b->rev() <= s.rev || behind.count(id))
        continue;
      // This session missed revisions the stand-in did not (frames for it
      // lost while its channel moved between shards): never a gap to the
      // client; it resyncs from what it has.
      if (b->rev() > s.rev + 1) {
        behind.insert(id);
        continue;
      }
      s.rev = b->rev();
      if (id == b->author_session() && b->author_node() == st.bus->node_id() && !s.echo)
        continue;
      if (!shared) {
        wire::ServerMessage m;
        if (!m.ParseFromString(b->applied()))
          break;
        shared.emplace(std::move(m));
      }
      out[id].push_back(shared->get(s.sink->format()));
    }
  }
  for (auto& [id, frames] : out)
    st.sessions[id].sink->send(std::move(frames));
  for (auto& s : spans)
    tracing::finish(std::move(s.with("stet.sessions", std::to_string(out.size()))));
  for (auto& id : behind)
    reattach_one(self, id, "missed revisions");
}

} // namespace

remote_document_api::behavior_type remote_document(remote_document_self self, std::string doc_id, std::string owner,
                                                   std::shared_ptr<cluster_bus> bus) {
  auto& st = self->state;
  st.doc_id = std::move(doc_id);
  st.owner = std::move(owner);
  st.bus = std::move(bus);
  st.created_at = self->clock().now();
  st.made_ns = steady_now_ns();
  self->delayed_send(self, std::chrono::seconds(1), relay_watch_atom::value);
  // Subscribe before the first join goes out: no applied edit can slip by.
  auto channels = owner_channels(st);
  auto due = std::make_shared<std::atomic<std::size_t>>(channels.size());
  for (auto& c : channels)
    st.bus->subscribe(c, [self = caf::actor_cast<remote_document_api>(self), due] {
      if (--*due == 0)
        caf::anon_send(self, subscribed_atom::value);
    });
  self->set_down_handler([self](caf::down_msg& dm) {
    std::vector<std::string> gone;
    for (auto& [id, s] : self->state.sessions)
      if (s.gateway.address() == dm.source)
        gone.push_back(id);
    for (auto& id : gone)
      leave(self, id);
  });
  return {
    [=](join_atom, join_request& req) -> caf::result<joined> {
      auto& s = self->state;
      if (!s.subscribed) {
        auto rp = self->make_response_promise<joined>();
        s.waiting.emplace_back(rp, std::move(req));
        return rp;
      }
      add_session(self, req);
      return joined{caf::actor_cast<document_api>(self)};
    },
    [=](subscribed_atom) {
      auto& s = self->state;
      s.subscribed = true;
      auto waiting = std::move(s.waiting);
      s.waiting.clear();
      for (auto& [rp, req] : waiting) {
        add_session(self, req);
        rp.deliver(joined{caf::actor_cast<document_api>(self)});
      }
    },
    [=](edit_atom, edit_request& req) {
      wire::BusEnvelope env;
      auto* e = env.mutable_edit();
      e->set_session_id(req.session_id);
      e->set_client_id(req.client_id);
      e->set_client_seq(req.client_seq);
      e->set_base_rev(req.base_rev);
      e->set_client_ts(req.client_ts);
      if (req.chained)
        e->set_prev_seq(req.prev_seq);
      wire::to_wire(req.op, e->mutable_ops(), false);
      if (req.comment)
        wire::to_wire(*req.comment, e->mutable_comment());
      if (!req.traceparent.empty())
        e->set_traceparent(req.traceparent);
      if (log::enabled(log::level::debug))
        log::debug("edit forwarded", {{"doc", self->state.doc_id},
                                      {"edit", req.id()},
                                      {"session", req.session_id},
                                      {"owner", self->state.owner}});
      publish_to_owner(self, env);
      if (auto it = self->state.sessions.find(req.session_id); it != self->state.sessions.end())
        it->second.unanswered[req.client_seq] = {std::move(req.credit), self->clock().now()};
    },
    [=](presence_atom, const std::string&, const std::string& session_id, std::uint32_t cursor,
        std::uint32_t anchor) {
      wire::BusEnvelope env;
      auto* p = env.mutable_presence();
      p->set_session_id(session_id);
      p->set_cursor(cursor);
      p->set_anchor(anchor);
      publish_to_owner(self, env);
    },
    [=](leave_atom, const std::string& session_id) { leave(self, session_id); },
    [=](bus_atom, const wire::BusEnvelope& env) {
      // Only the owner this stand-in relays to speaks for the document: a
      // node that briefly thinks it owns it too cannot interleave its own
      // history into this one.
      if (env.from_node() != self->state.owner)
        return;
      if (env.has_frame()) {
        on_frames(self, env.frame().session_id(), {&env.frame().message()});
      } else if (env.has_frames()) {
        std::vector<const std::string*> messages;
        for (auto& m : env.frames().messages())
          messages.push_back(&m);
        on_frames(self, env.frames().session_id(), messages);
      } else if (env.has_broadcast()) {
        on_broadcasts(self, {&env.broadcast()});
      } else if (env.has_broadcasts()) {
        std::vector<const wire::DocBroadcast*> edits;
        for (auto& e : env.broadcasts().edits())
          edits.push_back(&e);
        on_broadcasts(self, edits);
      }
    },
    [=](move_atom) { reattach_all(self, "moved to another node"); },
    [=](lost_atom, std::int64_t at) {
      if (self->state.made_ns < at)
        reattach_all(self, "messages to node " + self->state.owner + " were lost on the bus");
    },
    [=](relay_watch_atom) { watch_owner(self); },
  };
}

} // namespace stet
