#include "core/operation.hpp"

#include "core/text_buffer.hpp"
#include "core/utf8.hpp"
#include "tests/test_support.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace stet;

namespace {
const std::vector<std::string> k_alphabet{"a", "b", "c", "\xC3\xA9", "\xF0\x9F\x98\x80"};
}

TEST_CASE("operation builder normalises") {
  operation op;
  op.retain(2).retain(3).insert("ab").insert("c").erase(1).erase(2).retain(4);
  REQUIRE(op.components().size() == 3);
  CHECK(op.components()[0] == component{component_kind::retain, 5, {}});
  CHECK(op.components()[1].text == "abc");
  CHECK(op.components()[2].length == 3);
  CHECK(op.input_length() == 12); // the trailing retain is no component but still counts
  operation swapped;
  swapped.erase(2).insert("x");
  CHECK(swapped.components()[0].kind == component_kind::insert);
  CHECK(operation{}.retain(0).insert("").erase(0).is_noop());
}

TEST_CASE("apply counts code points and records removed text") {
  text_buffer doc{"h\xC3\xA9llo \xF0\x9F\x98\x80!"};
  operation op;
  op.retain(1).erase(1, {}).insert("e").retain(4).erase(1).insert(":)");
  REQUIRE(apply(doc, op));
  CHECK(doc.str() == "hello :)!");
  CHECK(op.components()[2].text == "\xC3\xA9");
  CHECK(op.components()[5].text == "\xF0\x9F\x98\x80");
  CHECK(apply_to_string(std::string_view{"h\xC3\xA9llo \xF0\x9F\x98\x80!"}, op) == "hello :)!");
}

TEST_CASE("apply rejects an operation longer than the document and changes nothing") {
  text_buffer doc{"abc"};
  operation op;
  op.retain(2).erase(5);
  auto r = apply(doc, op);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::out_of_range);
  CHECK(doc.str() == "abc");
}

TEST_CASE("compose agrees with applying in sequence (random)") {
  std::mt19937 rng(1);
  for (int i = 0; i < 5000; ++i) {
    auto doc = test::random_text(rng, rng() % 12, k_alphabet);
    auto a = test::random_operation(rng, utf8::length(doc), k_alphabet);
    auto mid = apply_to_string(doc, a);
    auto b = test::random_operation(rng, utf8::length(mid), k_alphabet);
    auto expected = apply_to_string(mid, b);
    auto ab = compose(a, b);
    REQUIRE_MESSAGE(apply_to_string(doc, ab) == expected, to_debug_string(a), " then ", to_debug_string(b));
  }
}

TEST_CASE("invert undoes an applied operation (random)") {
  std::mt19937 rng(2);
  for (int i = 0; i < 2000; ++i) {
    auto text = test::random_text(rng, rng() % 12, k_alphabet);
    text_buffer doc{text};
    auto op = test::random_operation(rng, doc.size(), k_alphabet);
    REQUIRE(apply(doc, op));
    auto inv = invert(op);
    REQUIRE(apply(doc, inv));
    CHECK(doc.str() == text);
  }
}
