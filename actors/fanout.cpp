#include "actors/fanout.hpp"

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "metrics/tracing.hpp"
#include "proto/comment_codec.hpp"

namespace stet {

wire::ServerMessage ack_message(const std::string& doc_id, std::uint64_t client_seq, std::uint64_t rev,
                                std::uint64_t ts) {
  wire::ServerMessage m;
  auto* a = m.mutable_ack();
  a->set_doc_id(doc_id);
  a->set_client_seq(client_seq);
  a->set_rev(rev);
  if (ts)
    a->set_ts(ts);
  return m;
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
  if (e.comment)
    wire::to_wire(*e.comment, a->mutable_comment());
  return m;
}

void fanout::welcome(const join_request& req, const document& doc, std::uint64_t committed_rev) {
  wire::ServerMessage m;
  auto* snap = m.mutable_snapshot();
  snap->set_doc_id(doc.id());
  snap->set_policy(std::string{to_string(doc.policy())});
  for (auto& s : subscribers_)
    set_identity(snap->add_participants(), s.client_id, s.user_id, s.username);
  set_identity(snap->add_participants(), req.client_id, req.user_id, req.username);
  // A re-attached session may resume from revision 0 (an empty document).
  bool resume = (req.known_rev > 0 || req.quiet) && req.known_rev <= committed_rev
                && req.known_rev >= doc.oldest_base();
  if (!resume) {
    // Only committed revisions: later ones reach the client as `applied`
    // once their write commits.
    snap->set_rev(committed_rev);
    snap->set_text(doc.text_at(committed_rev));
    // The threads of the committed revision: the document marks every
    // committed revision durable before anyone hears of it.
    for (auto& [id, t] : doc.durable_comments().threads())
      wire::to_wire(t, snap->add_comments());
    req.sink->send(m);
    return;
  }
  // The client keeps its text; it gets every revision it missed, its own
  // as acks, exactly as if it had stayed connected.
  snap->set_rev(req.known_rev);
  snap->set_resumed(true);
  // A stand-in needs it to know where the session resumes; it keeps it
  // from the client of a quiet join.
  if (!req.quiet || !req.remote_node.empty())
    req.sink->send(m);
  for (auto r = req.known_rev + 1; r <= committed_rev; ++r) {
    auto& e = *doc.entry(r);
    bool own = e.client_id == req.client_id && e.user_id == req.user_id;
    if (own)
      req.sink->send(ack_message(doc.id(), e.client_seq, e.rev, e.ts));
    if (!own || req.echo)
      req.sink->send(applied_message(doc, e));
  }
}

subscriber* fanout::find(const std::string& node, const std::string& session_id) {
  for (auto& s : subscribers_)
    if (s.session_id == session_id && s.remote_node == node)
      return &s;
  return nullptr;
}

void fanout::deliver(const std::vector<pending_notice>& notices) {
  auto now = std::chrono::steady_clock::now();
  std::int64_t committed_ns = 0; // read once, and only for a traced edit
  std::vector<tracing::span> spans;
  std::vector<std::vector<std::shared_ptr<const std::string>>> out(subscribers_.size());
  wire::DocBroadcasts to_other_nodes;
  auto index_of = [&](const subscriber* s) { return static_cast<std::size_t>(s - subscribers_.data()); };
  for (auto& n : notices) {
    auto latency = std::chrono::duration<double>(now - n.received).count();
    metrics::get().edit_latency_seconds.Observe(latency);
    if (log::enabled(log::level::debug))
      log::debug("edit committed", {{"doc", doc_id_},
                                    {"edit", n.author_client + "/" + std::to_string(n.client_seq)},
                                    {"rev", std::to_string(n.rev)},
                                    {"latency_us", std::to_string(static_cast<long>(latency * 1e6))}});
    std::optional<tracing::span> fanned;
    if (!n.traceparent.empty()) {
      if (committed_ns == 0)
        committed_ns = tracing::unix_now_ns();
      if (auto c = tracing::start(n.traceparent, "stet.commit", n.staged_unix_ns)) {
        c->with("stet.doc", doc_id_).with("stet.rev", std::to_string(n.rev));
        tracing::finish(std::move(*c), committed_ns);
      }
      fanned = tracing::start(n.traceparent, "stet.fanout", committed_ns);
    }
    auto* author = find(n.author_node, n.author_session);
    if (author)
      author->sink->answered(doc_id_, n.client_seq);
    if (author)
      out[index_of(author)].push_back(std::make_shared<const std::string>(
        wire::encode(ack_message(doc_id_, n.client_seq, n.rev, n.ts), author->sink->format())));
    if (n.applied) {
      std::size_t receivers = 0;
      bool remote = false;
      for (auto& s : subscribers_) {
        if (!s.remote_node.empty()) {
          remote = true;
          continue;
        }
        if (&s != author || s.echo) {
          out[index_of(&s)].push_back(n.applied->get(s.sink->format()));
          ++receivers;
        }
      }
      if (remote && bus_) {
        auto* b = to_other_nodes.add_edits();
        b->set_rev(n.rev);
        b->set_applied(*n.applied->get(wire::frame_format::binary));
        b->set_author_session(n.author_session);
        if (!n.author_node.empty())
          b->set_author_node(n.author_node);
        if (fanned)
          b->set_traceparent(fanned->traceparent());
      }
      if (fanned)
        fanned->with("stet.doc", doc_id_)
          .with("stet.rev", std::to_string(n.rev))
          .with("stet.sessions", std::to_string(receivers))
          .with("stet.other_nodes", remote ? "true" : "false");
      metrics::get().fanout_sessions.Observe(static_cast<double>(receivers));
    }
    if (fanned)
      spans.push_back(std::move(*fanned));
    for (auto& c : n.conflicts) {
      wire::ServerMessage m;
      auto* cm = m.mutable_conflict();
      cm->set_doc_id(doc_id_);
      cm->set_client_seq(c.client_seq);
      cm->set_rev(n.rev);
      cm->set_dropped(c.dropped);
      cm->set_restored(c.restored);
      wire::encoded_message enc{m};
      for (auto& s : subscribers_)
        if (s.client_id == c.client_id && s.user_id == c.user_id)
          out[index_of(&s)].push_back(enc.get(s.sink->format()));
    }
  }
  // Other nodes' sessions: once per commit, on the document's channel.
  if (to_other_nodes.edits_size() > 0) {
    wire::BusEnvelope env;
    env.set_from_node(bus_->node_id());
    env.set_doc_id(doc_id_);
    if (to_other_nodes.edits_size() == 1)
      env.mutable_broadcast()->Swap(to_other_nodes.mutable_edits(0));
    else
      env.mutable_broadcasts()->Swap(&to_other_nodes);
    bus_->publish(cluster_bus::doc_channel(doc_id_), env.SerializeAsString());
  }
  for (std::size_t i = 0; i < out.size(); ++i)
    if (!out[i].empty())
      subscribers_[i].sink->send(std::move(out[i]));
  for (auto& s : spans)
    tracing::finish(std::move(s));
}

void fanout::presence(std::vector<presence_batch::change> changes) {
  std::vector<wire::encoded_message> encoded;
  encoded.reserve(changes.size());
  for (auto& c : changes) {
    wire::ServerMessage m;
    *m.mutable_presence() = std::move(c.presence);
    encoded.emplace_back(std::move(m));
  }
  for (auto& s : subscribers_) {
    std::vector<std::shared_ptr<const std::string>> frames;
    for (std::size_t i = 0; i < changes.size(); ++i)
      if (changes[i].origin_session != s.session_id)
        frames.push_back(encoded[i].get(s.sink->format()));
    if (!frames.empty())
      s.sink->send(std::move(frames));
  }
}

} // namespace stet
