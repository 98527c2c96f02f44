// What /readyz reports: whether this node's dependencies answer. Written by
// the actors that talk to them, read by the gateway; thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

namespace stet {

class node_health {
public:
  /// Records the outcome of a storage call; `error` is empty on success.
  void storage_result(const std::string& error) {
    std::lock_guard<std::mutex> guard{mutex_};
    storage_ok_ = error.empty();
    storage_error_ = error;
  }
  /// Records whether Redis answers (cluster nodes only).
  void redis_result(const std::string& error) {
    std::lock_guard<std::mutex> guard{mutex_};
    redis_error_ = error;
  }
  /// Records the live set's size (cluster nodes only); 0: not settled.
  void ring_size(std::size_t n) {
    std::lock_guard<std::mutex> guard{mutex_};
    ring_ = n;
  }
  void clustered(bool on) {
    std::lock_guard<std::mutex> guard{mutex_};
    clustered_ = on;
  }
  /// Empty when ready, else why not. The dependencies' own words (hosts,
  /// document ids) only `with_details`: for the operations port, not for
  /// whoever can reach the public one.
  std::string not_ready_reason(bool with_details = true) const {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!storage_ok_)
      return with_details ? "storage: " + storage_error_ : "storage unavailable";
    if (clustered_ && !redis_error_.empty())
      return with_details ? "redis: " + redis_error_ : "redis unreachable";
    if (clustered_ && ring_ == 0)
      return "ownership not settled: no live set from Redis yet";
    return {};
  }

private:
  mutable std::mutex mutex_;
  bool storage_ok_ = true;
  std::string storage_error_;
  bool clustered_ = false;
  std::string redis_error_ = "not connected yet";
  std::size_t ring_ = 0;
};

} // namespace stet
