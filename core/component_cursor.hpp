// Walks an operation's components, handing out pieces of a requested length.
// Internal to the core's algorithms (compose, transform).
#pragma once

#include "core/operation.hpp"
#include "core/utf8.hpp"

namespace stet {

/// A piece of a component whose text lives in the operation it came from.
struct component_view {
  component_kind kind;
  std::size_t length;
  std::string_view text;
};

class component_cursor {
public:
  explicit component_cursor(const operation& op) : cs_(op.components()) {
  }

  bool done() const noexcept {
    return index_ == cs_.size();
  }
  component_kind kind() const noexcept {
    return cs_[index_].kind;
  }
  std::size_t remaining() const noexcept {
    return cs_[index_].length - offset_;
  }

  /// The next `n` code points of the current component, viewing the
  /// operation's text (valid while it lives). Precondition: `!done()` and
  /// `n <= remaining()`.
  component_view take_view(std::size_t n) {
    const auto& c = cs_[index_];
    component_view piece{c.kind, n, {}};
    if (!c.text.empty()) {
      std::string_view rest{c.text};
      rest.remove_prefix(byte_offset_);
      auto bytes = n == remaining() ? rest.size() : utf8::byte_offset(rest, n);
      piece.text = rest.substr(0, bytes);
      byte_offset_ += bytes;
    }
    offset_ += n;
    if (offset_ == c.length) {
      ++index_;
      offset_ = 0;
      byte_offset_ = 0;
    }
    return piece;
  }

  /// As take_view, with the text copied.
  component take(std::size_t n) {
    auto v = take_view(n);
    return component{v.kind, v.length, std::string{v.text}};
  }

  /// Moves past the next `n` code points without copying them.
  void skip(std::size_t n) {
    const auto& c = cs_[index_];
    if (n == remaining()) {
      ++index_;
      offset_ = 0;
      byte_offset_ = 0;
      return;
    }
    if (!c.text.empty())
      byte_offset_ += utf8::byte_offset(std::string_view{c.text}.substr(byte_offset_), n);
    offset_ += n;
  }

  component take_all() {
    return take(remaining());
  }

private:
  const std::vector<component>& cs_;
  std::size_t index_ = 0;
  std::size_t offset_ = 0;
  std::size_t byte_offset_ = 0;
};

} // namespace stet
