// What every listener, HTTP session and WebSocket session of one server
// shares: the actor system, the registry and the limits.
#pragma once

#include "actors/node_health.hpp"

#include <caf/actor.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace caf {
class actor_system;
}

namespace stet {

struct gateway_limits {
  /// Largest WebSocket frame accepted; larger ones close with 1009.
  std::size_t max_frame_bytes = 1024 * 1024;
  /// Frames queued for one session before it counts as a slow consumer.
  std::size_t max_queued_frames = 4096;
  /// Bytes queued for one session before it counts as a slow consumer.
  std::size_t max_queued_bytes = 16 * 1024 * 1024;
  /// Components in one edit.
  std::size_t max_ops_per_edit = 10000;
  /// Documents one session may have joined at once.
  std::size_t max_joins_per_session = 100;
  /// Largest HTTP request body.
  std::size_t max_http_body_bytes = 1024 * 1024;
};

struct gateway_context {
  caf::actor_system& system;
  caf::actor registry;
  gateway_limits limits;
  std::string node_id;
  std::shared_ptr<node_health> health;
  std::atomic<std::uint64_t> next_session{1};
  std::atomic<std::int64_t> open_sessions{0};
};

} // namespace stet
