#include "core/utf8.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace stet;

TEST_CASE("utf8::is_valid accepts well-formed text and rejects the rest") {
  CHECK(utf8::is_valid(""));
  CHECK(utf8::is_valid("plain ascii"));
  CHECK(utf8::is_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK_FALSE(utf8::is_valid("\xC3"));             // truncated
  CHECK_FALSE(utf8::is_valid("\xC0\xAF"));         // overlong '/'
  CHECK_FALSE(utf8::is_valid("\xED\xA0\x80"));     // UTF-16 surrogate
  CHECK_FALSE(utf8::is_valid("\xF4\x90\x80\x80")); // above U+10FFFF
  CHECK_FALSE(utf8::is_valid("\xFF"));
  CHECK_FALSE(utf8::is_valid("a\x80z"));           // stray continuation
}

TEST_CASE("utf8 positions count code points") {
  std::string s = "a\xC3\xA9\xF0\x9F\x98\x80z"; // a é 😀 z
  CHECK(utf8::length(s) == 4);
  CHECK(utf8::byte_offset(s, 0) == 0);
  CHECK(utf8::byte_offset(s, 2) == 3);
  CHECK(utf8::byte_offset(s, 3) == 7);
  CHECK(utf8::byte_offset(s, 4) == 8);
  CHECK(utf8::substr(s, 1, 2) == "\xC3\xA9\xF0\x9F\x98\x80");
}

TEST_CASE("check_text refuses U+0000 and invalid UTF-8, naming the field") {
  CHECK(utf8::check_text("caf\xC3\xA9", "title"));
  auto nul = utf8::check_text(std::string_view{"a\0b", 3}, "title");
  REQUIRE_FALSE(nul);
  CHECK(nul.error().code == errc::nul_character);
  CHECK(nul.error().message.find("title") == 0);
  auto bad = utf8::check_text("\xFF", "title");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_utf8);
}
