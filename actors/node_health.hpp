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
  /// Empty when ready, else why not.
  std::string not_ready_reason() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return storage_ok_ ? std::string{} : "storage: " + storage_error_;
  }

private:
  mutable std::mutex mutex_;
  bool storage_ok_ = true;
  std::string storage_error_;
};

} // namespace stet
