#include "core/text_buffer.hpp"

#include "core/utf8.hpp"
#include "tests/test_support.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace stet;

namespace {

// Reference model: one std::string per code point.
std::string join(const std::vector<std::string>& cps, std::size_t first = 0, std::size_t n = SIZE_MAX) {
  std::string s;
  for (std::size_t i = first; i < cps.size() && i - first < n; ++i)
    s += cps[i];
  return s;
}

std::vector<std::string> split_cps(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < utf8::length(s); ++i)
    out.emplace_back(utf8::substr(s, i, 1));
  return out;
}

} // namespace

TEST_CASE("text_buffer matches a reference model under random edits") {
  std::mt19937 rng(42);
  const std::vector<std::string> alphabet{"a", "b", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\n"};
  for (int round = 0; round < 20; ++round) {
    text_buffer buf;
    std::vector<std::string> model;
    for (int step = 0; step < 2000; ++step) {
      std::uniform_int_distribution<std::size_t> pos(0, model.size());
      auto p = pos(rng);
      if (model.empty() || rng() % 3 != 0) {
        // Mostly small inserts, sometimes a large one that forces a split.
        auto n = rng() % 20 == 0 ? 300 + rng() % 700 : 1 + rng() % 5;
        auto text = test::random_text(rng, n, alphabet);
        buf.insert(p, text);
        auto cps = split_cps(text);
        model.insert(model.begin() + static_cast<std::ptrdiff_t>(p), cps.begin(), cps.end());
      } else {
        auto n = std::min<std::size_t>(model.size() - std::min(p, model.size()), rng() % 40);
        if (p == model.size())
          continue;
        buf.erase(p, n);
        model.erase(model.begin() + static_cast<std::ptrdiff_t>(p),
                    model.begin() + static_cast<std::ptrdiff_t>(p + n));
      }
      REQUIRE(buf.size() == model.size());
      if (step % 97 == 0) {
        auto first = model.empty() ? 0 : rng() % model.size();
        CHECK(buf.substr(first, 50) == join(model, first, 50));
      }
    }
    auto expected = join(model);
    CHECK(buf.str() == expected);
    CHECK(buf.size_bytes() == expected.size());
    text_buffer copy = buf;
    copy.insert(0, "x");
    CHECK(buf.str() == expected);
  }
}

TEST_CASE("text_buffer holds a 10 MB document and edits it anywhere") {
  std::string big(10 * 1024 * 1024, 'x');
  text_buffer buf{big};
  CHECK(buf.size() == big.size());
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    auto p = rng() % buf.size();
    if (i % 2 == 0)
      buf.insert(p, "ab");
    else
      buf.erase(p, 2);
  }
  CHECK(buf.size() == big.size());
  CHECK(buf.size_bytes() == big.size());
}
