// Accounts: registering and logging in. Every password hash runs on the
// crypto pool, which never holds more than limits.max_password_hashes: a
// flood of logins gets 503 at once instead of queueing behind itself.
#include "auth/password.hpp"
#include "core/utf8.hpp"
#include "gateway/api_call.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <limits>

namespace stet::api {

bool valid_username(const std::string& name) {
  if (!utf8::is_valid(name))
    return false;
  auto n = utf8::length(name);
  if (n == 0 || n > 64)
    return false;
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7F || ch == '/')
      return false;
  return true;
}

bool external_username(const std::string& name) {
  if (name.size() > 520 || !utf8::is_valid(name) || name.find('/') == std::string::npos)
    return false;
  return std::none_of(name.begin(), name.end(), [](char ch) {
    auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7F;
  });
}

namespace {

// What an unknown user's login is checked against, so that it takes as
// long as a wrong password for a real one (no oracle for who has an
// account). Made once, on the crypto pool.
const std::string& dummy_hash() {
  static const std::string hash = [] {
    auto h = auth::hash_password("stet: no such user " + auth::random_hex(16));
    return h ? *h : std::string{};
  }();
  return hash;
}

// Runs `job` on the crypto pool unless it is full; then answers 503 and
// returns false (the caller gives back what it charged: nothing was tried).
template <class Job>
bool hash_on_pool(const call_ptr& c, Job job) {
  auto& ctx = c->ctx;
  if (ctx.crypto_queued.fetch_add(1) >= ctx.limits.max_password_hashes) {
    ctx.crypto_queued.fetch_sub(1);
    metrics::get().rate_limited("password_hashes");
    c->fail(errc::overloaded, "the server is busy checking passwords; try again in a few seconds");
    return false;
  }
  // The count is of checks waiting: it drops as one starts, so a client
  // that got its answer never finds its own finished check still counted.
  boost::asio::post(ctx.crypto, [c, job = std::move(job)]() mutable {
    c->ctx.crypto_queued.fetch_sub(1);
    try {
      job();
    } catch (const std::exception& e) { // never unwind into the pool's thread: it would end the process
      c->fail(error{errc::internal, "the request failed", e.what()});
    }
  });
  return true;
}

json token_reply(const call& c, const storage::user_row& user) {
  auto expires = auth::unix_now() + c.ctx.auth.token_ttl_seconds;
  auto token = c.ctx.auth.signer->issue({user.id, user.username, expires, user.token_epoch});
  return {{"token", token}, {"expiresAt", expires}, {"user", {{"id", user.id}, {"username", user.username}}}};
}

// Tokens up to `epoch` are revoked: this node's checks know at once (the
// storage actor told the registry, which tells every node and this node's
// sessions).
void announce_revoke(const call& c, std::int64_t user_id, std::int64_t epoch) {
  c.ctx.epochs->learn(user_id, epoch, true);
}

bool require_user(const call& c) {
  if (c.user.user_id != 0)
    return true;
  c.fail(errc::unauthorized, "log in first");
  return false;
}

// Checks the caller's current password (on the crypto pool), then runs
// `then` with the user's row on its storage actor.
// Each check is charged to the user's login budget first (refunded when
// the password was right), so a token cannot be used to guess the password
// or to keep the crypto pool busy for everyone else.
template <class Then>
void with_password(const call_ptr& c, std::string password, Then then) {
  auto key = "user:" + std::to_string(c->user.user_id);
  auto budget = "id:" + std::to_string(c->user.user_id);
  if (!c->ctx.user_logins.try_take(budget)) {
    metrics::get().rate_limited("logins");
    return c->fail(errc::rate_limited, "too many password checks for this account; wait a minute and try again");
  }
  ask(
    c, c->ctx.store_for(key),
    [c, password = std::move(password), budget, then](storage::user_row& user) mutable {
      auto queued = hash_on_pool(c, [c, user, password = std::move(password), budget, then]() mutable {
        if (!auth::verify_password(password, user.password_hash)) {
          metrics::get().auth_failure("bad_password");
          return c->fail(errc::forbidden, "the current password is wrong");
        }
        c->ctx.user_logins.refund(budget);
        then(std::move(user));
      });
      if (!queued)
        c->ctx.user_logins.refund(budget);
    },
    [c, budget](const error& e) {
      if (e.code != errc::unauthorized) // nothing was checked
        c->ctx.user_logins.refund(budget);
    },
    find_atom::value, c->user.user_id);
}

} // namespace

void do_logout(const call_ptr& c) {
  if (!require_user(*c))
    return;
  ask_store(
    c, "user:" + std::to_string(c->user.user_id),
    [c](std::int64_t epoch) {
      announce_revoke(*c, c->user.user_id, epoch);
      c->answer(http_util::json(http::status::no_content, nullptr, *c->req));
    },
    revoke_atom::value, c->user.user_id, std::string{});
}

void do_change_password(const call_ptr& c) {
  if (!require_user(*c))
    return;
  auto body = body_json(*c);
  if (!body)
    return;
  auto current = field<std::string>(*c, *body, "password");
  if (!current)
    return;
  auto given = field<std::string>(*c, *body, "newPassword");
  if (!given)
    return;
  auto fresh = std::move(*given);
  if (fresh.size() < 8 || fresh.size() > 1024)
    return c->fail(errc::invalid_argument, "newPassword must be 8 to 1024 bytes long");
  with_password(c, std::move(*current), [c, fresh](storage::user_row user) {
    auto hash = auth::hash_password(fresh);
    if (!hash)
      return c->fail(hash.error());
    ask_store(
      c, "user:" + std::to_string(user.id),
      [c, user](std::int64_t epoch) mutable {
        announce_revoke(*c, user.id, epoch);
        user.token_epoch = epoch;
        c->respond(http::status::ok, token_reply(*c, user)); // the one token that works now
      },
      revoke_atom::value, user.id, *hash);
  });
}

void do_delete_account(const call_ptr& c) {
  if (!require_user(*c))
    return;
  auto body = body_json(*c);
  if (!body)
    return;
  auto password = field<std::string>(*c, *body, "password");
  if (!password)
    return;
  with_password(c, std::move(*password), [c](storage::user_row user) {
    ask_store(
      c, "user:" + std::to_string(user.id),
      [c, id = user.id](std::vector<std::string>&) {
        announce_revoke(*c, id, std::numeric_limits<std::int64_t>::max());
        c->answer(http_util::json(http::status::no_content, nullptr, *c->req));
      },
      erase_atom::value, user.id);
  });
}

void do_register(const call_ptr& c, const std::string& ip) {
  auto body = body_json(*c);
  if (!body)
    return;
  auto username_field = field<std::string>(*c, *body, "username");
  auto password_field = username_field ? field<std::string>(*c, *body, "password") : std::nullopt;
  auto email_field = password_field ? field<std::string>(*c, *body, "email") : std::nullopt;
  if (!email_field)
    return;
  auto username = std::move(*username_field), password = std::move(*password_field),
       email = std::move(*email_field);
  if (!valid_username(username))
    return c->fail(errc::invalid_argument,
                   "username must be 1-64 characters of valid UTF-8, without control characters or '/'");
  if (password.size() < 8 || password.size() > 1024)
    return c->fail(errc::invalid_argument, "password must be 8 to 1024 bytes long");
  if (auto st = utf8::check_text(email, "email"); !st)
    return c->fail(st.error());
  if (email.size() > 320)
    return c->fail(errc::invalid_argument, "email must be at most 320 bytes");
  if (!c->ctx.ip_registrations.try_take(ip)) {
    metrics::get().rate_limited("registrations");
    return c->fail(errc::rate_limited, "too many accounts registered from this address; try again later");
  }
  auto queued = hash_on_pool(c, [c, username, password, email] {
    auto hash = auth::hash_password(password);
    if (!hash)
      return c->fail(hash.error());
    ask(
      c, c->ctx.store_for(username),
      [c](storage::user_row& user) {
        c->respond(http::status::created, {{"id", user.id}, {"username", user.username}});
      },
      [c](const error& e) {
        if (e.code == errc::invalid_argument)
          c->answer(http_util::error(http::status::conflict, errc::invalid_argument, "username is taken", *c->req));
      },
      register_atom::value, storage::user_row{0, username, email, *hash, 0});
  });
  if (!queued)
    c->ctx.ip_registrations.refund(ip);
}

void do_login(const call_ptr& c, const std::string& ip) {
  auto body = body_json(*c);
  if (!body)
    return;
  auto username_field = field<std::string>(*c, *body, "username");
  auto password_field = username_field ? field<std::string>(*c, *body, "password") : std::nullopt;
  if (!password_field)
    return;
  auto username = std::move(*username_field), password = std::move(*password_field);
  // No account has such a name (registration refuses it), and a NUL would
  // read as a shorter name on PostgreSQL.
  if (!valid_username(username))
    return c->fail(errc::invalid_argument,
                   "username must be 1-64 characters of valid UTF-8, without control characters or '/'");
  if (password.size() > 1024)
    return c->fail(errc::invalid_argument, "password must be at most 1024 bytes long");
  // Every attempt is charged before the password is checked, so parallel
  // guesses cannot all slip through one check; a right password is
  // refunded. The per-name bucket is per (name, address): a guesser
  // elsewhere slows only themselves, never locks the user out.
  auto pair = username + '\n' + ip;
  if (!c->ctx.ip_logins.try_take(ip)) {
    metrics::get().rate_limited("logins");
    return c->fail(errc::rate_limited, "too many logins from this address; wait a minute and try again");
  }
  if (!c->ctx.user_logins.try_take(pair)) {
    c->ctx.ip_logins.refund(ip);
    metrics::get().rate_limited("logins");
    return c->fail(errc::rate_limited, "too many failed logins for this user; wait a minute and try again");
  }
  ask(
    c, c->ctx.store_for(username),
    [c, password, ip, pair](std::optional<storage::user_row>& user) {
      auto queued = hash_on_pool(c, [c, user, password, ip, pair] {
        // Same answer, and the same work, for an unknown user and a wrong password.
        bool right = user ? auth::verify_password(password, user->password_hash)
                          : (auth::verify_password(password, dummy_hash()), false);
        if (!right) {
          metrics::get().auth_failure("bad_password");
          return c->fail(errc::unauthorized, "wrong username or password");
        }
        // Only the (name, address) budget is given back: refunding the
        // address's would let logins to one's own account pay for guesses
        // at everyone else's.
        c->ctx.user_logins.refund(pair);
        c->respond(http::status::ok, token_reply(*c, *user));
      });
      if (!queued) {
        c->ctx.ip_logins.refund(ip);
        c->ctx.user_logins.refund(pair);
      }
    },
    [c, ip, pair](const error&) { // nothing was checked
      c->ctx.ip_logins.refund(ip);
      c->ctx.user_logins.refund(pair);
    },
    find_atom::value, username);
}

} // namespace stet::api
