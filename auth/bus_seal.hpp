// Authenticates what nodes say to each other over Redis. Anything that can
// PUBLISH to Redis could otherwise speak for a node: join a session as any
// user, edit for any session, push frames to sessions. Every payload a node
// publishes is sealed with HMAC-SHA256 under the cluster key, bound to the
// channel it is published on, to the time it was sent and to its place in
// the sender's stream; the receiving node opens it or drops it, and a
// `replay_guard` drops a payload it has opened before.
//
// Sealed form: version (1 byte, 2) | sent_ms (8 bytes, big-endian) |
// stream (8) | seq (8) | HMAC-SHA256(key, channel | 0x00 | header) (32) |
// body, where header is everything before the MAC. A stream is one
// sender process's publications, numbered from 1 in the order it writes
// them to its one Redis connection; Redis delivers them in that order.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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

  /// Who sealed a payload: the sender's stream (random per process) and
  /// the payload's number in it.
  struct origin {
    std::uint64_t stream = 0;
    std::uint64_t seq = 0;
  };

  std::string seal(std::string_view channel, std::string_view body, std::int64_t now_ms, origin from) const;

  /// Why a payload was refused; the names label stet_bus_rejected_total.
  enum class refusal { malformed, bad_mac, stale, replayed, predates_subscription };
  static std::string_view to_string(refusal r) noexcept;

  struct opened {
    bool ok = false;
    refusal why = refusal::malformed;
    std::string_view body{}; // a view into the payload opened
    origin from{};
    std::int64_t sent_ms = 0;
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

/// Drops payloads opened before: per stream, only numbers above the highest
/// one admitted pass. A stream is forgotten once nothing was heard from it
/// for longer than any of its payloads could still pass the time check, so
/// memory is bounded by the senders of the last minute, each of which had
/// to hold the cluster key to get here. One thread (the bridge's) uses it.
///
/// Every payload must also have been sealed after the receiver's
/// subscription to its channel was last confirmed, less
/// k_subscribe_slack_ms for clock differences between nodes: Redis only
/// delivers what is published while one listens, so anything older was
/// recorded. What was sent to a node while it was away (restarting, or
/// reconnecting to Redis), or before it subscribed to a document, cannot be
/// played to it later, whether its sender is known or not; a stream not
/// known yet has no number to compare with, so this is its only check.
class replay_guard {
public:
  static constexpr std::int64_t k_subscribe_slack_ms = 2'000;

  /// Why `p` (opened on a channel subscribed to since
  /// `listening_since_ms`) must be dropped, or nullopt to admit it.
  std::optional<bus_seal::refusal> admit(const bus_seal::opened& p, std::int64_t listening_since_ms,
                                         std::int64_t now_ms);
  std::size_t streams() const noexcept {
    return streams_.size();
  }

private:
  struct heard {
    std::uint64_t seq;
    std::int64_t at_ms;
  };
  std::unordered_map<std::uint64_t, heard> streams_;
  std::int64_t swept_ms_ = 0;
};

} // namespace stet::auth
