#include "actors/read_throttle.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using stet::read_credit;
using stet::read_throttle;

namespace {
std::vector<read_credit> take(read_throttle& t, int n) {
  std::vector<read_credit> out;
  for (int i = 0; i < n; ++i)
    out.push_back(t.take());
  return out;
}
} // namespace

TEST_CASE("read_throttle: over the high mark pauses, below the low mark resumes") {
  auto t = std::make_shared<read_throttle>(100, 50);
  auto held = take(*t, 100);
  CHECK_FALSE(t->over());
  held.push_back(t->take());
  CHECK(t->over());
  int resumed = 0;
  REQUIRE(t->park([&] { ++resumed; }));
  REQUIRE(t->park([&] { ++resumed; }));
  CHECK(t->parked() == 2);
  held.resize(50); // 50 out: not below the low mark yet
  CHECK(t->out() == 50);
  CHECK(resumed == 0);
  held.pop_back(); // 49: crossed
  CHECK(resumed == 2);
  CHECK(t->parked() == 0);
  held.clear();
  CHECK(t->out() == 0);
  CHECK(resumed == 2);
}

TEST_CASE("read_throttle: a credit returns when its last copy goes") {
  auto t = std::make_shared<read_throttle>(10, 5);
  auto credit = t->take();
  auto copy = credit;
  credit.reset();
  CHECK(t->out() == 1);
  copy.reset();
  CHECK(t->out() == 0);
}

TEST_CASE("read_throttle: credits keep the throttle alive") {
  read_credit credit;
  {
    auto t = std::make_shared<read_throttle>(10, 5);
    credit = t->take();
  }
  credit.reset(); // gives back to a throttle nobody else holds: no crash
}

TEST_CASE("read_throttle: a session that parks after the crossing reads on") {
  auto t = std::make_shared<read_throttle>(10, 5);
  auto held = take(*t, 11);
  CHECK(t->over());
  held.resize(4); // below the low mark before the session parks
  CHECK_FALSE(t->park([] { FAIL("must not be kept"); }));
  CHECK(t->parked() == 0);
}

TEST_CASE("read_throttle: a high mark of 1 still resumes") {
  auto t = std::make_shared<read_throttle>(1, 0);
  auto held = take(*t, 2);
  CHECK(t->over());
  bool resumed = false;
  REQUIRE(t->park([&] { resumed = true; }));
  held.clear();
  CHECK(resumed);
}

TEST_CASE("read_throttle: a high mark of 0 never pauses") {
  auto t = std::make_shared<read_throttle>(0, 0);
  auto held = take(*t, 1000);
  CHECK_FALSE(t->over());
  held.clear();
  CHECK(t->out() == 0);
}

TEST_CASE("read_throttle: no parked session is forgotten while credits come and go on other threads") {
  // One thread takes credits, another returns them, a third parks whenever
  // the throttle is over; once every credit is back, every parked session
  // must have been resumed exactly once.
  auto t = std::make_shared<read_throttle>(64, 32);
  constexpr int rounds = 20000;
  std::atomic<int> parks{0}, resumes{0};
  std::atomic<bool> done{false};
  std::mutex m;
  std::vector<read_credit> passing;
  std::thread reader{[&] {
    for (int i = 0; i < rounds; ++i) {
      auto c = t->take();
      std::lock_guard lock{m};
      passing.push_back(std::move(c));
    }
  }};
  std::thread handler{[&] {
    while (t->parked() == 0) // the reader outruns it until the session parks
      std::this_thread::yield();
    for (int handled = 0; handled < rounds;) {
      read_credit c;
      {
        std::lock_guard lock{m};
        if (passing.empty())
          continue;
        c = std::move(passing.back());
        passing.pop_back();
      }
      c.reset();
      ++handled;
    }
  }};
  std::thread session{[&] {
    while (!done.load()) {
      if (t->over() && t->park([&] { resumes.fetch_add(1); }))
        parks.fetch_add(1);
    }
  }};
  reader.join();
  handler.join();
  done = true;
  session.join();
  CHECK(t->out() == 0);
  CHECK(t->parked() == 0);
  CHECK(parks.load() > 0);
  CHECK(parks.load() == resumes.load());
}
