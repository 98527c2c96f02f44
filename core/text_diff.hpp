// The operation that turns one text into another, changing as little as a
// shortest edit script does (libdtl, Myers' O(ND) algorithm), so that
// people typing elsewhere in the document keep their text and cursors
// when a whole new text is written over it.
#pragma once

#include "core/operation.hpp"

#include <cstddef>
#include <string_view>

namespace stet {

/// Code points of a changed middle (after the common prefix and suffix)
/// above which it is replaced as a whole rather than diffed: a shortest
/// script costs time in (length x differences), ~0.1 s at this size.
constexpr std::size_t k_max_diffed_code_points = 20'000;
/// Components of a diff above which the middle is replaced as a whole
/// instead (an edit may have at most 10,000).
constexpr std::size_t k_max_diff_components = 5'000;

/// An operation that applied to `before` gives `after`. Preconditions:
/// both are valid UTF-8.
operation diff_texts(std::string_view before, std::string_view after);

} // namespace stet
