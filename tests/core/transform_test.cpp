#include "core/transform.hpp"

#include "core/text_buffer.hpp"
#include "core/utf8.hpp"
#include "tests/test_support.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace stet;

namespace {

const std::vector<std::string> k_base_alphabet{"a", "b", "c", "\xC3\xA9"};
const std::vector<std::string> k_earlier_alphabet{"X", "Y", "\xF0\x9F\x98\x80"};
const std::vector<std::string> k_later_alphabet{"\xCE\xB1", "\xCE\xB2", "Z"}; // α β Z

// Applies through text_buffer so erase components carry their removed text,
// as committed operations on the server do.
operation committed(const std::string& doc, operation op) {
  text_buffer buf{doc};
  REQUIRE(apply(buf, op));
  return op;
}

std::string run(const std::string& doc, const operation& a, const operation& b) {
  return apply_to_string(apply_to_string(doc, a), b);
}

struct change_span {
  std::size_t position, erased;
  std::string inserted;
};

// Independent restatement of the conflict rule over character positions.
std::vector<change_span> spans(const operation& op) {
  std::vector<change_span> out;
  std::size_t pos = 0;
  bool open = false;
  for (auto& c : op.components()) {
    if (c.kind == component_kind::retain) {
      pos += c.length, open = false;
      continue;
    }
    if (!open)
      out.push_back({pos, 0, {}}), open = true;
    if (c.kind == component_kind::insert)
      out.back().inserted += c.text;
    else
      out.back().erased += c.length, pos += c.length;
  }
  return out;
}

bool touches(const change_span& e, const change_span& l) {
  for (auto i = e.position; i < e.position + e.erased; ++i)
    if (i >= l.position && i < l.position + l.erased)
      return true;
  auto inside = [](std::size_t p, const change_span& s) { return s.position < p && p < s.position + s.erased; };
  return (!e.inserted.empty() && inside(e.position, l)) || (!l.inserted.empty() && inside(l.position, e));
}

std::size_t count_code_points_of(const std::string& text, const std::vector<std::string>& alphabet) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < utf8::length(text); ++i) {
    auto cp = utf8::substr(text, i, 1);
    for (auto& a : alphabet)
      n += cp == a;
  }
  return n;
}

} // namespace

TEST_CASE("merge: transformed operations converge (random)") {
  std::mt19937 rng(11);
  for (int i = 0; i < 10000; ++i) {
    auto doc = test::random_text(rng, rng() % 10, k_base_alphabet);
    auto n = utf8::length(doc);
    auto a = committed(doc, test::random_operation(rng, n, k_earlier_alphabet));
    auto b = committed(doc, test::random_operation(rng, n, k_later_alphabet));
    auto r = transform(a, b, conflict_policy::merge);
    auto left = run(doc, a, r.later);
    REQUIRE_MESSAGE(left == run(doc, b, r.earlier), doc, " a=", to_debug_string(a), " b=", to_debug_string(b));
    CHECK(r.dropped.empty());
    // Nothing inserted is lost.
    for (auto& s : spans(a))
      CHECK(left.find(s.inserted) != std::string::npos);
    for (auto& s : spans(b))
      CHECK(left.find(s.inserted) != std::string::npos);
  }
}

TEST_CASE("merge: concurrent inserts at one position are ordered by serialisation") {
  operation a, b;
  a.retain(1).insert("X");
  b.retain(1).insert("Y");
  auto r = transform(a, b, conflict_policy::merge);
  CHECK(run("ab", a, r.later) == "aXYb");
}

TEST_CASE("lww: converges, drops exactly the conflicting changes, keeps the rest (random)") {
  std::mt19937 rng(12);
  int conflicts_seen = 0;
  for (int i = 0; i < 10000; ++i) {
    auto doc = test::random_text(rng, rng() % 10, k_base_alphabet);
    auto n = utf8::length(doc);
    auto a = committed(doc, test::random_operation(rng, n, k_earlier_alphabet));
    auto b = committed(doc, test::random_operation(rng, n, k_later_alphabet));
    auto r = transform(a, b, conflict_policy::lww);
    auto left = run(doc, a, r.later);
    REQUIRE_MESSAGE(left == run(doc, b, r.earlier), doc, " a=", to_debug_string(a), " b=", to_debug_string(b));

    auto a_spans = spans(a), b_spans = spans(b);
    std::size_t expected_drops = 0;
    std::size_t kept_earlier_cps = 0;
    for (auto& e : a_spans) {
      bool conflicting = false;
      for (auto& l : b_spans)
        conflicting = conflicting || touches(e, l);
      expected_drops += conflicting;
      bool reported = false;
      for (auto& d : r.dropped)
        reported = reported || (d.position == e.position && d.inserted == e.inserted);
      CHECK(reported == conflicting);
      if (!conflicting)
        kept_earlier_cps += utf8::length(e.inserted);
    }
    CHECK(r.dropped.size() == expected_drops);
    // The earlier edit writes with its own alphabet: exactly the text of its
    // kept changes survives, none of its dropped ones.
    CHECK(count_code_points_of(left, k_earlier_alphabet) == kept_earlier_cps);
    conflicts_seen += expected_drops > 0;
    // The later edit always stands: every insert it made is present.
    for (auto& l : b_spans)
      CHECK(left.find(l.inserted) != std::string::npos);
  }
  CHECK(conflicts_seen > 1000); // the generator really exercises the rule
}

TEST_CASE("transform_later is transform's later side, with the same drops (random)") {
  std::mt19937 rng(14);
  for (auto policy : {conflict_policy::lww, conflict_policy::merge}) {
    for (int i = 0; i < 5000; ++i) {
      auto doc = test::random_text(rng, rng() % 12, k_base_alphabet);
      auto n = utf8::length(doc);
      auto a = committed(doc, test::random_operation(rng, n, k_earlier_alphabet));
      auto b = committed(doc, test::random_operation(rng, n, k_later_alphabet));
      auto full = transform(a, b, policy);
      std::vector<dropped_change> dropped{{99, "kept", "as is"}}; // appended to, not replaced
      auto later = b;
      transform_later(a, later, policy, dropped);
      REQUIRE_MESSAGE(later == full.later, doc, " a=", to_debug_string(a), " b=", to_debug_string(b));
      REQUIRE(dropped.size() == full.dropped.size() + 1);
      CHECK(dropped[0].position == 99);
      for (std::size_t d = 0; d < full.dropped.size(); ++d) {
        CHECK(dropped[d + 1].position == full.dropped[d].position);
        CHECK(dropped[d + 1].inserted == full.dropped[d].inserted);
        CHECK(dropped[d + 1].erased == full.dropped[d].erased);
      }
    }
  }
}

TEST_CASE("transform_later moves later's retains in place where the changes miss each other (random)") {
  // Earlier: one change (as most edits are), anywhere, ties included. Later:
  // up to three changes whose inserts are long enough to live on the heap,
  // so an unmoved text buffer shows that `later` was rewritten in place.
  std::mt19937 rng(31);
  int in_place = 0, rebuilt = 0;
  for (auto policy : {conflict_policy::lww, conflict_policy::merge}) {
    for (int i = 0; i < 20000; ++i) {
      auto doc = test::random_text(rng, rng() % 10, k_base_alphabet);
      auto n = utf8::length(doc);
      auto at = rng() % (n + 1);
      auto cut = rng() % (n - at + 1);
      operation e;
      e.retain(at).insert(test::random_text(rng, rng() % 3, k_earlier_alphabet)).erase(cut);
      if (e.is_noop())
        continue;
      auto a = committed(doc, e);
      operation l;
      std::size_t pos = 0;
      for (int c = rng() % 4; c > 0 && pos <= n; --c) {
        auto skip = rng() % (n - pos + 1);
        auto erase = rng() % (n - pos - skip + 1);
        l.retain(skip).insert(test::random_text(rng, rng() % 2 ? 16 + rng() % 4 : 0, k_later_alphabet)).erase(erase);
        pos += skip + erase;
      }
      l.retain(n - pos); // a trailing retain, as clients send
      auto b = committed(doc, l);
      const char* text_before = nullptr;
      for (auto& c : b.components())
        if (c.kind == component_kind::insert && !text_before)
          text_before = c.text.data();
      auto full = transform(a, b, policy);
      std::vector<dropped_change> dropped;
      auto later = b;
      const char* copied_text = nullptr;
      for (auto& c : later.components())
        if (c.kind == component_kind::insert && !copied_text)
          copied_text = c.text.data();
      transform_later(a, later, policy, dropped);
      REQUIRE_MESSAGE(later == full.later, doc, " a=", to_debug_string(a), " b=", to_debug_string(b));
      CHECK(dropped.size() == full.dropped.size());
      // Applies after `a`, whatever path it took (its trailing retain too).
      text_buffer after{apply_to_string(doc, a)};
      auto copy = later;
      REQUIRE(apply(after, copy));
      CHECK(after.str() == run(doc, b, full.earlier));
      if (text_before) {
        bool moved_in_place = false;
        for (auto& c : later.components())
          moved_in_place = moved_in_place || (c.kind == component_kind::insert && c.text.data() == copied_text);
        ++(moved_in_place ? in_place : rebuilt);
      }
    }
  }
  // Both paths are exercised: most pairs miss each other.
  CHECK(in_place > 5000);
  CHECK(rebuilt > 1000);
}

TEST_CASE("lww: the later replacement of the same word stands") {
  std::string doc = "the cat sat";
  auto e = committed(doc, operation{}.retain(4).erase(3).insert("dog"));
  auto l = committed(doc, operation{}.retain(4).erase(3).insert("cow"));
  auto r = transform(e, l, conflict_policy::lww);
  CHECK(run(doc, e, r.later) == "the cow sat");
  CHECK(run(doc, l, r.earlier) == "the cow sat");
  REQUIRE(r.dropped.size() == 1);
  CHECK(r.dropped[0].inserted == "dog");
  CHECK(r.dropped[0].erased == "cat");
  // Under merge both survive.
  auto m = transform(e, l, conflict_policy::merge);
  CHECK(run(doc, e, m.later) == "the dogcow sat");
}

TEST_CASE("lww: an earlier insert inside a later deletion is dropped; disjoint edits merge") {
  std::string doc = "0123456789";
  auto e = committed(doc, operation{}.insert("A").retain(5).insert("B"));
  auto l = committed(doc, operation{}.retain(3).erase(4));
  auto r = transform(e, l, conflict_policy::lww);
  CHECK(run(doc, e, r.later) == "A012789");
  REQUIRE(r.dropped.size() == 1);
  CHECK(r.dropped[0].inserted == "B");
}

TEST_CASE("transform sequences agree: client and server compute the same text") {
  // Server order: a1, a2 (others), then p (client's, made against base).
  std::mt19937 rng(13);
  for (auto policy : {conflict_policy::lww, conflict_policy::merge}) {
    for (int i = 0; i < 3000; ++i) {
      auto doc = test::random_text(rng, 2 + rng() % 10, k_base_alphabet);
      text_buffer server{doc};
      auto a1 = test::random_operation(rng, server.size(), k_earlier_alphabet);
      REQUIRE(apply(server, a1));
      auto a2 = test::random_operation(rng, server.size(), k_earlier_alphabet);
      REQUIRE(apply(server, a2));
      auto p = committed(doc, test::random_operation(rng, utf8::length(doc), k_later_alphabet));
      // Server: transform p past a1 then a2.
      auto p1 = transform(a1, p, policy);
      auto p2 = transform(a2, p1.later, policy);
      REQUIRE(apply(server, p2.later));
      // Client: applied p optimistically, then receives a1, a2.
      auto client = apply_to_string(doc, p);
      auto c1 = transform(a1, p, policy);
      client = apply_to_string(client, c1.earlier);
      auto c2 = transform(a2, c1.later, policy);
      client = apply_to_string(client, c2.earlier);
      REQUIRE(client == server.str());
    }
  }
}
