#include "auth/token.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace stet::auth {

namespace {
constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

std::string base64url(std::string_view bytes) {
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += k_alphabet[(buf >> bits) & 0x3F];
    }
  }
  if (bits > 0)
    out += k_alphabet[(buf << (6 - bits)) & 0x3F];
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  std::uint32_t buf = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = std::char_traits<char>::find(k_alphabet, 64, c);
    if (!p)
      return false;
    buf = (buf << 6) | static_cast<std::uint32_t>(p - k_alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xFF);
    }
  }
  return true;
}

std::string random_hex(std::size_t n) {
  std::string bytes(n, '\0');
  // Ids and keys made from predictable bytes would be guessable: without
  // randomness the process must not go on.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    std::fputs("stet: the system's random number generator failed\n", stderr);
    std::abort();
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += hex[c >> 4];
    out += hex[c & 0xF];
  }
  return out;
}

std::int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string token_signer::sign(std::string_view payload) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  return base64url(std::string_view{reinterpret_cast<const char*>(mac), len});
}

std::string token_signer::derive(std::string_view secret) const {
  std::string labelled = "stet anonymous client id";
  labelled += '\0';
  labelled.append(secret);
  return sign(labelled).substr(0, 16);
}

std::string token_signer::issue(const claims& c) const {
  nlohmann::json j{{"uid", c.user_id}, {"usr", c.username}, {"exp", c.expires_at}, {"ep", c.epoch}};
  auto payload = base64url(j.dump());
  return payload + "." + sign(payload);
}

result<claims> token_signer::verify(std::string_view token, std::int64_t now) const {
  auto dot = token.find('.');
  if (dot == std::string_view::npos)
    return make_error(errc::unauthorized, "malformed token");
  auto payload = token.substr(0, dot);
  auto mac = token.substr(dot + 1);
  auto expected = sign(payload);
  if (expected.size() != mac.size() || CRYPTO_memcmp(expected.data(), mac.data(), mac.size()) != 0)
    return make_error(errc::unauthorized, "token signature does not match");
  std::string json;
  if (!base64url_decode(payload, json))
    return make_error(errc::unauthorized, "malformed token");
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("uid") || !j.contains("exp"))
    return make_error(errc::unauthorized, "malformed token");
  claims c;
  c.user_id = j.value("uid", std::int64_t{0});
  c.username = j.value("usr", std::string{});
  c.expires_at = j.value("exp", std::int64_t{0});
  c.epoch = j.value("ep", std::int64_t{0});
  if (c.expires_at <= now)
    return make_error(errc::unauthorized, "token expired; log in again");
  return c;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned i = 0; i < len; ++i) {
    out += digits[mac[i] >> 4];
    out += digits[mac[i] & 0xF];
  }
  return out;
}

} // namespace stet::auth
