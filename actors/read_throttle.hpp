// Node-wide inbound backpressure. Every frame a session reads carries a
// read credit until the node has handled it: the gateway actor for most
// frames, the document's owner for an edit (it has been ordered and is
// waiting for its commit, or was rejected). The credits outstanding are
// the work read but not yet done, most of it waiting in actors' mailboxes
// when clients send faster than the node orders edits. Past a high mark
// sessions stop reading, so the kernel's TCP windows hold the rest and
// clients see it as latency; below the low mark they read on. Nothing is
// rejected or dropped, and memory stays bounded however fast clients send.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace stet {

/// One unit of a read_throttle; returned when the last copy is destroyed,
/// wherever the frame or edit holding it ends (handled, rejected, dropped
/// with its actor, or published to another node). Empty: not counted.
using read_credit = std::shared_ptr<const void>;

class read_throttle : public std::enable_shared_from_this<read_throttle> {
public:
  /// Pauses reads while more than `high` credits are out; resumes below
  /// `low`. `high == 0` never pauses (credits are still counted).
  read_throttle(std::size_t high, std::size_t low);

  /// Takes a credit for a frame just read. The throttle must be owned by a
  /// shared_ptr (credits keep it alive).
  read_credit take();

  /// Whether a session that just read a frame should stop reading.
  bool over() const noexcept {
    return high_ != 0 && out_.load(std::memory_order_relaxed) > high_;
  }

  /// Keeps `resume` until the credits out fall below the low mark and
  /// returns true; returns false (and keeps nothing) if they already have,
  /// so the caller reads on. `resume` runs on the thread returning the
  /// credit that crosses the mark.
  bool park(std::function<void()> resume);

  std::size_t out() const noexcept {
    return out_.load(std::memory_order_relaxed);
  }
  std::size_t parked() const;

private:
  void give_back();

  const std::size_t high_;
  const std::size_t low_;
  std::atomic<std::size_t> out_{0};
  mutable std::mutex mutex_;
  std::vector<std::function<void()>> parked_;
};

} // namespace stet
