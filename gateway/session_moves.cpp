// Joining a document, and joining it again after it moved, for one session:
// the client sees a pause, never a request to rejoin. A move (a membership
// change, a node that died or was fenced, storage that failed) reaches the
// gateway as moved_atom with the last revision the session was sent; the
// gateway asks the registry (which knows the owner now) to join it from
// there, quietly, and sends again the edits nobody answered (the ledger).

#include "gateway/gateway_parts.hpp"

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <algorithm>

namespace stet::gateway_session {

namespace {

using clock = std::chrono::steady_clock;

/// One attempt: longer than a relayed join's own limit on a live owner.
constexpr auto k_join_attempt = std::chrono::seconds(10);

bool curable(errc code) {
  return code == errc::fenced || code == errc::storage_unavailable || code == errc::overloaded
         || code == errc::internal;
}

void on_joined(gateway_actor_type* self, const std::string& id, const document_api& doc, join_kind kind) {
  auto& s = self->state;
  auto queued = std::move(s.joining[id]);
  s.joining.erase(id);
  if (s.token_expired || !s.terms.count(id)) { // the join does not stand
    self->send(doc, leave_atom::value, s.settings.session_id);
    forget_document(self, id);
    return;
  }
  s.joined[id] = doc;
  auto& terms = s.terms[id];
  terms.reattaching = false;
  terms.last_forwarded = 0; // a new subscriber at the owner: the chain starts again
  if (kind != join_kind::client) {
    // In order, before anything the client sent meanwhile; what the new
    // owner already has is answered as a duplicate.
    for (auto& e : s.ledger->unanswered(id)) {
      e.chained = true;
      e.prev_seq = std::exchange(terms.last_forwarded, e.client_seq);
      self->send(doc, edit_atom::value, std::move(e));
    }
    metrics::get().sessions_reattached.Increment();
  }
  for (auto& m : queued)
    on_message(self, m);
}

void give_up(gateway_actor_type* self, const std::string& id, const error& e, join_kind kind) {
  auto& s = self->state;
  bool quiet = kind != join_kind::client;
  forget_document(self, id);
  log::warn(quiet ? "re-attach failed" : "join failed",
            {{"session", s.settings.session_id}, {"doc", id}, {"error", describe(e)}});
  if (quiet && e.code != errc::forbidden && e.code != errc::unknown_document) {
    metrics::get().reattach_failures.Increment();
    // Clients of every version know this one: join again, resend.
    return send_error(self, errc::fenced, "document " + id + " moved and could not be reached (" + e.message
                                            + "); join it again",
                      id);
  }
  send_error(self, e.code == errc::internal || e.code == errc::overloaded ? errc::storage_unavailable : e.code,
             "cannot open " + id + ": " + e.message, id);
}

} // namespace

void forget_document(gateway_actor_type* self, const std::string& doc_id) {
  auto& s = self->state;
  s.joining.erase(doc_id);
  s.held_back.erase(doc_id);
  s.terms.erase(doc_id);
  s.ledger->forget(doc_id);
}

void request_join(gateway_actor_type* self, const std::string& id, std::uint64_t known_rev, join_kind kind,
                  clock::time_point deadline, std::uint32_t attempt) {
  auto& st = self->state;
  auto t = st.terms.find(id);
  if (t == st.terms.end() || !st.joining.count(id))
    return; // left, or its token expired, while the join waited
  join_request req{id,
                   t->second.policy,
                   known_rev,
                   t->second.echo,
                   st.client_id,
                   st.settings.session_id,
                   st.user_id,
                   st.username,
                   st.sink,
                   caf::actor_cast<session_api>(self),
                   {},
                   // A re-attach never creates: the document was deleted meanwhile.
                   kind == join_kind::client ? t->second.creator : std::string{},
                   t->second.scoped_role,
                   kind == join_kind::resume};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  auto timeout = std::clamp<std::chrono::milliseconds>(left, std::chrono::milliseconds(500), k_join_attempt);
  self->request(st.registry, timeout, join_atom::value, std::move(req))
    .then([=](joined& j) { on_joined(self, id, j.document, kind); },
          [=](caf::error& err) {
            auto e = from_caf(err);
            if (!self->state.joining.count(id))
              return;
            if (curable(e.code) && clock::now() < deadline) {
              // 50 ms doubling to 1 s: a move settles within the membership's expiry.
              auto delay = std::chrono::milliseconds(50) * (1u << std::min<std::uint32_t>(attempt, 4));
              self->delayed_send(self, std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(1)),
                                 rejoin_atom::value, id, known_rev, static_cast<std::uint8_t>(kind),
                                 static_cast<std::int64_t>(deadline.time_since_epoch().count()), attempt + 1);
              return;
            }
            give_up(self, id, e, kind);
          });
}

void on_moved(gateway_actor_type* self, const std::string& doc_id, std::uint64_t rev) {
  auto& st = self->state;
  auto it = st.joined.find(doc_id);
  // Only what the session is joined to now speaks for the document.
  if (it == st.joined.end() || it->second.address() != self->current_sender())
    return;
  st.joined.erase(it);
  st.joining[doc_id];
  auto& terms = st.terms[doc_id];
  // Nodes that disagree for a moment about the owner bounce the session
  // between them: each move in a row waits longer (50 ms doubling to 1 s).
  auto now = clock::now();
  terms.moves = now - terms.last_move < std::chrono::seconds(2) ? terms.moves + 1 : 0;
  // A new run of moves after a calm spell (longer than any one attempt)
  // gets a new deadline; a run that goes on keeps the one it had.
  if (now - terms.last_move >= std::chrono::seconds(30))
    terms.reattach_deadline = now + k_reattach_window;
  terms.last_move = now;
  terms.reattaching = true;
  auto delay = terms.moves == 0 ? std::chrono::milliseconds(0)
                                : std::min<std::chrono::milliseconds>(
                                  std::chrono::milliseconds(25) * (1u << std::min<std::uint32_t>(terms.moves, 6)),
                                  std::chrono::seconds(1));
  // Before its snapshot the client has nothing to resume: it joins as it asked.
  bool quiet = rev != k_unsynced;
  auto known = quiet ? rev : terms.known_rev;
  auto kind = quiet ? join_kind::resume : join_kind::rejoin;
  if (log::enabled(log::level::debug))
    log::debug("re-attaching session", {{"session", st.settings.session_id}, {"doc", doc_id},
                                        {"rev", quiet ? std::to_string(rev) : "none yet"},
                                        {"delay_ms", std::to_string(delay.count())}});
  auto deadline = terms.reattach_deadline;
  if (delay.count() == 0)
    return request_join(self, doc_id, known, kind, deadline);
  self->delayed_send(self, delay, rejoin_atom::value, doc_id, known, static_cast<std::uint8_t>(kind),
                     static_cast<std::int64_t>(deadline.time_since_epoch().count()), std::uint32_t{0});
}

} // namespace stet::gateway_session
