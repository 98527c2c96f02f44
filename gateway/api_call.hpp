// What every REST handler works with: one request in flight (`call`), and
// the ways it reaches storage and answers. Internal to gateway/.
#pragma once

#include "actors/api.hpp"
#include "auth/jwt.hpp"
#include "auth/token.hpp"
#include "gateway/api.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/beast/http/status.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

namespace stet::api {

namespace http = boost::beast::http;
using nlohmann::json;
using http_util::request;

/// One request: answered exactly once, through `answer`, from any thread;
/// a second answer (a handler that threw after answering) is dropped.
struct call {
  gateway_context& ctx;
  std::shared_ptr<const request> req;
  reply done;
  auth::claims user{}; // user_id 0: anonymous
  std::string client_ip{};
  mutable std::atomic<bool> answered{false};

  void answer(http_util::response r) const {
    if (!answered.exchange(true))
      done(std::move(r));
  }
  void respond(http::status s, const json& body) const {
    answer(http_util::json(s, body, *req));
  }
  void fail(const error& e) const {
    metrics::get().rejected(to_string(e.code));
    // The client learns which step failed; the operator needs the why.
    if (e.code == errc::storage_unavailable || e.code == errc::internal)
      log::warn("request failed", {{"method", std::string{req->method_string()}},
                                   {"path", std::string{req->target().substr(0, req->target().find('?'))}},
                                   {"error", describe(e)}});
    answer(http_util::error(e, *req));
  }
  void fail(errc code, std::string message) const {
    fail(error{code, std::move(message)});
  }
};

using call_ptr = std::shared_ptr<call>;

/// Sends `request...` to the actor `to` (the storage actor or the
/// registry, as typed handles) from a short-lived actor, and runs
/// `on_answer` with its answer on that actor's thread; an error answers
/// the call unless `on_error` (when given: to refund a budget, or to answer
/// otherwise) did. Every
/// request times out (k_store_timeout), and a handler that throws answers
/// 500: nothing here can leave a call unanswered.
namespace detail {

template <class Handle, class OnAnswer, class OnError, class... Ts>
void ask_then(const call_ptr& c, caf::duration timeout, Handle to, OnAnswer on_answer, OnError on_error,
              Ts... request) {
  c->ctx.system.spawn([c, timeout, to = std::move(to), on_answer = std::move(on_answer), on_error = std::move(on_error),
                       request...](caf::event_based_actor* self) mutable {
    self->set_exception_handler([c](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
      try {
        std::rethrow_exception(eptr);
      } catch (const std::exception& e) {
        c->fail(error{errc::internal, "the request failed", e.what()});
      } catch (...) {
        c->fail(error{errc::internal, "the request failed", "unknown exception"});
      }
      return caf::exit_reason::unhandled_exception;
    });
    self->request(to, timeout, std::move(request)...).then(std::move(on_answer), std::move(on_error));
  });
}

} // namespace detail

template <class Handle, class OnAnswer, class... Ts>
void ask(const call_ptr& c, Handle to, OnAnswer on_answer, std::function<void(const error&)> on_error,
         Ts... request) {
  detail::ask_then(c, caf::duration{k_store_timeout}, std::move(to), std::move(on_answer),
                   [c, on_error = std::move(on_error)](caf::error& err) {
                     auto e = from_caf(err);
                     if (on_error)
                       on_error(e);
                     c->fail(e);
                   },
                   std::move(request)...);
}

/// ask() of the replica's storage actor for `key` when there is one; when
/// it fails (down, slow, without the document) or its answer is not
/// `fresh_enough`, the primary's answers.
template <class Answer, class OnAnswer, class Fresh, class... Ts>
void ask_replica(const call_ptr& c, const std::string& key, OnAnswer on_answer, Fresh fresh_enough, Ts... request) {
  auto* replica = c->ctx.replica_for(key);
  if (!replica)
    return ask(c, c->ctx.store_for(key), std::move(on_answer), {}, request...);
  auto from_primary = [c, key, on_answer, request...] {
    metrics::get().replica_read("primary");
    ask(c, c->ctx.store_for(key), on_answer, {}, request...);
  };
  detail::ask_then(
    c, caf::duration{k_replica_timeout}, *replica,
    [on_answer, fresh_enough, from_primary](Answer& answer) mutable {
      if (!fresh_enough(answer))
        return from_primary();
      metrics::get().replica_read("replica");
      on_answer(answer);
    },
    [from_primary](caf::error&) { from_primary(); }, request...);
}

/// ask() of the storage actor that serves `key`.
template <class OnAnswer, class... Ts>
void ask_store(const call_ptr& c, const std::string& key, OnAnswer on_answer, Ts... request) {
  ask(c, c->ctx.store_for(key), std::move(on_answer), {}, std::move(request)...);
}

/// The body as a JSON object, or nullopt after answering bad_message.
inline std::optional<json> body_json(const call& c) {
  auto j = json::parse(c.req->body(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    c.fail(errc::bad_message, "the request body must be a JSON object");
    return std::nullopt;
  }
  return j;
}

/// The member `key` of `body` as a T (std::string, bool, std::uint64_t), `fallback` when
/// absent or null; nullopt after answering invalid_argument when it has
/// another type. (nlohmann's value() throws on a wrong type.)
template <class T>
std::optional<T> field(const call& c, const json& body, const char* key, T fallback = {}) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null())
    return fallback;
  if constexpr (std::is_same_v<T, bool>) {
    if (it->is_boolean())
      return it->template get<bool>();
    c.fail(errc::invalid_argument, std::string{key} + " must be true or false");
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    if (it->is_number_unsigned())
      return it->template get<std::uint64_t>();
    c.fail(errc::invalid_argument, std::string{key} + " must be a whole number");
  } else {
    static_assert(std::is_same_v<T, std::string>);
    if (it->is_string())
      return it->template get<std::string>();
    c.fail(errc::invalid_argument, std::string{key} + " must be a string");
  }
  return std::nullopt;
}

/// 1-64 code points of valid UTF-8 without control characters or '/': the
/// names registration accepts, so no other name can belong to an account.
bool valid_username(const std::string& name);
/// The name of an identity provider's user ("<issuer>/<subject>", see
/// storage::external_user): printable UTF-8 with a '/'.
bool external_username(const std::string& name);

/// What the caller's token grants on document `id`: "" when the token has
/// no document scope (the access list decides), else the scope's role;
/// nullopt when the scope grants nothing (answered 403).
inline std::optional<std::string> scoped_role(const call_ptr& c, const std::string& id) {
  if (!c->user.scope)
    return std::string{};
  auto granted = c->user.scope->role_for(id);
  if (granted == auth::role::none) {
    c->fail(errc::forbidden, "your token does not grant document " + id);
    return std::nullopt;
  }
  return std::string{auth::to_string(granted)};
}

/// POST /api/documents/{id}/edits, PUT and GET /api/documents/{id}/text
/// (gateway/edits_api.cpp): edits applied through the document's owner.
void post_edits(const call_ptr& c, const std::string& id);
void put_text(const call_ptr& c, const std::string& id);
void get_text(const call_ptr& c, const std::string& id);
/// A change to the comment threads, applied through the document's owner
/// as a REST edit is (commenters, editors and owners; deletes: see
/// comment_threads); answers {rev} and, for "open", {thread}; 429 past
/// five changes a second per user or address.
/// `body`'s clientId and clientSeq, when given, make a retry apply once.
void comment_as_caller(const call_ptr& c, const std::string& id, const std::string& scoped, comment_action a,
                       std::optional<std::uint64_t> base_rev, const json& body);
/// /api/documents/{id}/comments...: `rest` is the path from "comments"
/// (gateway/comments_api.cpp).
void route_comments(const call_ptr& c, const std::string& id, std::string_view rest);
/// POST /api/documents/{id}/restore: the text of a revision or a named
/// version, applied as a new edit (history is never rewritten).
void post_restore(const call_ptr& c, const std::string& id);

/// POST and GET /api/documents/{id}/versions, GET .../versions/{n}
/// (gateway/versions_api.cpp): named versions.
void post_version(const call_ptr& c, const std::string& id);
void list_versions(const call_ptr& c, const std::string& id);
void get_version(const call_ptr& c, const std::string& id, std::int64_t version);
void delete_version(const call_ptr& c, const std::string& id, std::int64_t version);

/// POST /api/register and /api/login (gateway/accounts_api.cpp).
void do_register(const call_ptr& c, const std::string& ip);
void do_login(const call_ptr& c, const std::string& ip);
/// POST /api/logout, POST /api/password, DELETE /api/account: each revokes
/// every token of the caller, on every node.
void do_logout(const call_ptr& c);
void do_change_password(const call_ptr& c);
void do_delete_account(const call_ptr& c);

/// Answers 401 for a token that was revoked.
inline void fail_revoked(const call_ptr& c) {
  metrics::get().auth_failure("bad_token");
  c->fail(errc::unauthorized, "this token was revoked (logout, a new password or a deleted account); log in again");
}

} // namespace stet::api
