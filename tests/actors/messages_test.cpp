#include "actors/messages.hpp"

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
