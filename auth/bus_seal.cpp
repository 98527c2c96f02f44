#include "auth/bus_seal.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace stet::auth {

namespace {

constexpr unsigned char k_version = 2;
constexpr std::size_t k_header = 1 + 8 + 8 + 8;
constexpr std::size_t k_mac = 32;

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out += static_cast<char>((v >> shift) & 0xFF);
}

std::uint64_t get_u64(std::string_view in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

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
    case refusal::replayed: return "replayed";
    case refusal::predates_subscription: return "predates_subscription";
  }
  return "malformed";
}

std::string bus_seal::mac(std::string_view channel, std::string_view header, std::string_view body) const {
  static constexpr char separator = '\0';
  return hmac_sha256(key_, {channel, std::string_view{&separator, 1}, header, body});
}

std::string bus_seal::seal(std::string_view channel, std::string_view body, std::int64_t now_ms,
                           origin from) const {
  std::string out;
  out.reserve(k_header + k_mac + body.size());
  out += static_cast<char>(k_version);
  put_u64(out, static_cast<std::uint64_t>(now_ms));
  put_u64(out, from.stream);
  put_u64(out, from.seq);
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
  auto sent = static_cast<std::int64_t>(get_u64(header.substr(1)));
  if (sent > now_ms + k_max_skew_ms || sent < now_ms - k_max_skew_ms)
    return {false, refusal::stale};
  return {true, refusal::malformed, body, {get_u64(header.substr(9)), get_u64(header.substr(17))}, sent};
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

std::optional<bus_seal::refusal> replay_guard::admit(const bus_seal::opened& p, std::int64_t listening_since_ms,
                                                     std::int64_t now_ms) {
  // A payload passes the time check for 2 * k_max_skew_ms at most (sent
  // within the skew of one clock, received within it of another).
  constexpr std::int64_t k_remember_ms = 2 * bus_seal::k_max_skew_ms + 1000;
  if (now_ms - swept_ms_ > k_remember_ms / 4) {
    swept_ms_ = now_ms;
    std::erase_if(streams_, [&](const auto& s) { return now_ms - s.second.at_ms > k_remember_ms; });
  }
  // Redis never delivers what was published before the subscription:
  // whatever was sealed before it was recorded, from a known sender too.
  if (p.sent_ms < listening_since_ms - k_subscribe_slack_ms)
    return bus_seal::refusal::predates_subscription;
  auto it = streams_.find(p.from.stream);
  if (it == streams_.end()) {
    streams_.emplace(p.from.stream, heard{p.from.seq, now_ms});
    return std::nullopt;
  }
  if (p.from.seq <= it->second.seq)
    return bus_seal::refusal::replayed;
  it->second = {p.from.seq, now_ms};
  return std::nullopt;
}

} // namespace stet::auth
