#include "auth/bus_seal.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace stet::auth {

namespace {

constexpr unsigned char k_version = 1;
constexpr std::size_t k_header = 1 + 8;
constexpr std::size_t k_mac = 32;

std::string hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts) {
  std::string message;
  for (auto p : parts)
    message.append(p);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

} // namespace

std::string_view bus_seal::to_string(refusal r) noexcept {
  switch (r) {
    case refusal::malformed: return "malformed";
    case refusal::bad_mac: return "bad_mac";
    case refusal::stale: return "stale";
  }
  return "malformed";
}

std::string bus_seal::mac(std::string_view channel, std::string_view header, std::string_view body) const {
  static constexpr char separator = '\0';
  return hmac_sha256(key_, {channel, std::string_view{&separator, 1}, header, body});
}

std::string bus_seal::seal(std::string_view channel, std::string_view body, std::int64_t now_ms) const {
  std::string out;
  out.reserve(k_header + k_mac + body.size());
  out += static_cast<char>(k_version);
  auto ms = static_cast<std::uint64_t>(now_ms);
  for (int shift = 56; shift >= 0; shift -= 8)
    out += static_cast<char>((ms >> shift) & 0xFF);
  out += mac(channel, out, body);
  out.append(body);
  return out;
}

bus_seal::opened bus_seal::open(std::string_view channel, std::string_view payload, std::int64_t now_ms) const {
  if (payload.size() < k_header + k_mac || static_cast<unsigned char>(payload[0]) != k_version)
    return {false, refusal::malformed};
  auto header = payload.substr(0, k_header);
  auto body = payload.substr(k_header + k_mac);
  auto expected = mac(channel, header, body);
  if (CRYPTO_memcmp(expected.data(), payload.data() + k_header, k_mac) != 0)
    return {false, refusal::bad_mac};
  std::uint64_t ms = 0;
  for (std::size_t i = 1; i < k_header; ++i)
    ms = (ms << 8) | static_cast<unsigned char>(payload[i]);
  auto sent = static_cast<std::int64_t>(ms);
  if (sent > now_ms + k_max_skew_ms || sent < now_ms - k_max_skew_ms)
    return {false, refusal::stale};
  return {true, refusal::malformed, body};
}

std::string bus_seal::tag(std::string_view label, std::string_view data) const {
  static constexpr char separator = '\0';
  static constexpr char hex[] = "0123456789abcdef";
  auto raw = hmac_sha256(key_, {label, std::string_view{&separator, 1}, data});
  std::string out;
  for (unsigned char c : raw.substr(0, 16)) {
    out += hex[c >> 4];
    out += hex[c & 0xF];
  }
  return out;
}

} // namespace stet::auth
