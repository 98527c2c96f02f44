// One WebSocket connection: Beast I/O on a strand, with the session's logic
// in its gateway actor. Incoming frames go to the actor in order; outgoing
// frames (from the gateway actor or straight from document actors) queue
// here, bounded: a client that does not read is closed, never buffered
// without limit.
#pragma once

#include "actors/session_sink.hpp"
#include "gateway/connection_stream.hpp"
#include "gateway/gateway_context.hpp"

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/container/devector.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

namespace stet {

class websocket_session : public session_sink, public std::enable_shared_from_this<websocket_session> {
public:
  /// Takes over `stream` and its connection `slot` after an HTTP upgrade
  /// request (and `client`, the client's own slot when it came through a
  /// trusted proxy); `ctx` must outlive the session.
  websocket_session(connection_stream&& stream, gateway_context& ctx, connection_slot slot,
                    std::optional<connection_slot> client = {});
  ~websocket_session() override;

  /// Completes the upgrade handshake and starts reading.
  void run(boost::beast::http::request<boost::beast::http::string_body> upgrade);

  wire::frame_format format() const noexcept override {
    return format_.load(std::memory_order_relaxed);
  }
  void send(std::shared_ptr<const std::string> frame) override;
  void send(std::vector<std::shared_ptr<const std::string>> frames) override;
  using session_sink::send;
  void allow_batching() override {
    batching_.store(true, std::memory_order_relaxed);
  }

private:
  struct outgoing {
    std::shared_ptr<const std::string> frame;
    bool binary;
  };

  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  /// Stops reading while the node's I/O threads are behind; false when
  /// they caught up meanwhile (read on).
  bool pause_reading();
  /// Queues `out`; starts writing unless told the caller will.
  void enqueue(outgoing out, bool write_now = true);
  void arm_write_timer(std::chrono::steady_clock::duration after);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void close_slow_consumer();
  /// Drops queued frames beyond the first `keep` (keeping the gauge right).
  void discard_queue(std::size_t keep);

  boost::beast::websocket::stream<connection_stream> ws_;
  boost::asio::basic_waitable_timer<std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
                                    connection_executor>
    write_timer_;
  boost::beast::flat_buffer buffer_;
  gateway_context& ctx_;
  connection_slot slot_;
  std::optional<connection_slot> client_slot_;
  caf::actor actor_;
  std::string session_id_;
  std::atomic<wire::frame_format> format_{wire::frame_format::json};
  std::atomic<bool> batching_{false};
  // Strand-only state.
  bool format_fixed_ = false;
  // A devector, not a deque: an empty deque still holds a 512-byte block,
  // and most connections are idle most of the time.
  boost::container::devector<outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  gateway_context::queued_bytes ip_queued_; // shared with the address's other sessions
  bool writing_ = false;
  bool write_timed_out_ = false;
  bool write_timer_armed_ = false;
  std::chrono::steady_clock::time_point write_started_{};
  // The frame being written when it joins several queued messages, and how
  // many of the queue's messages it holds.
  std::string batch_;
  std::size_t in_flight_ = 0;
  bool closing_ = false;
};

} // namespace stet
