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

  /// The session's edit `client_seq` of `doc_id` was answered: acked, or
  /// refused by an error naming it. Its node stops holding it for a resend
  /// after a move. Thread-safe; sinks that hold nothing ignore it.
  virtual void answered(const std::string& doc_id, std::uint64_t client_seq) {
    (void)doc_id;
    (void)client_seq;
  }

  /// Encodes `msg` in this session's format and queues it (an ack or an
  /// error naming an edit answers that edit).
  void send(const wire::ServerMessage& msg) {
    if (msg.has_ack())
      answered(msg.ack().doc_id(), msg.ack().client_seq());
    else if (msg.has_error() && msg.error().client_seq() != 0)
      answered(msg.error().doc_id(), msg.error().client_seq());
    send(std::make_shared<const std::string>(wire::encode(msg, format())));
  }
  void send(const wire::encoded_message& msg) {
    send(msg.get(format()));
  }
};

using session_sink_ptr = std::shared_ptr<session_sink>;

} // namespace stet
