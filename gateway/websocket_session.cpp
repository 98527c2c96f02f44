#include "gateway/websocket_session.hpp"

#include "actors/messages.hpp"
#include "gateway/gateway_actor.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>

namespace stet {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

namespace {
// Queue slots an idle session keeps: enough for the usual few frames in
// flight without reallocating, little enough not to matter per connection.
constexpr std::size_t k_kept_queue_capacity = 16;
// Buffer bytes a session keeps between messages: Beast prepares ~1.5 KB
// for every read anyway, and freeing and allocating that per message cost
// ~5% of the server's CPU at 100k edits/s. Only what a large message grew
// is given back.
constexpr std::size_t k_kept_buffer_bytes = 4096;
// Larger frames (a big document's snapshot) go uncompressed, where
// compression is on: deflating megabytes per join, per session, would let
// a client looping on joins spend the server's CPU cheaply.
constexpr std::size_t k_max_compressed_bytes = 256 * 1024;
} // namespace

websocket_session::websocket_session(connection_stream&& stream, gateway_context& ctx, connection_slot slot,
                                     std::optional<connection_slot> client)
  : ws_(std::move(stream)), write_timer_(ws_.get_executor()), ctx_(ctx), slot_(std::move(slot)),
    client_slot_(std::move(client)),
    ip_queued_(ctx.queue_budget(client_slot_ ? client_slot_->ip() : slot_.ip())) {
  session_id_ = ctx.node_id + "-" + std::to_string(ctx.next_session++);
  ++ctx_.open_sessions;
  metrics::get().websocket_sessions.Increment();
}

websocket_session::~websocket_session() {
  ctx_.sessions.remove(this);
  discard_queue(0);
  --ctx_.open_sessions;
  metrics::get().websocket_sessions.Decrement();
}

void websocket_session::run(beast::http::request<beast::http::string_body> upgrade) {
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(websocket::stream_base::decorator(
    [](websocket::response_type& res) { res.set(beast::http::field::server, "stet"); }));
  // With compression this counts inflated bytes: Beast stops inflating a
  // message once it passes the limit, so a small bomb cannot grow large.
  ws_.read_message_max(ctx_.limits.max_frame_bytes);
  if (auto bits = ctx_.limits.compression_window_bits; bits > 0) {
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    // Small windows keep each session's zlib state small; a client that
    // cannot shrink its own window (it does not offer
    // client_max_window_bits) gets no compression rather than a 32 KB one.
    pmd.server_max_window_bits = bits;
    pmd.client_max_window_bits = bits;
    pmd.memLevel = 4;
    pmd.compLevel = 6;
    ws_.set_option(pmd);
  }
  // One frame per message (Beast would cut anything over 4 KB into 4 KB
  // frames, each its own write: a 1 MB snapshot became 256 of them).
  ws_.auto_fragment(false);
  ws_.async_accept(upgrade, beast::bind_front_handler(&websocket_session::on_accept, shared_from_this()));
}

void websocket_session::on_accept(beast::error_code ec) {
  if (ec) {
    log::info("websocket handshake failed", {{"session", session_id_}, {"error", ec.message()}});
    return;
  }
  actor_ = ctx_.system.spawn(gateway_actor, session_sink_ptr{shared_from_this()}, ctx_.registry,
                             gateway_settings{session_id_, ctx_.node_id, ctx_.limits, ctx_.auth.signer, ctx_.auth.jwt,
                                              ctx_.external,
                                              ctx_.auth.allow_anonymous, ctx_.user_edits,
                                              client_slot_ ? client_slot_->ip() : slot_.ip(), ctx_.epochs,
                                              ctx_.store_list});
  ctx_.sessions.add(this, actor_, [w = weak_from_this()] {
    if (auto self = w.lock())
      net::post(self->ws_.get_executor(), [self] {
        if (self->closing_)
          return; // a close is under way already
        self->closing_ = true;
        if (self->writing_)
          return; // on_write closes once the frame in flight is out
        self->discard_queue(0);
        // The node stops: its clients reconnect to another at once.
        self->ws_.async_close(websocket::close_reason{websocket::close_code::going_away, "server stopping; reconnect"},
                              [self](beast::error_code) {});
      });
  });
  do_read();
}

void websocket_session::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
}

void websocket_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    // Oversize frames (1009) and invalid UTF-8 in text frames (1007) were
    // already answered with a close frame by Beast.
    if (ec != websocket::error::closed && ec != net::error::eof && ec != net::error::operation_aborted)
      log::info("websocket closed", {{"session", session_id_}, {"reason", ec.message()}});
    caf::anon_send(actor_, closed_atom::value);
    return;
  }
  auto& m = metrics::get();
  m.frames_received.Increment();
  m.bytes_received.Increment(static_cast<double>(buffer_.size()));
  auto fmt = ws_.got_binary() ? wire::frame_format::binary : wire::frame_format::json;
  // A session answers in the format of its first frame, whatever comes later.
  if (!format_fixed_) {
    format_fixed_ = true;
    format_.store(fmt, std::memory_order_relaxed);
  }
  caf::anon_send(actor_, frame_atom::value, beast::buffers_to_string(buffer_.data()),
                 fmt == wire::frame_format::binary, ctx_.throttle->take());
  buffer_.consume(buffer_.size());
  if (buffer_.capacity() > k_kept_buffer_bytes)
    buffer_.shrink_to_fit();
  if (ctx_.throttle->over() && pause_reading())
    return;
  do_read();
}

bool websocket_session::pause_reading() {
  auto resume = [self = shared_from_this()] {
    metrics::get().paused_sessions.Decrement();
    net::post(self->ws_.get_executor(), [self] { self->do_read(); });
  };
  if (!ctx_.throttle->park(std::move(resume)))
    return false;
  auto& m = metrics::get();
  m.read_pauses.Increment();
  m.paused_sessions.Increment();
  return true;
}

void websocket_session::send(std::shared_ptr<const std::string> frame) {
  // Called from actor threads: hop onto the session's strand.
  net::post(ws_.get_executor(), [self = shared_from_this(), out = outgoing{std::move(frame), format() == wire::frame_format::binary}]() mutable {
    self->enqueue(std::move(out));
  });
}

void websocket_session::send(std::vector<std::shared_ptr<const std::string>> frames) {
  net::post(ws_.get_executor(), [self = shared_from_this(), frames = std::move(frames)]() mutable {
    bool binary = self->format() == wire::frame_format::binary;
    for (auto& f : frames)
      self->enqueue(outgoing{std::move(f), binary}, false);
    if (!self->writing_ && !self->closing_ && !self->queue_.empty())
      self->do_write();
  });
}

void websocket_session::enqueue(outgoing out, bool write_now) {
  if (closing_)
    return;
  queued_bytes_ += out.frame->size();
  auto ip_bytes = ip_queued_->fetch_add(out.frame->size(), std::memory_order_relaxed) + out.frame->size();
  queue_.push_back(std::move(out));
  metrics::get().queued_frames.Increment();
  if (queue_.size() > ctx_.limits.max_queued_frames || queued_bytes_ > ctx_.limits.max_queued_bytes
      || ip_bytes > ctx_.limits.max_queued_bytes_per_ip) {
    close_slow_consumer();
    return;
  }
  if (!writing_ && write_now)
    do_write();
}

namespace {

void append_varint(std::string& out, std::size_t n) {
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
}

} // namespace

// A batching client gets every queued message of the front's kind in one
// frame (up to the frame limit); others one message per frame.
void websocket_session::do_write() {
  writing_ = true;
  write_started_ = std::chrono::steady_clock::now();
  arm_write_timer(ctx_.limits.write_timeout);
  auto& front = queue_.front();
  ws_.binary(front.binary);
  in_flight_ = 1;
  // One message (or a client that does not batch): written as it is.
  bool single = queue_.size() == 1 || queue_[1].binary != front.binary;
  if (single || !batching_.load(std::memory_order_relaxed)) {
    ws_.compress(front.frame->size() <= k_max_compressed_bytes);
    return ws_.async_write(net::buffer(*front.frame),
                           beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
  }
  batch_.clear();
  auto limit = ctx_.limits.max_frame_bytes;
  for (auto& out : queue_) {
    if (out.binary != front.binary || (!batch_.empty() && batch_.size() + out.frame->size() + 10 > limit))
      break;
    if (&out != &front)
      ++in_flight_;
    if (front.binary)
      append_varint(batch_, out.frame->size());
    else if (&out != &front)
      batch_.push_back('\n');
    batch_.append(*out.frame);
  }
  ws_.compress(batch_.size() <= k_max_compressed_bytes);
  ws_.async_write(net::buffer(batch_), beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
}

// A client that stopped reading fills its TCP window and the write never
// completes: the socket closes when one write takes longer than the write
// timeout. The timer is a session's own, not the stream's expiry (which
// reads started meanwhile would inherit), and it is not re-armed per
// write: armed once, it looks at the write in flight when it fires and
// waits only for what that write has left. Re-arming and cancelling it for
// every frame cost two timer-queue updates and a handler per delivery.
void websocket_session::arm_write_timer(std::chrono::steady_clock::duration after) {
  if (write_timer_armed_)
    return;
  write_timer_armed_ = true;
  write_timer_.expires_after(after);
  write_timer_.async_wait([w = weak_from_this()](beast::error_code ec) {
    auto self = w.lock();
    if (!self)
      return;
    self->write_timer_armed_ = false;
    if (ec || !self->writing_)
      return;
    auto taken = std::chrono::steady_clock::now() - self->write_started_;
    if (taken < self->ctx_.limits.write_timeout)
      return self->arm_write_timer(self->ctx_.limits.write_timeout - taken);
    self->write_timed_out_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).socket().close(ignored);
  });
}

void websocket_session::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ec) {
    write_timer_.cancel();
    if (write_timed_out_) {
      log::warn("closing a client that does not read", {{"session", session_id_},
                                                        {"queued_frames", std::to_string(queue_.size())}});
      metrics::get().slow_consumer_closes.Increment();
    }
    in_flight_ = 0;
    discard_queue(0);
    return;
  }
  auto& m = metrics::get();
  m.frames_sent.Increment();
  for (; in_flight_ > 0; --in_flight_) {
    m.bytes_sent.Increment(static_cast<double>(queue_.front().frame->size()));
    m.queued_frames.Decrement();
    queued_bytes_ -= queue_.front().frame->size();
    ip_queued_->fetch_sub(queue_.front().frame->size(), std::memory_order_relaxed);
    queue_.pop_front();
  }
  if (closing_) {
    discard_queue(0);
    ws_.async_close(websocket::close_reason{websocket::close_code::try_again_later, "slow_consumer: send queue overflow"},
                    [self = shared_from_this()](beast::error_code) {});
    return;
  }
  if (!queue_.empty())
    return do_write();
  // Idle again: give back what the last burst needed (one allocation per
  // burst of several frames; lone frames never use it).
  std::string{}.swap(batch_);
  if (queue_.capacity() > k_kept_queue_capacity)
    queue_.shrink_to_fit();
}

void websocket_session::close_slow_consumer() {
  log::warn("closing slow consumer", {{"session", session_id_}, {"queued_frames", std::to_string(queue_.size())}});
  closing_ = true;
  metrics::get().slow_consumer_closes.Increment();
  if (writing_) {
    // Only one write at a time: keep the frame in flight, drop the rest,
    // close once it completes. A peer that never reads is cut by the timeout.
    discard_queue(in_flight_);
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
    return;
  }
  discard_queue(0);
  ws_.async_close(websocket::close_reason{websocket::close_code::try_again_later, "slow_consumer: send queue overflow"},
                  [self = shared_from_this()](beast::error_code) {});
}

void websocket_session::discard_queue(std::size_t keep) {
  while (queue_.size() > keep) {
    queued_bytes_ -= queue_.back().frame->size();
    ip_queued_->fetch_sub(queue_.back().frame->size(), std::memory_order_relaxed);
    queue_.pop_back();
    metrics::get().queued_frames.Decrement();
  }
}

} // namespace stet
