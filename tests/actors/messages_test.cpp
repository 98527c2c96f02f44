#include "actors/messages.hpp"
#include "proto/codec.hpp"

#include <doctest/doctest.h>

using namespace stet;

TEST_CASE("an error keeps its code, message and detail across an actor's reply") {
  auto back = from_caf(to_caf(make_error(errc::fenced, "lease taken", "epoch 7 < 9")));
  CHECK(back.code == errc::fenced);
  CHECK(back.message == "lease taken");
  CHECK(back.detail == "epoch 7 < 9");
  CHECK(describe(back) == "lease taken (epoch 7 < 9)");
  CHECK(describe(make_error(errc::internal, "no detail")) == "no detail");
}

TEST_CASE("a stored document restores through its encoded op log, and a damaged log is refused") {
  document d{"d", conflict_policy::lww, {}, "hello"};
  for (std::uint64_t i = 1; i <= 3; ++i)
    REQUIRE(d.submit(edit{"a", 7, i, d.rev(), operation{}.retain(5).insert(std::to_string(i))}, 100 + i));
  loaded_document stored;
  stored.row.id = "d";
  stored.row.content = d.text_at(1);
  stored.row.snapshot_rev = 1;
  stored.row.rev = 3;
  for (std::uint64_t r = 1; r <= 3; ++r) {
    auto* e = d.entry(r);
    stored.ops.push_back({"d", r, wire::encode_stored(e->op), e->client_id, e->client_seq, e->ts, e->user_id});
  }
  stored.clients.push_back({client_key(7, "a"), 3, 3});
  auto restored = restore(stored, {});
  REQUIRE(restored);
  CHECK(restored->text().str() == d.text().str());
  CHECK(restored->text_at(1) == d.text_at(1));
  auto resend = restored->submit(edit{"a", 7, 3, 2, operation{}.retain(5).insert("3")}, 200);
  REQUIRE(resend);
  CHECK(resend->duplicate);

  stored.ops[2].ops = "\xFF not an operation";
  auto damaged = restore(stored, {});
  REQUIRE_FALSE(damaged);
  CHECK(damaged.error().code == errc::internal);
  CHECK(damaged.error().detail.find("rev 3") != std::string::npos);
}
