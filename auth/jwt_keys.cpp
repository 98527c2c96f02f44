// Keys of an identity provider: a PEM public key, or a JWKS document's
// RSA, EC P-256 and oct keys, built with OpenSSL's EVP into the PEM form
// libjwt verifies with.
#include "auth/jwt.hpp"

#include "auth/token.hpp"

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

namespace stet::auth {

namespace {

using json = nlohmann::json;

// -- OpenSSL objects, freed on every path --

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct bn_free {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct param_free {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct bld_free {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ctx_free {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::optional<std::string> to_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, bio_free> bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    return std::nullopt;
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A public key from OpenSSL parameters: RSA (n, e) or EC (group, pub).
pkey_ptr key_from(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, param_free> params{OSSL_PARAM_BLD_to_param(bld)};
  std::unique_ptr<EVP_PKEY_CTX, ctx_free> ctx{EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr)};
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
      || EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return nullptr;
  return pkey_ptr{key};
}

// A JWK member as a string; "" when absent or of another type (nlohmann's
// value() would throw on a wrong type).
std::string member(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool b64(const json& jwk, const char* field, std::string& out) {
  auto it = jwk.find(field);
  return it != jwk.end() && it->is_string() && base64url_decode(it->get<std::string>(), out) && !out.empty();
}

result<jwt_key> rsa_jwk(const json& jwk) {
  std::string n, e;
  if (!b64(jwk, "n", n) || !b64(jwk, "e", e))
    return make_error(errc::invalid_argument, "an RSA key needs base64url n and e");
  auto bytes = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  std::unique_ptr<BIGNUM, bn_free> bn_n{BN_bin2bn(bytes(n), static_cast<int>(n.size()), nullptr)};
  std::unique_ptr<BIGNUM, bn_free> bn_e{BN_bin2bn(bytes(e), static_cast<int>(e.size()), nullptr)};
  std::unique_ptr<OSSL_PARAM_BLD, bld_free> bld{OSSL_PARAM_BLD_new()};
  if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get())
      || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    return make_error(errc::invalid_argument, "cannot build the RSA key");
  auto key = key_from("RSA", bld.get());
  if (!key || EVP_PKEY_get_bits(key.get()) < 2048)
    return make_error(errc::invalid_argument, "an RSA key must be valid and at least 2048 bits");
  auto pem = to_pem(key.get());
  if (!pem)
    return make_error(errc::invalid_argument, "cannot encode the RSA key");
  return jwt_key{{}, jwt_algorithm::rs256, std::move(*pem)};
}

result<jwt_key> ec_jwk(const json& jwk) {
  std::string x, y;
  if (member(jwk, "crv") != "P-256" || !b64(jwk, "x", x) || !b64(jwk, "y", y) || x.size() != 32 || y.size() != 32)
    return make_error(errc::invalid_argument, "an EC key must be P-256 with 32-byte x and y");
  std::string point = "\x04" + x + y;
  std::unique_ptr<OSSL_PARAM_BLD, bld_free> bld{OSSL_PARAM_BLD_new()};
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0)
      || !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
    return make_error(errc::invalid_argument, "cannot build the EC key");
  auto key = key_from("EC", bld.get());
  auto pem = key ? to_pem(key.get()) : std::nullopt;
  if (!pem)
    return make_error(errc::invalid_argument, "the EC key's point is not on P-256");
  return jwt_key{{}, jwt_algorithm::es256, std::move(*pem)};
}

result<jwt_key> oct_jwk(const json& jwk) {
  std::string k;
  if (!b64(jwk, "k", k) || k.size() < token_signer::k_min_key_bytes)
    return make_error(errc::invalid_argument, "an oct key needs k of at least 32 bytes");
  return jwt_key{{}, jwt_algorithm::hs256, std::move(k)};
}

// A NumericDate claim as whole seconds; nullopt when it is not a number a
// date can be (a float past int64 would be undefined to convert).
} // namespace

std::optional<jwt_algorithm> parse_algorithm(std::string_view name) {
  if (name == "HS256")
    return jwt_algorithm::hs256;
  if (name == "RS256")
    return jwt_algorithm::rs256;
  if (name == "ES256")
    return jwt_algorithm::es256;
  return std::nullopt;
}

result<jwt_key> parse_public_key(std::string pem) {
  std::unique_ptr<BIO, bio_free> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  pkey_ptr key{bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr};
  if (!key)
    return make_error(errc::invalid_argument, "not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  if (EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key.get()) < 2048)
      return make_error(errc::invalid_argument, "an RSA key must have at least 2048 bits");
    return jwt_key{{}, jwt_algorithm::rs256, std::move(pem)};
  }
  char group[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_EC
      && EVP_PKEY_get_group_name(key.get(), group, sizeof group, &len) == 1 && std::string_view{group} == "prime256v1")
    return jwt_key{{}, jwt_algorithm::es256, std::move(pem)};
  return make_error(errc::invalid_argument, "the public key must be RSA (RS256) or EC P-256 (ES256)");
}

result<std::vector<jwt_key>> parse_jwks(std::string_view text) try {
  auto doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return make_error(errc::invalid_argument, "a JWKS document is {\"keys\": [...]}");
  std::vector<jwt_key> keys;
  for (auto& jwk : doc["keys"]) {
    if (!jwk.is_object())
      return make_error(errc::invalid_argument, "every JWKS key must be an object");
    // Keys for encryption, or for algorithms stet does not verify, are
    // not used; an identity provider's set often holds some.
    if (jwk.contains("use") && member(jwk, "use") != "sig")
      continue;
    auto kty = member(jwk, "kty");
    auto kid = member(jwk, "kid");
    // A key stet cannot use (P-384, RSA below 2048 bits, only x5c) is
    // skipped, not fatal: a rotation that adds one must not take the
    // usable keys down with it.
    result<jwt_key> key = kty == "RSA" ? rsa_jwk(jwk)
                          : kty == "EC" ? ec_jwk(jwk)
                          : kty == "oct" ? oct_jwk(jwk)
                                         : make_error(errc::invalid_argument, "key type " + kty + " is not used");
    if (!key)
      continue;
    if (jwk.contains("alg")) {
      auto alg = jwk["alg"].is_string() ? parse_algorithm(jwk["alg"].get<std::string>()) : std::nullopt;
      if (alg != key->alg)
        continue;
    }
    key->kid = kid;
    keys.push_back(std::move(*key));
  }
  if (keys.empty())
    return make_error(errc::invalid_argument, "the JWKS document has no RS256, ES256 or HS256 signing key");
  return keys;
} catch (const std::exception& e) {
  return make_error(errc::invalid_argument, std::string{"the JWKS document could not be read: "} + e.what());
}

} // namespace stet::auth
