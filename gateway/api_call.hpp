// What every REST handler works with: one request in flight (`call`), and
// the ways it reaches storage and answers. Internal to gateway/.
#pragma once

#include "actors/messages.hpp"
#include "auth/token.hpp"
#include "gateway/api.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/beast/http/status.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>

namespace stet::api {

namespace http = boost::beast::http;
using nlohmann::json;
using http_util::request;

/// One request: answered exactly once, through `done`, from any thread.
struct call {
  gateway_context& ctx;
  std::shared_ptr<const request> req;
  reply done;
  auth::claims user; // user_id 0: anonymous

  void respond(http::status s, const json& body) const {
    done(http_util::json(s, body, *req));
  }
  void fail(const error& e) const {
    metrics::get().rejected(to_string(e.code));
    // The client learns which step failed; the operator needs the why.
    if (e.code == errc::storage_unavailable || e.code == errc::internal)
      log::warn("request failed", {{"method", std::string{req->method_string()}},
                                   {"path", std::string{req->target().substr(0, req->target().find('?'))}},
                                   {"error", describe(e)}});
    done(http_util::error(e, *req));
  }
  void fail(errc code, std::string message) const {
    fail(error{code, std::move(message)});
  }
};

using call_ptr = std::shared_ptr<call>;

/// Runs `job` on the storage actor that serves `key`; the job answers.
inline void on_store(const call_ptr& c, const std::string& key, std::function<void(storage::store&)> job) {
  caf::anon_send(c->ctx.store_for(key), run_atom::value, store_job{std::move(job)});
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
