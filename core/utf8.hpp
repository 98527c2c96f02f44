// UTF-8 helpers for the pure core. Positions in stet count Unicode code points,
// so every boundary between "bytes on the wire" and "positions in a document"
// goes through these functions.
#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace stet::utf8 {

/// True when `s` is well-formed UTF-8: no overlong forms, no surrogates, no
/// code point above U+10FFFF, no truncated sequence.
bool is_valid(std::string_view s) noexcept;

/// Whether `s` may be stored as text: well-formed UTF-8 (else invalid_utf8)
/// without U+0000 (else nul_character). PostgreSQL's `text` cannot hold
/// U+0000 and libpq reads parameters as C strings, so stet refuses it on
/// every backend rather than let one of them cut a document short. `what`
/// names the field in the error.
status check_text(std::string_view s, std::string_view what);

/// Number of code points in `s`. Precondition: `is_valid(s)`.
std::size_t length(std::string_view s) noexcept;

/// Byte offset of code point `index` in `s` (or `s.size()` when `index` equals
/// the code point count). Precondition: `is_valid(s)` and `index <= length(s)`.
std::size_t byte_offset(std::string_view s, std::size_t index) noexcept;

/// The code points [first, first + count) of `s`, as a view into `s`.
/// Precondition: the range lies inside `s`.
std::string_view substr(std::string_view s, std::size_t first, std::size_t count) noexcept;

/// Appends the UTF-8 encoding of `cp` to `out`. Precondition: `cp` is a
/// Unicode scalar value.
void append(std::string& out, char32_t cp);

} // namespace stet::utf8
