// The WebSocket sessions of a node, so a stopping node can close them all
// with "going away" (their clients reconnect to another node at once) and
// stop their actors, which would otherwise outlive the I/O that fed them.
#pragma once

#include <caf/actor.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace stet {

class session_list {
public:
  /// Thread-safe. `close` runs once, on close_all, on the caller's thread:
  /// it must only post work onto the session's own strand.
  void add(const void* key, caf::actor actor, std::function<void()> close);
  void remove(const void* key);
  /// Closes every session and tells its actor the socket closed.
  void close_all();

private:
  struct entry {
    caf::actor actor;
    std::function<void()> close;
  };
  std::mutex mutex_;
  std::unordered_map<const void*, entry> sessions_;
};

} // namespace stet
