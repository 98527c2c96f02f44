#include "auth/bus_seal.hpp"

#include <doctest/doctest.h>

using namespace stet;
using auth::bus_seal;

namespace {
const bus_seal k_seal{"a-cluster-key-of-at-least-32-bytes-long"};
constexpr std::int64_t k_now = 1'800'000'000'000;
constexpr bus_seal::origin k_from{0x1234'5678'9abc'def0, 7};
} // namespace

TEST_CASE("bus_seal opens what it sealed for the same channel, byte-exact") {
  std::string body("env\0elope\xff", 10);
  auto sealed = k_seal.seal("stet:node:a", body, k_now, k_from);
  auto opened = k_seal.open("stet:node:a", sealed, k_now + 5);
  REQUIRE(opened.ok);
  CHECK(opened.body == body);
  CHECK(opened.from.stream == k_from.stream);
  CHECK(opened.from.seq == k_from.seq);
}

TEST_CASE("bus_seal refuses forged, moved, tampered, stale and truncated payloads") {
  auto sealed = k_seal.seal("stet:node:a", "edit", k_now, k_from);
  auto why = [](const bus_seal::opened& o) { return o.ok ? std::string{"ok"} : std::string{bus_seal::to_string(o.why)}; };
  CHECK(why(bus_seal{"another-key-of-at-least-32-bytes-long!!"}.open("stet:node:a", sealed, k_now)) == "bad_mac");
  CHECK(why(k_seal.open("stet:node:b", sealed, k_now)) == "bad_mac"); // replayed to another node
  auto tampered = sealed;
  tampered.back() ^= 1;
  CHECK(why(k_seal.open("stet:node:a", tampered, k_now)) == "bad_mac");
  auto older = sealed;
  older[8] ^= 1; // the sent time is signed too
  CHECK(why(k_seal.open("stet:node:a", older, k_now)) == "bad_mac");
  auto renumbered = sealed;
  renumbered[24] ^= 1; // and the place in the sender's stream
  CHECK(why(k_seal.open("stet:node:a", renumbered, k_now)) == "bad_mac");
  CHECK(why(k_seal.open("stet:node:a", sealed, k_now + bus_seal::k_max_skew_ms + 1)) == "stale");
  CHECK(why(k_seal.open("stet:node:a", sealed, k_now - bus_seal::k_max_skew_ms - 1)) == "stale");
  CHECK(why(k_seal.open("stet:node:a", "edit", k_now)) == "malformed");
  CHECK(why(k_seal.open("stet:node:a", sealed.substr(0, 40), k_now)) == "malformed");
  CHECK(why(k_seal.open("stet:node:a", "", k_now)) == "malformed");
}

TEST_CASE("bus_seal tags differ by label, data and key") {
  CHECK(k_seal.tag("member", "n1#5") == k_seal.tag("member", "n1#5"));
  CHECK(k_seal.tag("member", "n1#5") != k_seal.tag("member", "n1#6"));
  CHECK(k_seal.tag("member", "n1#5") != k_seal.tag("other", "n1#5"));
  CHECK(bus_seal{"another-key-of-at-least-32-bytes-long!!"}.tag("member", "n1#5") != k_seal.tag("member", "n1#5"));
}

TEST_CASE("replay_guard admits each payload of a stream once, in order, and forgets idle streams") {
  auth::replay_guard guard;
  CHECK(guard.admit({1, 5}, k_now));
  CHECK_FALSE(guard.admit({1, 5}, k_now)); // the same payload again
  CHECK_FALSE(guard.admit({1, 4}, k_now)); // an older one
  CHECK(guard.admit({1, 9}, k_now));       // numbers may skip: other channels
  CHECK(guard.admit({2, 1}, k_now));       // another sender
  CHECK_FALSE(guard.admit({1, 9}, k_now + 1000));
  CHECK(guard.streams() == 2);
  // Long after the last payload of stream 1, any payload of it fails the
  // time check, so the guard need not remember it.
  auto later = k_now + 2 * bus_seal::k_max_skew_ms + 2000;
  CHECK(guard.admit({3, 1}, later));
  CHECK(guard.streams() == 1);
  CHECK(guard.admit({3, 2}, later));
}
