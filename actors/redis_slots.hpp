// Redis Cluster's key space, without I/O: which of the 16384 slots a key or
// channel hashes to (CRC16 of the key, or of its first non-empty {hash tag}),
// which master serves each slot (parsed from CLUSTER NODES), and where a
// MOVED or ASK redirect points.
#pragma once

#include "actors/redis_commands.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace stet {

constexpr int k_redis_slots = 16384;
/// Redis Cluster's own ceiling is about 1,000 nodes.
constexpr std::size_t k_max_cluster_nodes = 2000;

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
std::uint16_t redis_crc16(std::string_view bytes) noexcept;
/// The slot of `key`: only what is inside its first `{...}` counts, when
/// that is not empty.
int redis_key_slot(std::string_view key) noexcept;

/// The master ("host:port") serving each slot; "" where none does.
struct redis_slot_map {
  std::vector<std::string> owner = std::vector<std::string>(k_redis_slots);
  /// Every node CLUSTER NODES named (replicas too), by "host:port": the
  /// only places a redirect is followed to.
  std::map<std::string, redis_endpoint> nodes;

  /// Every slot has a master.
  bool complete() const;
  std::set<std::string> masters() const;
};

/// Reads CLUSTER NODES: every master not marked failed serves the slots it
/// lists (ranges and single slots; slots being migrated are skipped). A
/// node that knows no address of its own is `asked_host`. Errors:
/// invalid_argument when a line is not a cluster node, a host is not a
/// plain name or address, two masters claim a slot, or the reply is larger
/// than any real cluster's (k_max_cluster_nodes lines).
result<redis_slot_map> parse_cluster_nodes(std::string_view text, std::string_view asked_host);

/// A redirect in an error reply: "MOVED 3999 127.0.0.1:6381" (the slot
/// lives there now) or "ASK 3999 127.0.0.1:6381" (ask there once, after
/// ASKING: the slot is being moved).
struct redis_redirect {
  bool ask = false;
  int slot = 0;
  redis_endpoint at;
};
std::optional<redis_redirect> parse_redirect(std::string_view error);

} // namespace stet
