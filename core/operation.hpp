// An edit to a whole document: a list of components `retain n | insert text |
// erase n` (the ot.js / ShareDB text form). Lengths count code points. The
// trailing retain is implicit, so an operation applies to any document at
// least `input_length()` code points long.
#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stet {

class text_buffer;

enum class component_kind : std::uint8_t { retain, insert, erase };

struct component {
  component_kind kind;
  /// Code points retained, inserted or erased.
  std::size_t length;
  /// insert: the inserted text. erase: the removed text when known (the
  /// server fills it in when it applies an edit, which makes committed
  /// operations invertible), else empty.
  std::string text;

  bool operator==(const component&) const = default;
};

/// A normalised operation: no empty components, neighbours of one kind merged,
/// an insert always before an adjacent erase, no trailing retain. Building
/// through the member functions keeps it that way.
class operation {
public:
  operation& retain(std::size_t n);
  /// Precondition: `text` is valid UTF-8.
  operation& insert(std::string_view text);
  /// As above, with the code point count already known.
  operation& insert(std::string_view text, std::size_t length);
  /// `removed`, when given, must be the `n` code points being erased.
  operation& erase(std::size_t n, std::string_view removed = {});
  /// Appends a component of any kind (used by the algorithms).
  operation& push(const component& c);
  /// Room for `n` components (the algorithms know their output's size).
  void reserve(std::size_t n) {
    components_.reserve(n);
  }

  const std::vector<component>& components() const noexcept {
    return components_;
  }
  /// Minimum document length this operation applies to (a trailing retain,
  /// though not a component, still counts: it says the document is that long).
  std::size_t input_length() const noexcept;
  /// Code points inserted minus code points erased.
  std::ptrdiff_t length_delta() const noexcept;
  /// UTF-8 bytes inserted (an upper bound on growth).
  std::size_t inserted_bytes() const noexcept;
  /// True when applying it changes nothing.
  bool is_noop() const noexcept {
    return components_.empty();
  }

  /// Equal when they change a document the same way.
  bool operator==(const operation& other) const noexcept {
    return components_ == other.components_;
  }

private:
  friend status apply(text_buffer& doc, operation& op);
  friend bool shift_past(std::size_t position, std::size_t erased, std::size_t inserted, operation& later);

  std::vector<component> components_;
  // Retains are held back until something follows them, so a trailing retain
  // never enters components_.
  std::size_t pending_retain_ = 0;
  void flush_retain();
};

/// Applies `op` to `doc` and records the removed text in `op`'s erase
/// components. On error (`out_of_range`) `doc` and `op` are unchanged.
status apply(text_buffer& doc, operation& op);

/// Applies `op` to a plain string (tests and small tools). Precondition: the
/// operation fits.
std::string apply_to_string(std::string_view doc, const operation& op);

/// The single operation equivalent to applying `a` and then `b`.
operation compose(const operation& a, const operation& b);

/// The inverse of `op` as applied to a document (needs the removed texts).
operation invert(const operation& op);

std::string to_debug_string(const operation& op);

} // namespace stet
