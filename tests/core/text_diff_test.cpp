#include "core/text_diff.hpp"
#include "core/utf8.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

using namespace stet;

TEST_CASE("a text diff inserts and deletes only what changed") {
  auto op = diff_texts("hello world", "hello brave world");
  REQUIRE(op.components().size() == 2);
  CHECK(op.components()[0] == component{component_kind::retain, 6, ""});
  CHECK(op.components()[1] == component{component_kind::insert, 6, "brave "});
  CHECK(apply_to_string("hello world", op) == "hello brave world");
  CHECK(diff_texts("same", "same").is_noop());
  CHECK(apply_to_string("", diff_texts("", "\xF0\x9F\x98\x80 new")) == "\xF0\x9F\x98\x80 new");
  CHECK(apply_to_string("gone \xC3\xA9", diff_texts("gone \xC3\xA9", "")) == "");
  // Counted in code points: one emoji replaced by another is one of each.
  auto emoji = diff_texts("a\xF0\x9F\x98\x80" "b", "a\xF0\x9F\x98\x81" "b");
  CHECK(emoji.input_length() == 2);
  CHECK(emoji.length_delta() == 0);
}

TEST_CASE("a text diff stays small and quick on texts that differ everywhere") {
  // Every other character changed: more components than an edit may
  // carry, so the changed middle is replaced whole.
  std::string before, after;
  for (int i = 0; i < 8000; ++i) {
    before += (i % 2 ? 'a' : 'x');
    after += (i % 2 ? 'b' : 'x');
  }
  auto op = diff_texts(before, after);
  CHECK(op.components().size() <= k_max_diff_components);
  CHECK(apply_to_string(before, op) == after);
  // A long middle is not diffed at all (replaced whole, erased text kept).
  std::string long_before(30'000, 'p'), long_after = "q" + std::string(29'999, 'p') + "r";
  auto whole = diff_texts(long_before + "z", long_after + "z");
  CHECK(apply_to_string(long_before + "z", whole) == long_after + "z");
}

TEST_CASE("a text diff of random edits rebuilds the new text (property)") {
  std::mt19937 rng{20261207};
  const char* alphabet[] = {"a", "b", "c", " ", "\n", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
  auto random_text = [&](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i)
      s += alphabet[rng() % 8];
    return s;
  };
  for (int round = 0; round < 300; ++round) {
    auto before = random_text(rng() % 60);
    // After: a few edits of before, or something unrelated.
    std::string after = before;
    if (round % 10 == 0) {
      after = random_text(rng() % 60);
    } else {
      for (int k = rng() % 4; k >= 0; --k) {
        auto n = utf8::length(after);
        auto at = n ? rng() % (n + 1) : 0;
        auto cut = std::min<std::size_t>(rng() % 5, n - at);
        auto from = utf8::byte_offset(after, at), to = utf8::byte_offset(after, at + cut);
        after = after.substr(0, from) + random_text(rng() % 4) + after.substr(to);
      }
    }
    auto op = diff_texts(before, after);
    CHECK(op.input_length() <= utf8::length(before));
    CHECK(apply_to_string(before, op) == after);
  }
}
