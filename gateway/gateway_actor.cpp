#include "gateway/gateway_parts.hpp"

#include "actors/messages.hpp"
#include "core/ids.hpp"
#include "core/transform.hpp"
#include "core/utf8.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "metrics/tracing.hpp"

#include <caf/send.hpp>

#include <algorithm>
#include <chrono>
#include <limits>

namespace stet::gateway_session {

using wire::ClientMessage;

void send_error(gateway_actor_type* self, errc code, std::string message, std::string_view doc_id,
                std::uint64_t client_seq) {
  metrics::get().rejected(to_string(code));
  if (log::enabled(log::level::debug))
    log::debug("message rejected", {{"session", self->state.settings.session_id},
                                    {"doc", std::string{doc_id}},
                                    {"edit", client_seq ? self->state.client_id + "/" + std::to_string(client_seq) : ""},
                                    {"code", std::string{to_string(code)}},
                                    {"error", message}});
  self->state.sink->send(wire::make_error(error{code, std::move(message)}, doc_id, client_seq));
}

namespace {

const std::string& doc_id_of(const ClientMessage& m) {
  switch (m.body_case()) {
    case ClientMessage::kEdit: return m.edit().doc_id();
    case ClientMessage::kPresence: return m.presence().doc_id();
    case ClientMessage::kLeave: return m.leave().doc_id();
    default: return m.join().doc_id();
  }
}

// An edit refused for now ("resend it"): the session's later edits of that
// document wait for its resend (core/resend_gate.hpp). Only documents
// joined or being joined are tracked, so the gates are bounded by the joins.
void refuse_for_now(gateway_actor_type* self, errc code, std::string message, const std::string& doc_id,
                    std::uint64_t client_seq) {
  auto& st = self->state;
  auto join_waits_for_hello = [&] {
    return std::any_of(st.after_hello.begin(), st.after_hello.end(), [&](const ClientMessage& m) {
      return m.body_case() == ClientMessage::kJoin && m.join().doc_id() == doc_id;
    });
  };
  if (client_seq != 0 && (st.joined.count(doc_id) || st.joining.count(doc_id) || join_waits_for_hello()))
    st.held_back[doc_id].refused(client_seq);
  send_error(self, code, std::move(message), doc_id, client_seq);
}

// Whether the edit must wait for the resend of an earlier refused one
// (and is answered so).
bool held_back(gateway_actor_type* self, const wire::Edit& edit) {
  auto& gates = self->state.held_back;
  auto it = gates.find(edit.doc_id());
  if (it == gates.end())
    return false;
  if (!it->second.admits(edit.client_seq())) {
    auto err = out_of_order(edit.client_seq(), it->second.first_refused());
    send_error(self, err.code, std::move(err.message), edit.doc_id(), edit.client_seq());
    return true;
  }
  if (it->second.first_refused() == 0)
    gates.erase(it);
  return false;
}


void on_join(gateway_actor_type* self, const wire::Join& join) {
  auto& st = self->state;
  auto& id = join.doc_id();
  if (!valid_doc_id(id))
    return send_error(self, errc::invalid_argument,
                      "docId must be 1-128 characters of A-Z a-z 0-9 _ - . :", id);
  if (!st.session_joins->try_take()) {
    metrics::get().rate_limited("joins");
    return send_error(self, errc::rate_limited, "too many joins per second; join " + id + " again later", id);
  }
  if (st.joining.count(id))
    return send_error(self, errc::invalid_argument, "already joining " + id + "; wait for its snapshot", id);
  std::string policy = join.policy().empty() ? "lww" : join.policy();
  if (!parse_conflict_policy(policy))
    return send_error(self, errc::invalid_argument, "policy must be \"lww\" or \"merge\"", id);
  // Joining a joined document again starts over from the given known rev
  // (how clients resync after a gap or a move).
  if (auto it = st.joined.find(id); it != st.joined.end()) {
    self->send(it->second, leave_atom::value, st.settings.session_id);
    st.joined.erase(it);
  }
  if (st.joined.size() + st.joining.size() >= st.settings.limits.max_joins_per_session)
    return send_error(self, errc::invalid_argument,
                      "a session may join at most " + std::to_string(st.settings.limits.max_joins_per_session)
                        + " documents",
                      id);
  std::string scoped_role;
  if (st.scope) {
    auto granted = st.scope->role_for(id);
    if (granted == auth::role::none)
      return send_error(self, errc::forbidden, "your token does not grant document " + id, id);
    scoped_role = auth::to_string(granted);
  }
  // A join creates a document it does not find, for the creator's quota;
  // a token scoped to view only may not.
  std::string creator = st.user_id ? "user:" + std::to_string(st.user_id) : "ip:" + st.settings.client_ip;
  if (st.scope && !auth::can_edit(auth::parse_role(scoped_role)))
    creator.clear();
  // The client resends what it has unanswered after a join of its own.
  st.ledger->forget(id);
  st.terms[id] = {std::move(policy), join.echo(), std::move(creator), std::move(scoped_role), join.known_rev()};
  st.joining[id];
  request_join(self, id, join.known_rev(), join_kind::client, std::chrono::steady_clock::now() + k_join_window);
}

void on_edit(gateway_actor_type* self, const wire::Edit& edit, const document_api& doc, read_credit credit) {
  auto& st = self->state;
  if (static_cast<std::size_t>(edit.ops_size()) > st.settings.limits.max_ops_per_edit)
    return send_error(self, errc::too_many_ops,
                      "an edit may have at most " + std::to_string(st.settings.limits.max_ops_per_edit)
                        + " components",
                      edit.doc_id(), edit.client_seq());
  if (edit.has_comment())
    return send_error(self, errc::invalid_argument,
                      "comments are changed over REST (POST /api/documents/{id}/comments) and heard here as applied",
                      edit.doc_id(), edit.client_seq());
  if (held_back(self, edit))
    return;
  if (!st.session_edits->try_take()
      || (st.user_id != 0 && !st.settings.user_edits->try_take(std::to_string(st.user_id)))) {
    metrics::get().rate_limited("edits");
    return refuse_for_now(self, errc::rate_limited, "too many edits per second; resend this one later",
                          edit.doc_id(), edit.client_seq());
  }
  auto op = wire::to_operation(edit.ops());
  if (!op)
    return send_error(self, op.error().code, op.error().message, edit.doc_id(), edit.client_seq());
  if (edit.client_seq() == 0)
    return send_error(self, errc::invalid_argument, "clientSeq must be at least 1", edit.doc_id());
  // Stored as a signed 64-bit integer by both backends.
  if (edit.client_seq() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return send_error(self, errc::invalid_argument, "clientSeq must be below 2^63", edit.doc_id(), edit.client_seq());
  edit_request req{{st.client_id, st.user_id, edit.client_seq(), edit.base_rev(), std::move(*op)},
                   st.settings.session_id, edit.client_ts(), {}, std::move(credit)};
  if (log::enabled(log::level::debug))
    log::debug("edit received", {{"session", st.settings.session_id},
                                 {"doc", edit.doc_id()},
                                 {"edit", req.id()},
                                 {"base_rev", std::to_string(edit.base_rev())}});
  // A traced edit: its receive span here, and the owner's spans under it.
  auto received = tracing::start(edit.traceparent(), "stet.receive");
  if (received && !tracing::take_budget())
    received.reset();
  if (received) {
    received->kind = 2; // the node the client sent it to: a server span

    req.traceparent = received->with("stet.doc", edit.doc_id())
                        .with("stet.client_seq", std::to_string(edit.client_seq()))
                        .traceparent();
  }
  auto& terms = st.terms[edit.doc_id()];
  req.chained = true;
  req.prev_seq = std::exchange(terms.last_forwarded, req.client_seq);
  if (!st.ledger->hold(edit.doc_id(), req))
    return refuse_for_now(self, errc::rate_limited,
                          "too many edits of " + edit.doc_id() + " wait for an answer; resend this one later",
                          edit.doc_id(), edit.client_seq());
  self->send(doc, edit_atom::value, std::move(req));
  if (received)
    tracing::finish(std::move(*received));
}

} // namespace

void on_message(gateway_actor_type* self, ClientMessage& m, read_credit credit) {
  auto& st = self->state;
  if (st.hello_pending && m.body_case() != ClientMessage::kPing) {
    if (st.after_hello.size() < st.settings.limits.max_messages_while_joining)
      st.after_hello.push_back(std::move(m));
    else
      refuse_for_now(self, errc::rate_limited, "too many messages before the hello was answered; resend",
                     doc_id_of(m), m.body_case() == ClientMessage::kEdit ? m.edit().client_seq() : 0);
    return;
  }
  if (st.token_expired && m.body_case() != ClientMessage::kHello && m.body_case() != ClientMessage::kPing)
    return refuse_for_now(self, errc::token_expired,
                          "the session's token expired or was revoked; send hello with a fresh token", doc_id_of(m),
                          m.body_case() == ClientMessage::kEdit ? m.edit().client_seq() : 0);
  switch (m.body_case()) {
    case ClientMessage::kHello: return on_hello(self, m.hello());
    case ClientMessage::kPing: {
      wire::ServerMessage pong;
      pong.mutable_pong()->set_nonce(m.ping().nonce());
      using namespace std::chrono;
      pong.mutable_pong()->set_server_ts(
        static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()));
      st.sink->send(pong);
      return;
    }
    default: break;
  }
  if (st.user_id == 0 && !st.settings.allow_anonymous) {
    metrics::get().auth_failure("no_token");
    return send_error(self, errc::unauthorized, "send hello with a token first (POST /api/login gives one)",
                      doc_id_of(m));
  }
  // join, edit, presence, leave need a document; all but join a joined one.
  if (m.body_case() == ClientMessage::kJoin) {
    // A join of a document this node is re-attaching follows the re-attach
    // (the client asks for its snapshot: it gets it then).
    if (auto t = st.terms.find(m.join().doc_id());
        t != st.terms.end() && t->second.reattaching && st.joining.count(m.join().doc_id())) {
      auto& queue = st.joining[m.join().doc_id()];
      if (queue.size() < st.settings.limits.max_messages_while_joining)
        queue.push_back(std::move(m));
      else
        send_error(self, errc::rate_limited, "join " + m.join().doc_id() + " again in a moment", m.join().doc_id());
      return;
    }
    on_join(self, m.join());
    // A join refused at once leaves no gate behind: they stay bounded by the joins.
    auto& doc = m.join().doc_id();
    if (!st.joined.count(doc) && !st.joining.count(doc))
      st.held_back.erase(doc);
    return;
  }
  auto& id = doc_id_of(m);
  if (auto it = st.joining.find(id); it != st.joining.end()) {
    if (it->second.size() >= st.settings.limits.max_messages_while_joining) {
      auto seq = m.body_case() == ClientMessage::kEdit ? m.edit().client_seq() : 0;
      return refuse_for_now(self, errc::rate_limited, "too many messages for " + id + " before its snapshot; resend",
                            id, seq);
    }
    it->second.push_back(std::move(m));
    return;
  }
  auto it = st.joined.find(id);
  if (it == st.joined.end()) {
    auto seq = m.body_case() == ClientMessage::kEdit ? m.edit().client_seq() : 0;
    return send_error(self, errc::not_joined, "join " + (id.empty() ? std::string{"the document"} : id) + " first",
                      id, seq);
  }
  switch (m.body_case()) {
    case ClientMessage::kEdit: return on_edit(self, m.edit(), it->second, std::move(credit));
    case ClientMessage::kPresence:
      self->send(it->second, presence_atom::value, std::string{}, st.settings.session_id, m.presence().cursor(),
                 m.presence().anchor());
      return;
    case ClientMessage::kLeave:
      self->send(it->second, leave_atom::value, st.settings.session_id);
      st.joined.erase(it);
      forget_document(self, id);
      return;
    default: return;
  }
}

} // namespace stet::gateway_session

namespace stet {

using namespace gateway_session;

caf::behavior gateway_actor(gateway_actor_type* self, session_sink_ptr sink, registry_api registry,
                            gateway_settings settings) {
  auto& st = self->state;
  st.sink = std::make_shared<tracked_sink>(std::move(sink), st.ledger);
  st.registry = std::move(registry);
  st.settings = std::move(settings);
  // Until hello names one: random, since session ids are counters anyone
  // could guess and claim.
  st.client_id = "c-" + auth::random_hex(8);
  auto rate = st.settings.limits.edits_per_second_per_session;
  st.session_edits.emplace(rate, 2 * rate);
  auto joins = st.settings.limits.joins_per_second_per_session;
  st.session_joins.emplace(joins, 2 * joins);
  return {
    [=](frame_atom, const std::string& payload, bool binary, read_credit& credit) {
      auto msg = wire::decode_client(payload, binary ? wire::frame_format::binary : wire::frame_format::json);
      if (!msg)
        return send_error(self, msg.error().code, msg.error().message);
      on_message(self, *msg, std::move(credit));
    },
    [=](drop_atom, const std::string& doc_id) {
      // The document was deleted or our access revoked: it is not joined any more.
      self->state.joined.erase(doc_id);
      forget_document(self, doc_id);
    },
    [=](moved_atom, const std::string& doc_id, std::uint64_t rev) { on_moved(self, doc_id, rev); },
    [=](rejoin_atom, const std::string& doc_id, std::uint64_t rev, std::uint8_t kind, std::int64_t deadline,
        std::uint32_t attempt) {
      using clock = std::chrono::steady_clock;
      request_join(self, doc_id, rev, static_cast<join_kind>(kind), clock::time_point{clock::duration{deadline}},
                   attempt);
    },
    [=](token_atom, std::int64_t epoch) {
      auto& s = self->state;
      if (s.user_id != 0 && !s.token_expired && epoch > s.token_epoch)
        expire_token(self, "your tokens were revoked (logout, a new password or a deleted account)");
    },
    [=](expiry_atom, std::uint64_t generation) {
      auto& s = self->state;
      if (generation == s.token_generation && s.user_id != 0 && !s.token_expired)
        expire_token(self, "your token expired");
    },
    [=](closed_atom) {
      if (self->state.user_id != 0 && self->state.settings.epochs && !self->state.external)
        self->state.settings.epochs->detach(self->state.user_id, caf::actor_cast<caf::actor>(self));
      for (auto& [id, doc] : self->state.joined)
        self->send(doc, leave_atom::value, self->state.settings.session_id);
      self->state.joined.clear();
      self->state.sink.reset();
      self->quit();
    },
  };
}

} // namespace stet
