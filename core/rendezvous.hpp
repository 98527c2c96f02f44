// Rendezvous (highest random weight) hashing: which live node owns a
// document. Every node computes the same answer from the same live set, and
// when a node joins or leaves only the documents it wins or held move.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stet {

/// A stable 64-bit hash (FNV-1a, then a splitmix finaliser): the same on
/// every node and build, unlike std::hash.
inline std::uint64_t stable_hash(std::string_view s, std::uint64_t seed = 0) noexcept {
  std::uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

/// The node in `nodes` with the highest weight for `doc_id` (ties broken by
/// name); empty when `nodes` is empty.
inline std::string rendezvous_owner(std::string_view doc_id, const std::vector<std::string>& nodes) {
  const std::string* best = nullptr;
  std::uint64_t best_weight = 0;
  auto doc_hash = stable_hash(doc_id);
  for (auto& n : nodes) {
    auto w = stable_hash(n, doc_hash);
    if (!best || w > best_weight || (w == best_weight && n < *best)) {
      best = &n;
      best_weight = w;
    }
  }
  return best ? *best : std::string{};
}

} // namespace stet
