// JWTs signed here with libjwt and keys OpenSSL makes, verified as an
// identity provider's would be.
#include "auth/jwt.hpp"
#include "auth/token.hpp"

#include <doctest/doctest.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>

using namespace stet;
using namespace stet::auth;

namespace {

struct key_pair {
  std::string private_pem;
  std::string public_pem;
};

std::string pem_of(EVP_PKEY* key, bool private_part) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_part)
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  else
    PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

key_pair make_keys(bool rsa) {
  EVP_PKEY* key = rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(key);
  key_pair out{pem_of(key, true), pem_of(key, false)};
  EVP_PKEY_free(key);
  return out;
}

const key_pair& rsa_keys() {
  static key_pair k = make_keys(true);
  return k;
}
const key_pair& ec_keys() {
  static key_pair k = make_keys(false);
  return k;
}

std::string sign(jwt_alg_t alg, const std::string& key, const std::string& claims_json, const std::string& kid = "") {
  jwt_t* jwt = nullptr;
  REQUIRE(jwt_new(&jwt) == 0);
  REQUIRE(jwt_add_grants_json(jwt, claims_json.c_str()) == 0);
  if (!kid.empty())
    REQUIRE(jwt_add_header(jwt, "kid", kid.c_str()) == 0);
  REQUIRE(jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()), static_cast<int>(key.size()))
          == 0);
  char* out = jwt_encode_str(jwt);
  REQUIRE(out);
  std::string token{out};
  std::free(out);
  jwt_free(jwt);
  return token;
}

const std::string k_claims = R"({"sub":"u-17","name":"Ada","iss":"https://idp.example","aud":"stet","exp":2000})";
const std::string k_secret = "an HS256 secret of thirty-two bytes or more";

jwt_verifier verifier_with(std::vector<jwt_key> keys) {
  jwt_settings s;
  s.issuer = "https://idp.example";
  s.audience = "stet";
  s.leeway_seconds = 0;
  return jwt_verifier{s, std::move(keys)};
}

} // namespace

TEST_CASE("RS256, ES256 and HS256 tokens verify with their configured keys") {
  auto rsa = parse_public_key(rsa_keys().public_pem);
  auto ec = parse_public_key(ec_keys().public_pem);
  REQUIRE(rsa);
  REQUIRE(ec);
  CHECK(rsa->alg == jwt_algorithm::rs256);
  CHECK(ec->alg == jwt_algorithm::es256);
  auto v = verifier_with({*rsa, *ec, jwt_key{{}, jwt_algorithm::hs256, k_secret}});
  for (auto [alg, key] : {std::pair{JWT_ALG_RS256, rsa_keys().private_pem}, std::pair{JWT_ALG_ES256, ec_keys().private_pem},
                          std::pair{JWT_ALG_HS256, k_secret}}) {
    auto id = v.verify(sign(alg, key, k_claims), 1000);
    REQUIRE_MESSAGE(id, jwt_alg_str(alg));
    CHECK(id->subject == "u-17");
    CHECK(id->issuer == "https://idp.example");
    CHECK(id->display_name == "Ada");
    CHECK(id->expires_at == 2000);
    CHECK_FALSE(id->scope);
  }
}

TEST_CASE("tokens are refused for expiry, nbf, issuer, audience, alg none and algorithm confusion") {
  auto rsa = parse_public_key(rsa_keys().public_pem);
  REQUIRE(rsa);
  auto v = verifier_with({*rsa});
  auto refused = [&](const std::string& token, std::int64_t now, std::string_view why) {
    auto r = v.verify(token, now);
    REQUIRE_FALSE_MESSAGE(r, why);
    CHECK(r.error().code == errc::unauthorized);
    CHECK_MESSAGE(r.error().message.find(why) != std::string::npos, r.error().message);
  };
  auto rs = [&](const std::string& claims) { return sign(JWT_ALG_RS256, rsa_keys().private_pem, claims); };
  refused(rs(k_claims), 2001, "expired");
  refused(rs(R"({"sub":"u","iss":"https://idp.example","aud":"stet"})"), 1, "no exp");
  refused(rs(R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":1e300})"), 1, "no exp");
  refused(rs(R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":"2000"})"), 1, "no exp");
  refused(rs(R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":9,"nbf":"x"})"), 1, "nbf");
  refused(rs(R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":9,"nbf":5})"), 4, "not valid yet");
  refused(rs(R"({"sub":"u","iss":"https://evil.example","aud":"stet","exp":9})"), 1, "wrong issuer");
  refused(rs(R"({"sub":"u","iss":"https://idp.example","aud":["other"],"exp":9})"), 1, "wrong audience");
  CHECK(v.verify(rs(R"({"sub":"u","iss":"https://idp.example","aud":["x","stet"],"exp":9})"), 1));
  refused(rs(R"({"iss":"https://idp.example","aud":"stet","exp":9})"), 1, "sub");
  // alg none: an unsigned token naming any claims.
  auto none = base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(k_claims) + ".";
  refused(none, 1000, "algorithm none is not accepted");
  // HS256 keyed with the RSA public key (the classic confusion): no HS256
  // key is configured, so it is never tried.
  refused(sign(JWT_ALG_HS256, rsa_keys().public_pem, k_claims), 1000, "no HS256 key");
  // RS384 is not accepted even with the right key.
  refused(sign(JWT_ALG_RS384, rsa_keys().private_pem, k_claims), 1000, "RS384 is not accepted");
  // Another RSA key's signature.
  refused(sign(JWT_ALG_RS256, make_keys(true).private_pem, k_claims), 1000, "bad signature");
  // A payload changed after signing.
  auto good = rs(k_claims);
  auto first = good.find('.'), second = good.rfind('.');
  auto forged = good.substr(0, first + 1)
                + base64url(R"({"sub":"admin","iss":"https://idp.example","aud":"stet","exp":2000})")
                + good.substr(second);
  refused(forged, 1000, "bad signature");
  refused("a.b", 1, "not a JWT");
  // libjwt decodes leniently: junk after the signature, an empty payload.
  refused(good + "!junk", 1000, "not a JWT");
  refused(good.substr(0, first + 1) + good.substr(second), 1000, "not a JWT");
  refused(rs(R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":9223372036854775807})"), 1, "no exp");
  // A provider that names its key (kid) still matches a PEM configured
  // without one.
  CHECK(v.verify(sign(JWT_ALG_RS256, rsa_keys().private_pem, k_claims, "provider-key-1"), 1000));
  refused("!!.!!.!!", 1, "not a JWT");
}

TEST_CASE("JWKS keys are chosen by kid, and a reload replaces them") {
  // The JWKS form of the EC key: x and y from OpenSSL.
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  unsigned char x[32], y[32];
  BIGNUM *bx = nullptr, *by = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1);
  REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1);
  BN_bn2binpad(bx, x, 32);
  BN_bn2binpad(by, y, 32);
  BN_free(bx);
  BN_free(by);
  auto priv = pem_of(key, true);
  EVP_PKEY_free(key);
  auto b = [](const unsigned char* p) { return base64url(std::string_view{reinterpret_cast<const char*>(p), 32}); };
  std::string jwks = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","x":")" + b(x) + R"(","y":")" + b(y)
                     + R"("},{"kty":"RSA","use":"enc","kid":"skip","n":"AQAB","e":"AQAB"}]})";
  auto keys = parse_jwks(jwks);
  REQUIRE(keys);
  REQUIRE(keys->size() == 1);
  CHECK((*keys)[0].kid == "k1");
  auto v = verifier_with(*keys);
  CHECK(v.verify(sign(JWT_ALG_ES256, priv, k_claims, "k1"), 1000));
  auto wrong_kid = v.verify(sign(JWT_ALG_ES256, priv, k_claims, "k2"), 1000);
  REQUIRE_FALSE(wrong_kid);
  CHECK(wrong_kid.error().message.find("kid k2") != std::string::npos);
  CHECK_FALSE(parse_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})"));
  CHECK_FALSE(parse_jwks(R"({"keys":[]})"));
  // Members of the wrong type are unusable keys, not a crash; one
  // unusable key does not take the usable ones down.
  CHECK_FALSE(parse_jwks(R"({"keys":[{"kty":null,"use":7,"crv":[]}]})"));
  auto mixed = parse_jwks(R"({"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"},)" + jwks.substr(9));
  REQUIRE(mixed);
  CHECK(mixed->size() == 1);
  CHECK_FALSE(parse_jwks("not json"));
}

TEST_CASE("a stet claim scopes a token to exact ids and prefixes") {
  auto scope = document_scope::parse(R"({"notes":"editor","team-*":"viewer","team-a*":"owner"})");
  REQUIRE(scope);
  CHECK(scope->role_for("notes") == role::editor);
  CHECK(scope->role_for("notes2") == role::none);
  CHECK(scope->role_for("team-b") == role::viewer);
  CHECK(scope->role_for("team-abc") == role::owner); // the longest prefix wins
  CHECK(scope->role_for("other") == role::none);
  auto all = document_scope::parse(R"({"*":"viewer"})");
  REQUIRE(all);
  CHECK(all->role_for("anything") == role::viewer);
  CHECK_FALSE(document_scope::parse(R"({"notes":"admin"})"));
  CHECK_FALSE(document_scope::parse(R"({"no/slash":"viewer"})"));
  CHECK_FALSE(document_scope::parse(R"({"notes":1})"));
  CHECK_FALSE(document_scope::parse(R"(["notes"])"));

  auto v = verifier_with({jwt_key{{}, jwt_algorithm::hs256, k_secret}});
  auto id = v.verify(sign(JWT_ALG_HS256, k_secret,
                          R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":9,"stet":{"docs":{"notes":"viewer"}}})"),
                     1);
  REQUIRE(id);
  REQUIRE(id->scope);
  CHECK(id->scope->role_for("notes") == role::viewer);
  CHECK_FALSE(v.verify(sign(JWT_ALG_HS256, k_secret,
                            R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":9,"stet":{"docs":{"n":"god"}}})"),
                       1));
  CHECK_FALSE(
    v.verify(sign(JWT_ALG_HS256, k_secret, R"({"sub":"u","iss":"https://idp.example","aud":"stet","exp":9,"stet":1})"), 1));
}
