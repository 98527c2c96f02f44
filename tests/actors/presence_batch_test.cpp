#include "actors/presence_batch.hpp"

#include <doctest/doctest.h>

using namespace stet;
using namespace std::chrono_literals;

namespace {

wire::Presence joined(const std::string& client) {
  wire::Presence p;
  p.set_doc_id("d");
  p.set_client_id(client);
  return p;
}

wire::Presence cursor(const std::string& client, std::uint32_t at) {
  auto p = joined(client);
  p.set_cursor(at);
  p.set_anchor(at);
  return p;
}

wire::Presence left(const std::string& client) {
  auto p = joined(client);
  p.set_left(true);
  return p;
}

const presence_batch::clock::time_point t0{};

} // namespace

TEST_CASE("presence_batch: the first change after a quiet interval goes at once, a burst waits for the next") {
  presence_batch b{100ms, 1000ms};
  CHECK_FALSE(b.due(t0));
  b.add("s-a", joined("a"));
  CHECK(b.due(t0) == t0);
  CHECK(b.take(t0).size() == 1);
  CHECK_FALSE(b.due(t0));

  // Joins right after: one hand-over a roster interval later.
  b.add("s-b", joined("b"));
  b.add("s-c", joined("c"));
  CHECK(b.due(t0 + 10ms) == t0 + 1000ms);
  // A cursor move pulls everything pending forward to the cursor interval.
  b.add("s-a", cursor("a", 3));
  CHECK(b.due(t0 + 10ms) == t0 + 100ms);
  auto out = b.take(t0 + 100ms);
  REQUIRE(out.size() == 3);
  CHECK(out[0].presence.client_id() == "b");
  CHECK(out[0].origin_session == "s-b");
  CHECK(out[2].presence.cursor() == 3);

  // Quiet for longer than the interval: the next change goes at once again.
  b.add("s-d", joined("d"));
  CHECK(b.due(t0 + 1100ms) == t0 + 1100ms);
}

TEST_CASE("presence_batch: a client's latest change replaces its pending one, in first-seen order") {
  presence_batch b{100ms, 1000ms};
  b.take(t0);
  b.add("s-a", joined("a"));
  b.add("s-b", cursor("b", 1));
  b.add("s-a", cursor("a", 7));
  b.add("s-b", left("b"));
  b.add("s-b2", joined("b")); // b came back on a new session
  auto out = b.take(t0 + 1s);
  REQUIRE(out.size() == 2);
  CHECK(out[0].presence.client_id() == "a");
  CHECK(out[0].presence.cursor() == 7);
  CHECK(out[1].presence.client_id() == "b");
  CHECK_FALSE(out[1].presence.left());
  CHECK(out[1].origin_session == "s-b2");
}

TEST_CASE("presence_batch: zero intervals send every change at once") {
  presence_batch b;
  b.add("s-a", joined("a"));
  CHECK(b.due(t0) == t0);
  b.take(t0);
  b.add("s-b", joined("b"));
  CHECK(b.due(t0) == t0);
}
