#include "actors/read_throttle.hpp"

#include <algorithm>

namespace stet {

// A low mark of 0 could never be crossed: parked sessions would wait forever.
read_throttle::read_throttle(std::size_t high, std::size_t low)
  : high_(high), low_(high == 0 ? 0 : std::clamp<std::size_t>(low, 1, high)) {
}

read_credit read_throttle::take() {
  out_.fetch_add(1, std::memory_order_relaxed);
  auto self = shared_from_this();
  auto* raw = self.get();
  return read_credit{raw, [self = std::move(self)](const void*) { self->give_back(); }};
}

void read_throttle::give_back() {
  auto before = out_.fetch_sub(1, std::memory_order_acq_rel);
  // Only the crossing wakes: a session parks only while the count is at or
  // above the low mark (checked under the mutex), so a crossing after its
  // check is guaranteed to find it.
  if (before != low_)
    return;
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lock{mutex_};
    wake.swap(parked_);
  }
  for (auto& resume : wake)
    resume();
}

bool read_throttle::park(std::function<void()> resume) {
  std::lock_guard lock{mutex_};
  if (out_.load(std::memory_order_acquire) < low_)
    return false;
  parked_.push_back(std::move(resume));
  return true;
}

std::size_t read_throttle::parked() const {
  std::lock_guard lock{mutex_};
  return parked_.size();
}

} // namespace stet
