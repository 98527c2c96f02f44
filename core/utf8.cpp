#include "core/utf8.hpp"

namespace stet::utf8 {

status check_text(std::string_view s, std::string_view what) {
  if (!is_valid(s))
    return make_error(errc::invalid_utf8, std::string{what} + " is not valid UTF-8");
  if (s.find('\0') != std::string_view::npos)
    return make_error(errc::nul_character, std::string{what} + " contains U+0000 (NUL), which stet does not store");
  return ok();
}

bool is_valid(std::string_view s) noexcept {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  auto end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t need;
    char32_t cp;
    char32_t min;
    if ((c & 0xE0) == 0xC0) {
      need = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      need = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= need)
      return false;
    for (std::size_t i = 1; i <= need; ++i) {
      if ((p[i] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += need + 1;
  }
  return true;
}

std::size_t length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

std::size_t byte_offset(std::string_view s, std::size_t index) noexcept {
  std::size_t i = 0;
  // Count lead bytes until we have passed `index` of them.
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (index == 0)
        return i;
      --index;
    }
  }
  return i;
}

std::string_view substr(std::string_view s, std::size_t first, std::size_t count) noexcept {
  auto begin = byte_offset(s, first);
  auto rest = s.substr(begin);
  return rest.substr(0, byte_offset(rest, count));
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

} // namespace stet::utf8
