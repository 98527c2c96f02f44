// Where a document actor sends frames for one client session. The gateway
// implements it on top of its WebSocket; actors see only this interface, so
// they never touch Beast or Asio.
#pragma once

#include "proto/codec.hpp"

#include <memory>
#include <vector>
#include <string>

namespace stet {

class session_sink {
public:
  virtual ~session_sink() = default;

  /// The frame format the client speaks (the one of its first message).
  virtual wire::frame_format format() const noexcept = 0;

  /// Queues one frame for sending. Thread-safe and non-blocking; when the
  /// session's bounded send queue overflows, the session is closed instead
  /// of growing memory.
  virtual void send(std::shared_ptr<const std::string> frame) = 0;

  /// Queues several frames, in order, in one hand-over.
  virtual void send(std::vector<std::shared_ptr<const std::string>> frames) {
    for (auto& f : frames)
      send(std::move(f));
  }

  /// The client reads several messages per frame (hello's `batch`); sinks
  /// that cannot batch ignore it.
  virtual void allow_batching() {}

  /// Encodes `msg` in this session's format and queues it.
  void send(const wire::ServerMessage& msg) {
    send(std::make_shared<const std::string>(wire::encode(msg, format())));
  }
  void send(const wire::encoded_message& msg) {
    send(msg.get(format()));
  }
};

using session_sink_ptr = std::shared_ptr<session_sink>;

} // namespace stet
