#include "actors/commit_pipeline.hpp"

#include <doctest/doctest.h>

using namespace stet;

namespace {

storage::op_row row(std::uint64_t rev) {
  return {"d", rev, "op", "c", rev, 1000 + rev, 0, 0};
}

pending_notice notice(std::uint64_t seq, std::uint64_t rev) {
  pending_notice n;
  n.author_session = std::string{"s"}; // not = "s": GCC 12 warns falsely there (-Wrestrict)
  n.client_seq = seq;
  n.rev = rev;
  return n;
}

const commit_pipeline::time_point t0{};

} // namespace

TEST_CASE("commit pipeline: one write in flight; what is staged meanwhile goes as the next, released by its answer") {
  commit_pipeline p{10};
  CHECK(p.idle());
  p.stage(row(11), notice(1, 11));
  p.stage(storage::session_event{"s", "d", "n", "", 5, true});
  CHECK(p.staged());
  auto first = p.send(t0);
  CHECK(first.ops.size() == 1);
  CHECK(first.sessions.size() == 1);
  CHECK_FALSE(p.staged());
  CHECK(p.in_flight());
  CHECK(p.oldest_sent() == t0);
  // Ordered while the first is out: staged for the next write.
  p.stage(row(12), notice(2, 12));
  p.stage(row(13), notice(3, 13));
  CHECK(p.edits_waiting() == 3);
  auto released = p.committed();
  REQUIRE(released.size() == 1);
  CHECK(released[0].rev == 11);
  CHECK(p.committed_rev() == 11);
  CHECK_FALSE(p.in_flight());
  auto second = p.send(t0 + std::chrono::milliseconds(5));
  CHECK(second.ops.size() == 2);
  CHECK(p.oldest_sent() == t0 + std::chrono::milliseconds(5));
  released = p.committed();
  REQUIRE(released.size() == 2);
  CHECK(released[1].rev == 13);
  CHECK(p.committed_rev() == 13);
  CHECK(p.edits_waiting() == 0);
  CHECK(p.idle());
  CHECK_FALSE(p.oldest_sent());
}

TEST_CASE("commit pipeline: a duplicate is acked with a write, never before the edit it repeats is durable") {
  commit_pipeline p{0};
  p.stage(row(1), notice(1, 1));
  auto original = p.send(t0);
  // The resend arrives while the original is in flight: it has no row of
  // its own, yet it waits for a write of its own behind the original's.
  p.stage(std::nullopt, notice(1, 1));
  CHECK(p.staged());
  auto released = p.committed();
  CHECK(released.size() == 1);
  auto resend = p.send(t0);
  CHECK(resend.ops.empty());
  released = p.committed();
  REQUIRE(released.size() == 1);
  CHECK(released[0].client_seq == 1);
  CHECK(p.committed_rev() == 1); // a duplicate's empty write does not move it
}
