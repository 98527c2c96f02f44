// Hybrid logical clock: timestamps that follow wall-clock milliseconds but
// never go backwards, even when the wall clock does or when a document moves
// to a node whose clock lags (the last stamp is stored with the document).
#pragma once

#include <cstdint>

namespace stet {

class hybrid_clock {
public:
  /// `last` is the newest stamp ever issued for this document (0 if none).
  explicit hybrid_clock(std::uint64_t last = 0) noexcept : last_(last) {
  }

  /// Returns a stamp strictly greater than every earlier one and not below
  /// `physical_ms` milliseconds. Layout: milliseconds << 16 | logical counter.
  std::uint64_t stamp(std::uint64_t physical_ms) noexcept {
    auto candidate = physical_ms << k_logical_bits;
    last_ = candidate > last_ ? candidate : last_ + 1;
    return last_;
  }

  std::uint64_t last() const noexcept {
    return last_;
  }

  static constexpr std::uint64_t milliseconds_of(std::uint64_t stamp) noexcept {
    return stamp >> k_logical_bits;
  }

  static constexpr int k_logical_bits = 16;

private:
  std::uint64_t last_;
};

} // namespace stet
