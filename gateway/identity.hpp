// Who a bearer token says its holder is: stet's own tokens (two parts)
// and an identity provider's JWTs (three), checked the same way for
// WebSocket sessions and REST calls.
#pragma once

#include "auth/jwt.hpp"
#include "auth/token.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace stet {

/// The user ids of an identity provider's users seen on this node, so a
/// token costs a storage read only the first time its user is seen.
class external_ids {
public:
  explicit external_ids(std::size_t capacity = 100'000) : capacity_(capacity) {
  }
  /// Thread-safe.
  std::optional<std::int64_t> find(const std::string& issuer, const std::string& subject);
  void remember(const std::string& issuer, const std::string& subject, std::int64_t user_id);
  /// The account was deleted: its next token creates a new user.
  void forget(std::int64_t user_id);

private:
  static std::string key(const std::string& issuer, const std::string& subject);
  std::size_t capacity_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> ids_;
};

/// Verifies `token` at `now`: a JWT when `jwt` is configured and the token
/// has three parts, else one of stet's own. A JWT's claims have user_id 0
/// until looked up (see external_ids, and storage's find by issuer and
/// subject). Errors: unauthorized.
result<auth::claims> check_token(const auth::token_signer& signer, const auth::jwt_verifier* jwt,
                                 std::string_view token, std::int64_t now);

} // namespace stet
