// The load generator's frame reader against frames the server's codec
// prints: if the printing changes shape, the benchmark stops attributing
// deliveries, and this test says so first.
#include "bench/loadgen/frame.hpp"
#include "proto/codec.hpp"

#include <doctest/doctest.h>

using namespace stet;

namespace {

std::string printed(const wire::ServerMessage& m) {
  return wire::encode(m, wire::frame_format::json);
}

} // namespace

TEST_CASE("the load generator reads kind, rev, clientSeq and the writer's tag from frames the codec prints") {
  wire::ServerMessage applied;
  auto* a = applied.mutable_applied();
  a->set_doc_id("bench-3");
  a->set_rev(12345678901234ull);
  a->add_ops()->set_retain(7);
  a->add_ops()->set_insert("w42.aaaa \"quoted\" rev clientSeq");
  a->set_author("anon-x");
  a->set_ts(99);
  a->set_client_seq(17);
  auto f = loadgen::read_frame(printed(applied));
  REQUIRE(f);
  CHECK(f->kind == "applied");
  CHECK(f->rev == 12345678901234ull);
  CHECK(f->client_seq == 17);
  REQUIRE(f->writer);
  CHECK(*f->writer == 42);

  wire::ServerMessage ack;
  ack.mutable_ack()->set_doc_id("bench-3");
  ack.mutable_ack()->set_client_seq(5);
  ack.mutable_ack()->set_rev(9);
  f = loadgen::read_frame(printed(ack));
  REQUIRE(f);
  CHECK(f->kind == "ack");
  CHECK(f->rev == 9);
  CHECK(f->client_seq == 5);
  CHECK_FALSE(f->writer);

  wire::ServerMessage snap;
  snap.mutable_snapshot()->set_doc_id("d");
  snap.mutable_snapshot()->set_rev(3);
  snap.mutable_snapshot()->set_text("some \"text\"");
  f = loadgen::read_frame(printed(snap));
  REQUIRE(f);
  CHECK(f->kind == "snapshot");
  CHECK(f->rev == 3);

  CHECK_FALSE(loadgen::read_frame("not json"));
}
