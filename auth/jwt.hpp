// Tokens minted by an application's own identity provider: JWTs signed
// RS256, ES256 (a PEM public key, or a JWKS document whose keys are chosen
// by `kid`) or HS256 (a shared secret). Signatures are checked by libjwt;
// this module chooses the key, refuses every algorithm the key was not
// configured for (`none` included), and checks the claims.
#pragma once

#include "auth/access.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stet::auth {

/// What a token's `stet.docs` claim grants: exact document ids, and
/// prefixes written with a trailing `*`.
class document_scope {
public:
  /// From the claim's object. Errors: invalid_argument naming the bad entry.
  static result<document_scope> parse(std::string_view json);

  /// The role granted on `doc_id`: an exact entry, else the longest prefix
  /// that matches; none when nothing does.
  role role_for(std::string_view doc_id) const;

private:
  std::vector<std::pair<std::string, role>> exact_;
  std::vector<std::pair<std::string, role>> prefixes_; // longest first
};

/// Who a verified token says its holder is.
struct jwt_identity {
  std::string issuer;
  std::string subject;
  /// `name`, else `sub`: how the user is shown to others.
  std::string display_name;
  std::int64_t expires_at = 0; // unix seconds
  /// Set when the token carries a `stet` claim: then it grants exactly this.
  std::shared_ptr<const document_scope> scope;
};

enum class jwt_algorithm { hs256, rs256, es256 };

struct jwt_key {
  std::string kid; // empty: chosen only by algorithm
  jwt_algorithm alg = jwt_algorithm::rs256;
  /// PEM public key (RS256, ES256) or the raw secret (HS256).
  std::string material;
};

struct jwt_settings {
  std::string public_key_file; // PEM, RS256 or ES256
  std::string jwks_file;       // re-read by reload()
  std::string secret_file;     // HS256
  std::string issuer;          // checked when set
  std::string audience;        // checked when set
  /// Clock skew allowed for exp and nbf, in seconds.
  std::int64_t leeway_seconds = 30;

  bool enabled() const {
    return !public_key_file.empty() || !jwks_file.empty() || !secret_file.empty();
  }
};

/// A JWKS document's keys (RSA, EC P-256 and oct), as jwt_keys.
/// Errors: invalid_argument naming the key that could not be used.
result<std::vector<jwt_key>> parse_jwks(std::string_view json);

/// A PEM public key file's key: RS256 for RSA, ES256 for EC P-256.
result<jwt_key> parse_public_key(std::string pem);

class jwt_verifier {
public:
  /// Reads the configured files. Errors: invalid_argument with what is wrong.
  static result<std::shared_ptr<jwt_verifier>> open(jwt_settings settings);
  /// For tests: the keys given.
  jwt_verifier(jwt_settings settings, std::vector<jwt_key> keys);

  /// Verifies `token` at `now` (unix seconds). Errors: unauthorized, with
  /// what was wrong.
  result<jwt_identity> verify(std::string_view token, std::int64_t now) const;

  /// Reads the JWKS file again (SIGHUP). On error the keys in use stay.
  status reload();

  const jwt_settings& settings() const noexcept {
    return settings_;
  }

private:
  std::shared_ptr<const std::vector<jwt_key>> keys() const;

  jwt_settings settings_;
  std::vector<jwt_key> fixed_keys_; // from the PEM and secret files
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<jwt_key>> keys_;
};

/// True when `token` has the JWT shape (three dot-separated parts); stet's
/// own tokens have two.
bool looks_like_jwt(std::string_view token);

std::string_view to_string(jwt_algorithm alg);
/// "HS256" | "RS256" | "ES256"; nullopt for every other name.
std::optional<jwt_algorithm> parse_algorithm(std::string_view name);

} // namespace stet::auth
