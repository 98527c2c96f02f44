// Errors are values: a code that maps one-to-one onto the wire's `error.code`
// and a message a user can act on.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace stet {

enum class errc {
  bad_message,         // not a well-formed JSON or protobuf ClientMessage
  unknown_message,     // well-formed, but no message type we know
  invalid_argument,    // a field is missing or has an impossible value
  invalid_utf8,        // a text field is not valid UTF-8
  nul_character,       // a text field holds U+0000, which no backend stores (PostgreSQL's text cannot)
  not_joined,          // edit/presence/leave for a document the session has not joined
  out_of_range,        // the ops do not fit the document at their base revision
  bad_rev,             // base revision lies in the future
  rev_too_old,         // base revision older than the history the server keeps
  frame_too_large,     // a frame over the size limit
  document_too_large,  // the edit would grow the document past its limit
  too_many_ops,        // more components in one edit than allowed
  unknown_document,    // no such document
  unauthorized,        // no valid token (absent, malformed, forged or expired)
  token_expired,       // the session's token expired or was revoked: hello again with a fresh one
  forbidden,           // authenticated, but not allowed
  rate_limited,        // too many requests; slow down
  out_of_order,        // an edit after one of the same client refused for now: resend that one first
  overloaded,          // the server is too busy for this request now; retry shortly
  storage_unavailable, // the store could not commit; the edit was not applied
  fenced,              // this node's lease on the document was taken over; it may not commit
  slow_consumer,       // the session's send queue overflowed
  internal,            // a bug; the message says where
};

/// The code's name on the wire, e.g. "out_of_range".
std::string_view to_string(errc code) noexcept;
/// The code named `name` on the wire; nullopt for a name stet does not use.
std::optional<errc> parse_errc(std::string_view name) noexcept;

struct error {
  errc code;
  /// What a client may read: what failed and what to do about it.
  std::string message;
  /// What only operators read, in logs: a driver's own text, a path. Never
  /// sent to clients, whose view of a database's internals is nobody's
  /// business.
  std::string detail{};
};

/// The message and, when there is one, the detail: for logs.
std::string describe(const error& err);

/// A value or an error. Deliberately tiny: the pure core must not pull in CAF
/// (whose `expected` the actor layer uses) and the toolchain predates
/// std::expected.
template <class T>
class result {
public:
  result(T value) : v_(std::move(value)) {
  }
  result(stet::error err) : v_(std::move(err)) {
  }
  explicit operator bool() const noexcept {
    return v_.index() == 0;
  }
  T& operator*() & {
    return std::get<0>(v_);
  }
  T&& operator*() && {
    return std::get<0>(std::move(v_));
  }
  const T& operator*() const& {
    return std::get<0>(v_);
  }
  T* operator->() {
    return &std::get<0>(v_);
  }
  const T* operator->() const {
    return &std::get<0>(v_);
  }
  const stet::error& error() const {
    return std::get<1>(v_);
  }

private:
  std::variant<T, stet::error> v_;
};

struct ok_t {};

/// For operations that produce nothing but may fail.
using status = result<ok_t>;

inline status ok() {
  return ok_t{};
}

inline stet::error make_error(errc code, std::string message, std::string detail = {}) {
  return stet::error{code, std::move(message), std::move(detail)};
}

} // namespace stet
