// Who a session is: its hello, its token (stet's own or an identity
// provider's, with the user looked up once), its token's epoch and expiry,
// and the client id others know it by.
#include "gateway/gateway_parts.hpp"

#include "actors/messages.hpp"
#include "core/utf8.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <algorithm>
#include <chrono>

namespace stet::gateway_session {

// The token expired or was revoked: the session leaves its documents and
// hears nothing more until it says hello with a fresh token.
void expire_token(gateway_actor_type* self, std::string why) {
  auto& st = self->state;
  st.token_expired = true;
  for (auto& [id, doc] : st.joined) {
    self->send(doc, leave_atom::value, st.settings.session_id);
    st.held_back.erase(id);
    st.ledger->forget(id);
    st.terms.erase(id);
  }
  st.joined.clear();
  send_error(self, errc::token_expired, std::move(why) + "; send hello with a fresh token and join again");
}

namespace {

// The id the session is known by: a user's own client id (deduplication
// and notices key by user and client id, so copying another user's changes
// nothing), or, for an anonymous session, a name derived from it: anonymous
// sessions share one user, so their client id is a secret that only its
// holder can resume with, and others see its derived name.
result<std::string> client_id_for(const gateway_state& st, const std::string& given) {
  if (given.size() > 128)
    return make_error(errc::invalid_argument, "clientId must be at most 128 bytes");
  if (auto ok = utf8::check_text(given, "clientId"); !ok)
    return ok.error();
  for (unsigned char c : given)
    if (c < 0x20 || c == 0x7F)
      return make_error(errc::invalid_argument, "clientId must not contain control characters");
  if (st.user_id != 0)
    return given;
  return "anon-" + st.settings.signer->derive(given);
}


// Accepts a verified token whose epoch is current.
void accept_token(gateway_actor_type* self, const auth::claims& claims) {
  auto& st = self->state;
  auto me = caf::actor_cast<caf::actor>(self);
  if (st.user_id != 0 && st.settings.epochs && !st.external)
    st.settings.epochs->detach(st.user_id, me);
  st.user_id = claims.user_id;
  st.username = claims.username;
  st.token_epoch = claims.epoch;
  st.external = claims.external;
  st.scope = claims.scope;
  st.token_expired = false;
  if (st.settings.epochs && !st.external)
    st.settings.epochs->attach(st.user_id, me);
  // An identity provider's exp may lie centuries ahead: a timer that far
  // would overflow CAF's clock, and ten years is as good as never.
  constexpr std::int64_t k_longest_timer = 10LL * 365 * 24 * 3600;
  auto left = std::clamp<std::int64_t>(claims.expires_at - auth::unix_now(), 0, k_longest_timer);
  self->delayed_send(self, std::chrono::seconds(left), expiry_atom::value, ++st.token_generation);
}

void welcome(gateway_actor_type* self, const wire::Hello& hello) {
  auto& st = self->state;
  if (!hello.client_id().empty()) {
    auto shown = client_id_for(st, hello.client_id());
    if (!shown)
      return send_error(self, shown.error().code, shown.error().message);
    if (*shown != st.client_id && (!st.joined.empty() || !st.joining.empty()))
      return send_error(self, errc::invalid_argument, "hello must come before the first join");
    st.client_id = std::move(*shown);
  }
  st.said_hello = true;
  if (hello.batch())
    st.sink->allow_batching();
  wire::ServerMessage w;
  auto* welcome = w.mutable_welcome();
  welcome->set_client_id(st.client_id);
  welcome->set_session_id(st.settings.session_id);
  welcome->set_node_id(st.settings.node_id);
  welcome->set_max_frame_bytes(static_cast<std::uint32_t>(st.settings.limits.max_frame_bytes));
  if (st.user_id != 0)
    welcome->set_username(st.username);
  if (hello.batch())
    welcome->set_batch(true);
  st.sink->send(w);
}

void replay_after_hello(gateway_actor_type* self) {
  auto& st = self->state;
  st.hello_pending = false;
  auto queued = std::move(st.after_hello);
  st.after_hello.clear();
  for (auto& m : queued)
    on_message(self, m);
}

// A session's documents stay joined under a new token only when it grants
// each of them what the old one did (a scope is checked at the join).
bool same_access(const gateway_state& st, const auth::claims& next) {
  if (st.joined.empty() && st.joining.empty())
    return true;
  if (st.user_id != 0 && st.user_id != next.user_id)
    return false;
  if (!st.scope && !next.scope)
    return true;
  if (!st.scope || !next.scope)
    return false;
  auto same = [&](const std::string& id) { return st.scope->role_for(id) == next.scope->role_for(id); };
  return std::all_of(st.joined.begin(), st.joined.end(), [&](auto& e) { return same(e.first); })
         && std::all_of(st.joining.begin(), st.joining.end(), [&](auto& e) { return same(e.first); });
}

// A verified token whose user is known: checks its epoch (stet's own
// tokens; an identity provider revokes its own) and welcomes the session.
void accept_hello(gateway_actor_type* self, const wire::Hello& hello, const auth::claims& claims) {
  auto& st = self->state;
  if (!same_access(st, claims))
    return send_error(self, errc::invalid_argument,
                      "a new token must be for the same user and grant the same documents while joined; "
                      "leave them first");
  auto revoked = [=] {
    metrics::get().auth_failure("bad_token");
    send_error(self, errc::unauthorized, "this token was revoked (logout, a new password or a deleted account); "
                                         "log in again");
  };
  if (!st.settings.epochs || claims.external)
    return accept_token(self, claims), welcome(self, hello);
  if (auto known = st.settings.epochs->known(claims.user_id)) {
    if (*known > claims.epoch)
      return revoked();
    accept_token(self, claims);
    return welcome(self, hello);
  }
  // Not known here lately: ask storage, holding what the client sends next.
  st.hello_pending = true;
  auto& stores = *st.settings.stores;
  auto key = "user:" + std::to_string(claims.user_id);
  self->request(stores[storage_index(key, stores.size())], std::chrono::seconds(5), user_atom::value, claims.user_id)
    .then(
      [=](std::int64_t epoch) {
        self->state.settings.epochs->learn(claims.user_id, epoch);
        if (epoch > claims.epoch) {
          revoked();
        } else {
          accept_token(self, claims);
          welcome(self, hello);
        }
        replay_after_hello(self);
      },
      [=](caf::error& err) {
        auto e = from_caf(err);
        if (e.code == errc::unauthorized)
          revoked();
        else
          send_error(self, errc::storage_unavailable, "cannot check the token now; send hello again");
        replay_after_hello(self);
      });
}

} // namespace

void on_hello(gateway_actor_type* self, const wire::Hello& hello) {
  auto& st = self->state;
  if (hello.token().empty())
    return welcome(self, hello);
  auto claims = check_token(*st.settings.signer, st.settings.jwt.get(), hello.token(), auth::unix_now());
  if (!claims) {
    metrics::get().auth_failure("bad_token");
    return send_error(self, claims.error().code, claims.error().message);
  }
  if (!claims->external)
    return accept_hello(self, hello, *claims);
  if (auto id = st.settings.external->find(claims->issuer, claims->subject)) {
    claims->user_id = *id;
    return accept_hello(self, hello, *claims);
  }
  // First sight of this identity on this node: storage finds or creates
  // its user, holding what the client sends next.
  st.hello_pending = true;
  auto& stores = *st.settings.stores;
  auto key = "user:" + claims->issuer + "/" + claims->subject;
  self->request(stores[storage_index(key, stores.size())], std::chrono::seconds(5), find_atom::value, claims->issuer,
                claims->subject)
    .then(
      [=](storage::user_row& user) mutable {
        self->state.settings.external->remember(claims->issuer, claims->subject, user.id);
        claims->user_id = user.id;
        self->state.hello_pending = false;
        accept_hello(self, hello, *claims);
        if (!self->state.hello_pending)
          replay_after_hello(self);
      },
      [=](caf::error& err) {
        auto e = from_caf(err);
        send_error(self, errc::storage_unavailable, "cannot look up the token's user now (" + e.message
                                                      + "); send hello again");
        replay_after_hello(self);
      });
}

} // namespace stet::gateway_session
