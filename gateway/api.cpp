#include "gateway/api.hpp"
#include "gateway/api_call.hpp"

#include "actors/messages.hpp"
#include "auth/access.hpp"
#include "auth/password.hpp"
#include "core/ids.hpp"
#include "core/transform.hpp"
#include "core/utf8.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/http/verb.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include <charconv>

namespace stet::api {

namespace {

constexpr std::string_view k_docs = "/api/documents";

json document_json(const storage::document_row& d, auth::role r) {
  return {{"id", d.id},           {"title", d.title},        {"policy", d.policy}, {"public", d.is_public},
          {"rev", d.rev},         {"role", auth::to_string(r)}, {"createdAt", d.created_at},
          {"updatedAt", d.updated_at}};
}

// -- documents --

void create_document(const call_ptr& c) {
  if (c->user.user_id == 0)
    return c->fail(errc::unauthorized, "log in to create documents");
  if (c->user.scope)
    return c->fail(errc::forbidden, "a token scoped to documents cannot create others; join an id in its scope");
  auto body = body_json(*c);
  if (!body)
    return;
  auto title = field<std::string>(*c, *body, "title");
  auto policy = title ? field<std::string>(*c, *body, "policy", "lww") : std::nullopt;
  auto is_public = policy ? field<bool>(*c, *body, "public", false) : std::nullopt;
  if (!is_public)
    return;
  storage::document_row row;
  row.id = auth::random_hex(12);
  row.title = std::move(*title);
  row.policy = std::move(*policy);
  row.is_public = *is_public;
  row.owner_id = c->user.user_id;
  if (auto st = utf8::check_text(row.title, "title"); !st)
    return c->fail(st.error());
  if (row.title.size() > 1024)
    return c->fail(errc::invalid_argument, "title must be at most 1024 bytes");
  if (!parse_conflict_policy(row.policy))
    return c->fail(errc::invalid_argument, "policy must be \"lww\" or \"merge\"");
  if (c->ctx.creations && !c->ctx.creations->try_take("user:" + std::to_string(c->user.user_id))) {
    metrics::get().rate_limited("documents");
    return c->fail(errc::rate_limited, "too many documents created; wait before creating another");
  }
  ask_store(
    c, row.id,
    [c](storage::document_row& created) { c->respond(http::status::created, document_json(created, auth::role::owner)); },
    create_atom::value, row);
}

void list_documents(const call_ptr& c) {
  if (c->user.user_id == 0)
    return c->fail(errc::unauthorized, "log in to list your documents");
  ask_store(
    c, std::to_string(c->user.user_id),
    [c](std::vector<visible_document>& docs) {
      json out = json::array();
      for (auto& d : docs) {
        // A token scoped to documents sees those of its scope only, with
        // the role the scope grants.
        if (c->user.scope) {
          auto granted = c->user.scope->role_for(d.row.id);
          if (granted == auth::role::none)
            continue;
          d.role = granted;
        }
        out.push_back(document_json(d.row, d.role));
      }
      c->respond(http::status::ok, {{"documents", out}});
    },
    list_atom::value, c->user.user_id);
}

// The committed text comes from the document actor when it is open.
void get_document(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  std::uint64_t rev = k_current_rev;
  if (auto r = http_util::query_param(c->req->target(), "rev")) {
    try {
      std::size_t used = 0;
      rev = std::stoull(*r, &used);
      if (used != r->size())
        throw std::invalid_argument{"rev"};
    } catch (...) {
      return c->fail(errc::invalid_argument, "rev must be a revision number");
    }
  }
  ask_store(
    c, id,
    [c, id, rev](visible_document& d) mutable {
      // With a replica, "the newest" is what the primary has committed: the
      // replica serves it once it has replayed that far.
      if (rev == k_current_rev && c->ctx.replica_for(id))
        rev = static_cast<std::uint64_t>(d.row.rev);
      ask(
        c, c->ctx.registry,
        [c, role = d.role](document_view& v) {
          c->respond(http::status::ok, {{"id", v.id},
                                        {"title", v.title},
                                        {"text", v.text},
                                        {"rev", v.rev},
                                        {"policy", v.policy},
                                        {"role", auth::to_string(role)}});
        },
        {}, get_atom::value, id, rev);
    },
    open_atom::value, id, c->user.user_id, *scoped);
}

void delete_document(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  ask_store(
    c, id,
    [c](caf::ok_atom) { c->respond(http::status::no_content, {}); }, // storage told the registry
    delete_atom::value, id, c->user.user_id, *scoped);
}

void share(const call_ptr& c, const std::string& id, const std::string& username, std::string role) {
  if (!valid_username(username) && !external_username(username))
    return c->fail(errc::invalid_argument, "no user named " + username);
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  ask_store(
    c, id,
    [c, username, role](share_result&) { // storage told the registry
      if (role.empty())
        return c->respond(http::status::no_content, {});
      c->respond(http::status::ok, {{"user", username}, {"role", role}});
    },
    share_atom::value, share_request{id, c->user.user_id, username, role, *scoped});
}

void history(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  auto answer = [c, id](document_history& h) {
    json out = json::array();
    for (auto& e : h.entries)
      out.push_back({{"rev", e.rev}, {"author", e.author}, {"clientId", e.client_id}, {"ts", e.ts}});
    c->respond(http::status::ok, {{"id", id}, {"rev", h.rev}, {"history", out}});
  };
  if (!c->ctx.replica_for(id))
    return ask_store(c, id, answer, history_atom::value, id, c->user.user_id, *scoped);
  // Who may read is the primary's word (a replica may not have seen an
  // access change yet); what there is to read may come from the replica.
  ask_store(
    c, id,
    [c, id, answer, scoped = *scoped](visible_document& d) {
      auto committed = static_cast<std::uint64_t>(d.row.rev);
      ask_replica<document_history>(
        c, id, answer, [committed](const document_history& h) { return h.rev >= committed; }, history_atom::value, id,
        c->user.user_id, scoped);
    },
    open_atom::value, id, c->user.user_id, *scoped);
}

// Splits "/api/documents/{id}/rest..." into id and the rest.
void route_document(const call_ptr& c, std::string_view path) {
  auto verb = c->req->method();
  auto slash = path.find('/');
  std::string id{path.substr(0, slash)};
  auto rest = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
  if (!valid_doc_id(id))
    return c->fail(errc::invalid_argument, "document ids are 1-128 characters of A-Z a-z 0-9 _ - . :");
  if (rest.empty()) {
    if (verb == http::verb::get)
      return get_document(c, id);
    if (verb == http::verb::delete_)
      return delete_document(c, id);
  } else if (rest == "history" && verb == http::verb::get) {
    return history(c, id);
  } else if (rest == "edits" && verb == http::verb::post) {
    return post_edits(c, id);
  } else if (rest == "versions" && (verb == http::verb::post || verb == http::verb::get)) {
    return verb == http::verb::post ? post_version(c, id) : list_versions(c, id);
  } else if (rest.starts_with("versions/") && (verb == http::verb::get || verb == http::verb::delete_)) {
    auto n = rest.substr(9);
    std::int64_t version = 0;
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), version);
    if (ec != std::errc{} || end != n.data() + n.size() || version <= 0)
      return c->fail(errc::invalid_argument, "a version is named by its id, a positive whole number");
    return verb == http::verb::get ? get_version(c, id, version) : delete_version(c, id, version);
  } else if (rest == "comments" || rest.starts_with("comments/")) {
    return route_comments(c, id, rest);
  } else if (rest == "restore" && verb == http::verb::post) {
    return post_restore(c, id);
  } else if (rest == "text" && (verb == http::verb::put || verb == http::verb::get)) {
    return verb == http::verb::put ? put_text(c, id) : get_text(c, id);
  } else if (rest == "share" && verb == http::verb::post) {
    auto body = body_json(*c);
    if (!body)
      return;
    auto role = field<std::string>(*c, *body, "role");
    auto user = role ? field<std::string>(*c, *body, "user") : std::nullopt;
    if (!user)
      return;
    if (auth::parse_grant(*role) == auth::role::none)
      return c->fail(errc::invalid_argument, "role must be \"viewer\", \"commenter\" or \"editor\"");
    return share(c, id, *user, *role);
  } else if (rest.starts_with("share/") && verb == http::verb::delete_) {
    auto user = http_util::percent_decode(rest.substr(6));
    if (!user || user->empty())
      return c->fail(errc::invalid_argument, "malformed user name in the path");
    return share(c, id, *user, "");
  }
  c->answer(http_util::error(http::status::method_not_allowed, errc::invalid_argument,
                           "no such operation on a document", *c->req));
}

} // namespace

bool handles(std::string_view target) {
  return target.starts_with("/api/");
}

namespace {

// What an authenticated (or anonymous) request asks for.
void route(const call_ptr& c, std::string target) {
  auto verb = c->req->method();
  bool account_call = (target == "/api/logout" || target == "/api/password" || target == "/api/account");
  if (account_call && c->user.external)
    return c->fail(errc::forbidden, "this account belongs to an identity provider: manage it there");
  if (target == "/api/logout" && verb == http::verb::post)
    return do_logout(c);
  if (target == "/api/password" && verb == http::verb::post)
    return do_change_password(c);
  if (target == "/api/account" && verb == http::verb::delete_)
    return do_delete_account(c);
  if (target == k_docs) {
    if (verb == http::verb::get)
      return list_documents(c);
    if (verb == http::verb::post)
      return create_document(c);
  } else if (target.starts_with(std::string{k_docs} + "/")) {
    return route_document(c, std::string_view{target}.substr(k_docs.size() + 1));
  }
  c->answer(http_util::error(http::status::not_found, errc::invalid_argument, "no such endpoint", *c->req));
}

} // namespace

namespace {

void authenticate_and_route(const call_ptr& c, const std::string& client_ip) {
  auto& ctx = c->ctx;
  std::string_view target{c->req->target().data(), c->req->target().size()};
  target = target.substr(0, target.find('?'));
  auto verb = c->req->method();
  if (target == "/api/register" && verb == http::verb::post)
    return do_register(c, client_ip);
  if (target == "/api/login" && verb == http::verb::post)
    return do_login(c, client_ip);
  // Everything else acts as the token's user, or anonymously where allowed.
  auto bearer = (*c->req)[http::field::authorization];
  if (bearer.empty()) {
    if (!ctx.auth.allow_anonymous) {
      metrics::get().auth_failure("no_token");
      return c->fail(errc::unauthorized, "send Authorization: Bearer <token> (POST /api/login gives one)");
    }
    return route(c, std::string{target});
  }
  constexpr std::string_view prefix = "Bearer ";
  if (!bearer.starts_with(prefix)) {
    metrics::get().auth_failure("bad_token");
    return c->fail(errc::unauthorized, "the Authorization header must be \"Bearer <token>\"");
  }
  auto claims = check_token(*ctx.auth.signer, ctx.auth.jwt.get(), bearer.substr(prefix.size()), auth::unix_now());
  if (!claims) {
    metrics::get().auth_failure("bad_token");
    return c->fail(claims.error());
  }
  c->user = *claims;
  if (claims->external) {
    // An identity provider's user: its id, looked up once per node.
    if (auto id = ctx.external->find(claims->issuer, claims->subject)) {
      c->user.user_id = *id;
      return route(c, std::string{target});
    }
    return ask(
      c, ctx.store_for("user:" + claims->issuer + "/" + claims->subject),
      [c, target = std::string{target}](storage::user_row& user) {
        c->ctx.external->remember(c->user.issuer, c->user.subject, user.id);
        c->user.user_id = user.id;
        route(c, target);
      },
      {}, find_atom::value, claims->issuer, claims->subject);
  }
  // A token of an older epoch was revoked: read the user's epoch unless
  // this node learned it a moment ago.
  if (auto known = ctx.epochs->known(claims->user_id))
    return *known > claims->epoch ? fail_revoked(c) : route(c, std::string{target});
  ask(
    c, ctx.store_for("user:" + std::to_string(claims->user_id)),
    [c, target = std::string{target}](storage::user_row& user) {
      c->ctx.epochs->learn(c->user.user_id, user.token_epoch);
      if (user.token_epoch > c->user.epoch)
        return fail_revoked(c);
      route(c, target);
    },
    [c](const error& e) {
      if (e.code == errc::unauthorized) // the account is gone: so are its tokens
        metrics::get().auth_failure("bad_token");
    },
    find_atom::value, claims->user_id);
}

} // namespace

void handle(gateway_context& ctx, request req, const std::string& client_ip, reply done) {
  auto c = std::make_shared<call>(ctx, std::make_shared<const request>(std::move(req)), std::move(done));
  c->client_ip = client_ip;
  // A handler that throws (a bug) answers 500; it must never unwind into
  // the I/O thread, which would end the process.
  try {
    authenticate_and_route(c, client_ip);
  } catch (const std::exception& e) {
    c->fail(error{errc::internal, "the request failed", e.what()});
  }
}

} // namespace stet::api
