// Walks an operation's components, handing out pieces of a requested length.
// Internal to the core's algorithms (compose, transform).
#pragma once

#include "core/operation.hpp"
#include "core/utf8.hpp"

namespace stet {

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

  /// The next `n` code points of the current component. Precondition:
  /// `!done()` and `n <= remaining()`.
  component take(std::size_t n) {
    const auto& c = cs_[index_];
    component piece{c.kind, n, {}};
    if (!c.text.empty()) {
      std::string_view rest{c.text};
      rest.remove_prefix(byte_offset_);
      auto bytes = n == remaining() ? rest.size() : utf8::byte_offset(rest, n);
      piece.text.assign(rest.substr(0, bytes));
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
