// Authenticates what nodes say to each other over Redis. Anything that can
// PUBLISH to Redis could otherwise speak for a node: join a session as any
// user, edit for any session, push frames to sessions. Every payload a node
// publishes is sealed with HMAC-SHA256 under the cluster key, bound to the
// channel it is published on and to the time it was sent; the receiving
// node opens it or drops it.
//
// Sealed form: version (1 byte, 1) | sent_ms (8 bytes, big-endian) |
// HMAC-SHA256(key, channel | 0x00 | version | sent_ms | body) (32) | body.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace stet::auth {

class bus_seal {
public:
  /// Shortest cluster key accepted, in bytes.
  static constexpr std::size_t k_min_key_bytes = 32;
  /// How far a sent_ms may lie from the receiver's clock: bounds how long a
  /// recorded payload can be replayed, and tolerates that much clock skew.
  static constexpr std::int64_t k_max_skew_ms = 30'000;

  /// Precondition: key.size() >= k_min_key_bytes (checked at start-up).
  explicit bus_seal(std::string key) : key_(std::move(key)) {
  }

  std::string seal(std::string_view channel, std::string_view body, std::int64_t now_ms) const;

  /// Why a payload was refused; the names label stet_bus_rejected_total.
  enum class refusal { malformed, bad_mac, stale };
  static std::string_view to_string(refusal r) noexcept;

  struct opened {
    bool ok = false;
    refusal why = refusal::malformed;
    std::string_view body{}; // a view into the payload opened
  };
  /// The body of `payload` received on `channel` at `now_ms`, or why not.
  opened open(std::string_view channel, std::string_view payload, std::int64_t now_ms) const;

  /// A MAC over `label` and `data` under the cluster key, hex (signed
  /// membership entries).
  std::string tag(std::string_view label, std::string_view data) const;

private:
  std::string mac(std::string_view channel, std::string_view header, std::string_view body) const;
  std::string key_;
};

} // namespace stet::auth
