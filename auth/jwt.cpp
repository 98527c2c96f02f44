#include "auth/jwt.hpp"

#include "auth/token.hpp"
#include "core/ids.hpp"
#include "core/utf8.hpp"

#include <jwt.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace stet::auth {

namespace {

using json = nlohmann::json;

error bad_token(std::string why) {
  return make_error(errc::unauthorized, "token refused: " + std::move(why));
}

jwt_alg_t libjwt_algorithm(jwt_algorithm alg) {
  switch (alg) {
    case jwt_algorithm::hs256: return JWT_ALG_HS256;
    case jwt_algorithm::rs256: return JWT_ALG_RS256;
    case jwt_algorithm::es256: return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

result<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::invalid_argument, "cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::int64_t> seconds_claim(const json& value) {
  constexpr std::int64_t k_limit = std::int64_t{1} << 62; // room for leeway arithmetic
  if (value.is_number_unsigned())
    return value.get<std::uint64_t>() > std::uint64_t{k_limit} ? std::nullopt
                                                                 : std::optional<std::int64_t>{value.get<std::int64_t>()};
  if (value.is_number_integer()) {
    auto v = value.get<std::int64_t>();
    return v > k_limit || v < -k_limit ? std::nullopt : std::optional<std::int64_t>{v};
  }
  if (value.is_number_float()) {
    auto d = value.get<double>();
    if (d > -4e18 && d < 4e18)
      return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<std::string> string_claim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string())
    return std::nullopt;
  return it->get<std::string>();
}

// A claim shown to people or stored as a name: UTF-8, no control
// characters, bounded.
bool printable(std::string_view s, std::size_t max_bytes) {
  if (s.empty() || s.size() > max_bytes || !utf8::is_valid(s))
    return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

result<jwt_identity> identity_of(const json& claims, const jwt_settings& settings, std::int64_t now) {
  if (!claims.is_object())
    return bad_token("its payload is not a JSON object");
  auto exp = claims.find("exp");
  auto expires = exp == claims.end() ? std::nullopt : seconds_claim(*exp);
  if (!expires)
    return bad_token("it has no exp claim (an expiry is required)");
  jwt_identity id;
  id.expires_at = *expires;
  if (now > id.expires_at + settings.leeway_seconds)
    return bad_token("it expired");
  if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
    auto not_before = seconds_claim(*nbf);
    if (!not_before)
      return bad_token("nbf is not a number");
    if (now + settings.leeway_seconds < *not_before)
      return bad_token("it is not valid yet (nbf)");
  }
  id.issuer = string_claim(claims, "iss").value_or("");
  if (!settings.issuer.empty() && id.issuer != settings.issuer)
    return bad_token("wrong issuer");
  if (!id.issuer.empty() && !printable(id.issuer, 256))
    return bad_token("iss must be printable text of at most 256 bytes");
  if (!settings.audience.empty()) {
    auto aud = claims.find("aud");
    bool ok = aud != claims.end()
              && ((aud->is_string() && aud->get<std::string>() == settings.audience)
                  || (aud->is_array() && std::any_of(aud->begin(), aud->end(), [&](const json& a) {
                        return a.is_string() && a.get<std::string>() == settings.audience;
                      })));
    if (!ok)
      return bad_token("wrong audience");
  }
  auto sub = string_claim(claims, "sub");
  if (!sub || !printable(*sub, 256))
    return bad_token("sub must be printable text of 1-256 bytes");
  id.subject = *sub;
  auto name = string_claim(claims, "name");
  id.display_name = name && printable(*name, 128) ? *name : id.subject;
  if (auto stet = claims.find("stet"); stet != claims.end()) {
    auto docs = stet->is_object() ? stet->find("docs") : stet->end();
    if (docs == stet->end() || !docs->is_object())
      return bad_token("the stet claim must be {\"docs\": {id: role, ...}}");
    auto scope = document_scope::parse(docs->dump());
    if (!scope)
      return bad_token(scope.error().message);
    id.scope = std::make_shared<const document_scope>(std::move(*scope));
  }
  return id;
}

} // namespace

std::string_view to_string(jwt_algorithm alg) {
  switch (alg) {
    case jwt_algorithm::hs256: return "HS256";
    case jwt_algorithm::rs256: return "RS256";
    case jwt_algorithm::es256: return "ES256";
  }
  return "?";
}

bool looks_like_jwt(std::string_view token) {
  return std::count(token.begin(), token.end(), '.') == 2;
}

// -- scope --

result<document_scope> document_scope::parse(std::string_view text) {
  auto docs = json::parse(text, nullptr, false);
  if (!docs.is_object())
    return make_error(errc::invalid_argument, "stet.docs must be an object");
  document_scope scope;
  for (auto& [pattern, value] : docs.items()) {
    role r = value.is_string() ? parse_role(value.get<std::string>()) : role::none;
    if (r == role::none)
      return make_error(errc::invalid_argument, "stet.docs[\"" + pattern + "\"] must be owner, editor, commenter or viewer");
    bool prefix = !pattern.empty() && pattern.back() == '*';
    auto stem = prefix ? pattern.substr(0, pattern.size() - 1) : pattern;
    if (!(prefix && stem.empty()) && !valid_doc_id(stem))
      return make_error(errc::invalid_argument, "stet.docs has a key that is not a document id or id prefix*");
    (prefix ? scope.prefixes_ : scope.exact_).emplace_back(stem, r);
  }
  std::sort(scope.prefixes_.begin(), scope.prefixes_.end(),
            [](auto& a, auto& b) { return a.first.size() > b.first.size(); });
  return scope;
}

role document_scope::role_for(std::string_view doc_id) const {
  for (auto& [id, r] : exact_)
    if (id == doc_id)
      return r;
  for (auto& [stem, r] : prefixes_)
    if (doc_id.starts_with(stem))
      return r;
  return role::none;
}

// -- verifier --

jwt_verifier::jwt_verifier(jwt_settings settings, std::vector<jwt_key> keys)
  : settings_(std::move(settings)), fixed_keys_(keys),
    keys_(std::make_shared<const std::vector<jwt_key>>(std::move(keys))) {
}

result<std::shared_ptr<jwt_verifier>> jwt_verifier::open(jwt_settings settings) {
  std::vector<jwt_key> keys;
  if (!settings.public_key_file.empty()) {
    auto pem = read_file(settings.public_key_file);
    if (!pem)
      return pem.error();
    auto key = parse_public_key(std::move(*pem));
    if (!key)
      return make_error(errc::invalid_argument, settings.public_key_file + ": " + key.error().message);
    keys.push_back(std::move(*key));
  }
  if (!settings.secret_file.empty()) {
    auto secret = read_file(settings.secret_file);
    if (!secret)
      return secret.error();
    while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r'))
      secret->pop_back();
    if (secret->size() < token_signer::k_min_key_bytes)
      return make_error(errc::invalid_argument, settings.secret_file + ": an HS256 secret needs at least 32 bytes");
    keys.push_back(jwt_key{{}, jwt_algorithm::hs256, std::move(*secret)});
  }
  auto verifier = std::make_shared<jwt_verifier>(std::move(settings), std::move(keys));
  if (!verifier->settings_.jwks_file.empty())
    if (auto st = verifier->reload(); !st)
      return st.error();
  return verifier;
}

status jwt_verifier::reload() {
  if (settings_.jwks_file.empty())
    return ok();
  auto text = read_file(settings_.jwks_file);
  if (!text)
    return text.error();
  auto jwks = parse_jwks(*text);
  if (!jwks)
    return make_error(errc::invalid_argument, settings_.jwks_file + ": " + jwks.error().message);
  auto all = fixed_keys_;
  all.insert(all.end(), jwks->begin(), jwks->end());
  std::lock_guard lock{mutex_};
  keys_ = std::make_shared<const std::vector<jwt_key>>(std::move(all));
  return ok();
}

std::shared_ptr<const std::vector<jwt_key>> jwt_verifier::keys() const {
  std::lock_guard lock{mutex_};
  return keys_;
}

result<jwt_identity> jwt_verifier::verify(std::string_view token, std::int64_t now) const {
  if (token.size() > 16 * 1024)
    return bad_token("it is longer than 16 KiB");
  auto dot = token.find('.');
  auto last = token.rfind('.');
  std::string header_text, payload_text, signature;
  // Every part non-empty and strict base64url before libjwt sees it (it
  // decodes leniently and reads the payload before the signature).
  if (!looks_like_jwt(token) || !base64url_decode(token.substr(0, dot), header_text)
      || !base64url_decode(token.substr(dot + 1, last - dot - 1), payload_text)
      || !base64url_decode(token.substr(last + 1), signature) || header_text.empty() || payload_text.empty())
    return bad_token("not a JWT (header.payload.signature)");
  auto header = json::parse(header_text, nullptr, false);
  if (!header.is_object() || !header.contains("alg") || !header["alg"].is_string())
    return bad_token("the JWT header has no alg");
  // The header only says which configured key to try: a token cannot pick
  // an algorithm (none, or HS256 keyed with a public key) the key is not for.
  auto alg = parse_algorithm(header["alg"].get<std::string>());
  if (!alg)
    return bad_token("algorithm " + header["alg"].get<std::string>() + " is not accepted (RS256, ES256, HS256)");
  std::string kid = header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>() : "";
  // Candidates: the keys for the header's algorithm with its kid, else
  // (no kid, or none matches) those configured without one (a PEM or
  // secret file); each is tried, so two keys of one algorithm both work.
  auto keys = this->keys();
  std::vector<const jwt_key*> candidates;
  for (auto& k : *keys)
    if (k.alg == *alg && !kid.empty() && k.kid == kid)
      candidates.push_back(&k);
  if (candidates.empty())
    for (auto& k : *keys)
      if (k.alg == *alg && (kid.empty() || k.kid.empty()))
        candidates.push_back(&k);
  if (candidates.empty())
    return bad_token(kid.empty() ? "no " + std::string{to_string(*alg)} + " key is configured"
                                 : "no " + std::string{to_string(*alg)} + " key has kid " + kid);
  std::string copy{token};
  jwt_t* decoded = nullptr;
  const jwt_key* key = nullptr;
  for (auto* k : candidates) {
    if (jwt_decode(&decoded, copy.c_str(), reinterpret_cast<const unsigned char*>(k->material.data()),
                   static_cast<int>(k->material.size()))
          == 0
        && decoded) {
      key = k;
      break;
    }
    if (decoded)
      jwt_free(decoded);
    decoded = nullptr;
  }
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> owned{decoded, jwt_free};
  if (!key)
    return bad_token("bad signature or malformed JWT");
  if (jwt_get_alg(decoded) != libjwt_algorithm(key->alg))
    return bad_token("the signature's algorithm is not the key's");
  char* grants = jwt_get_grants_json(decoded, nullptr);
  if (!grants)
    return bad_token("the JWT has no claims");
  auto claims = json::parse(grants, nullptr, false);
  std::free(grants);
  return identity_of(claims, settings_, now);
}

} // namespace stet::auth
