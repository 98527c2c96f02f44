#include "core/resend_gate.hpp"

#include <doctest/doctest.h>

using stet::resend_gate;

TEST_CASE("resend_gate: admits everything until an edit is refused") {
  resend_gate g;
  CHECK(g.admits(1));
  CHECK(g.admits(7));
  CHECK(g.first_refused() == 0);
}

TEST_CASE("resend_gate: after a refusal, later edits wait for the refused one") {
  resend_gate g;
  g.refused(2);
  CHECK_FALSE(g.admits(3));
  CHECK_FALSE(g.admits(4));
  CHECK(g.admits(1)); // an older resend goes on and leaves the gate shut
  CHECK_FALSE(g.admits(3));
  CHECK(g.admits(2)); // the refused one opens it
  CHECK(g.admits(3));
  CHECK(g.first_refused() == 0);
}

TEST_CASE("resend_gate: the earliest refusal counts") {
  resend_gate g;
  g.refused(5);
  g.refused(3);
  g.refused(4);
  CHECK(g.first_refused() == 3);
  CHECK_FALSE(g.admits(4));
  CHECK(g.admits(3));
  CHECK(g.admits(4));
}

TEST_CASE("resend_gate: a resend refused again shuts it again") {
  resend_gate g;
  g.refused(2);
  CHECK(g.admits(2));
  g.refused(2);
  CHECK_FALSE(g.admits(3));
}
