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

namespace {

// What bus_seal::open reports for a payload of `stream` numbered `seq`.
bus_seal::opened payload(std::uint64_t stream, std::uint64_t seq, std::int64_t sent_ms = k_now) {
  return {true, bus_seal::refusal::malformed, {}, {stream, seq}, sent_ms};
}

bool admitted(auth::replay_guard& guard, const bus_seal::opened& p, std::int64_t now_ms,
              std::int64_t listening_since_ms = k_now - 60'000) {
  return !guard.admit(p, listening_since_ms, now_ms);
}

} // namespace

TEST_CASE("replay_guard admits each payload of a stream once, in order, and forgets idle streams") {
  auth::replay_guard guard;
  CHECK(admitted(guard, payload(1, 5), k_now));
  CHECK(guard.admit(payload(1, 5), 0, k_now) == bus_seal::refusal::replayed); // the same payload again
  CHECK_FALSE(admitted(guard, payload(1, 4), k_now)); // an older one
  CHECK(admitted(guard, payload(1, 9), k_now));       // numbers may skip: other channels
  CHECK(admitted(guard, payload(2, 1), k_now));       // another sender
  CHECK_FALSE(admitted(guard, payload(1, 9), k_now + 1000));
  CHECK(guard.streams() == 2);
  // Long after the last payload of stream 1, any payload of it fails the
  // time check, so the guard need not remember it.
  auto later = k_now + 2 * bus_seal::k_max_skew_ms + 2000;
  CHECK(admitted(guard, payload(3, 1, later), later));
  CHECK(guard.streams() == 1);
  CHECK(admitted(guard, payload(3, 2, later), later));
}

TEST_CASE("replay_guard: a stream first heard must have been sealed after the subscription began") {
  // A node restarted (or just subscribed to a document's channel) knows no
  // stream: a payload recorded from its previous life is refused, though it
  // is within the time check.
  auth::replay_guard guard;
  auto since = k_now;
  auto recorded = payload(1, 7, since - auth::replay_guard::k_subscribe_slack_ms - 1);
  CHECK(guard.admit(recorded, since, k_now + 100) == bus_seal::refusal::predates_subscription);
  CHECK(guard.streams() == 0);
  // Sealed just before the subscription was confirmed (a clock slightly
  // ahead, or in flight): admitted, and the stream is known from then on.
  CHECK(admitted(guard, payload(1, 8, since - 500), k_now + 100, since));
  CHECK_FALSE(admitted(guard, recorded, k_now + 300, since));
}

TEST_CASE("replay_guard: what a known sender sent while the node was away cannot be played to it later") {
  // Sender 1 is known; the node's subscription drops (a reconnect to Redis)
  // and is confirmed again at `back`. Payloads of sender 1 published in
  // the gap were never delivered, so their numbers are above the last one
  // admitted; they are refused by time all the same.
  auth::replay_guard guard;
  CHECK(admitted(guard, payload(1, 10, k_now), k_now, k_now - 1000));
  auto back = k_now + 20'000;
  auto in_gap = payload(1, 11, k_now + 5'000);
  CHECK(guard.admit(in_gap, back, back + 100) == bus_seal::refusal::predates_subscription);
  // What it sends after the node is back passes, skipped numbers and all.
  CHECK(admitted(guard, payload(1, 14, back + 50), back + 100, back));
}
