#include "core/hybrid_clock.hpp"

#include <doctest/doctest.h>

using stet::hybrid_clock;

TEST_CASE("hybrid_clock never goes backwards") {
  hybrid_clock clock;
  auto a = clock.stamp(1000);
  auto b = clock.stamp(1000); // same millisecond: logical counter moves
  auto c = clock.stamp(900);  // wall clock stepped back
  auto d = clock.stamp(2000);
  CHECK(a < b);
  CHECK(b < c);
  CHECK(c < d);
  CHECK(hybrid_clock::milliseconds_of(a) == 1000);
  CHECK(hybrid_clock::milliseconds_of(d) == 2000);
}

TEST_CASE("hybrid_clock resumes after the last stored stamp") {
  hybrid_clock first;
  auto last = first.stamp(5000);
  hybrid_clock moved{last}; // the document moved to a node whose clock lags
  CHECK(moved.stamp(10) > last);
}
