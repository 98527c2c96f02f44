// Signed, expiring session tokens: base64url(JSON claims) "." base64url(
// HMAC-SHA256(secret, claims)). Stateless, so every node of a cluster that
// shares the secret accepts them.
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace stet::auth {

class document_scope;

struct claims {
  std::int64_t user_id = 0;
  std::string username;
  std::int64_t expires_at = 0; // unix seconds
  /// The user's token epoch when issued: revoked once the user's is higher.
  std::int64_t epoch = 0;
  /// An identity provider's token (a JWT): the user is (issuer, subject),
  /// user_id is found in storage, and stet's token epochs do not apply.
  bool external = false;
  std::string issuer{};
  std::string subject{};
  /// Set when the token is scoped to documents: it grants exactly this.
  std::shared_ptr<const document_scope> scope{};
};

class token_signer {
public:
  /// Shortest signing key accepted, in bytes.
  static constexpr std::size_t k_min_key_bytes = 32;

  /// Precondition: `secret` has at least k_min_key_bytes (random) bytes;
  /// the server refuses to start with a shorter one.
  explicit token_signer(std::string secret) : secret_(std::move(secret)) {
  }

  std::string issue(const claims& c) const;

  /// The claims of a token this signer issued and that has not expired at
  /// `now` (unix seconds). Errors: unauthorized, with what was wrong.
  result<claims> verify(std::string_view token, std::int64_t now) const;

  /// A name derived from `secret` under this key (the same on every node
  /// sharing it): knowing the name does not give the secret. Anonymous
  /// sessions are shown as the name of their client id.
  std::string derive(std::string_view secret) const;

private:
  std::string sign(std::string_view payload) const;
  std::string secret_;
};

std::int64_t unix_now();

/// URL-safe base64 without padding.
std::string base64url(std::string_view bytes);
/// False when `text` is not base64url.
bool base64url_decode(std::string_view text, std::string& out);

/// HMAC-SHA256 of `data` under `key`, as lowercase hex (webhook signatures).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// `n` cryptographically random bytes, hex encoded (ids, secrets).
std::string random_hex(std::size_t n);

} // namespace stet::auth
