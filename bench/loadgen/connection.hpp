// One WebSocket client connection of the load generator (Beast): says
// hello, joins its document, writes on the open-loop schedule when it is a
// writer, counts what it hears, and (storm mode) reconnects, resumes from
// its known revision and resends what is unacked.
#pragma once

#include "bench/loadgen/frame.hpp"
#include "bench/loadgen/run_state.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <memory>
#include <string>

#include <unistd.h>

namespace stet::loadgen {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class connection : public std::enable_shared_from_this<connection> {
public:
  connection(net::io_context& io, run_state& run, thread_stats& stats, int index, std::string doc, int writer)
    : io_(io), ws_(std::make_unique<ws_type>(io)), timer_(io), retry_(io), run_(run), stats_(stats), index_(index),
      doc_(std::move(doc)), writer_(writer) {
    // Unique per run: stet deduplicates (clientId, clientSeq) for good.
    client_id_ = (writer_ >= 0 ? "w" + std::to_string(writer_) : "r") + "-" + std::to_string(index_) + "-"
                 + std::to_string(::getpid());
  }

  void start() {
    auto& src = run_.opt.sources[static_cast<std::size_t>(index_) % run_.opt.sources.size()];
    auto& sock = beast::get_lowest_layer(*ws_).socket();
    beast::error_code ec;
    sock.open(tcp::v4(), ec);
    sock.bind(tcp::endpoint{net::ip::make_address(src), 0}, ec);
    if (ec)
      return fail("bind " + src + ": " + ec.message());
    beast::get_lowest_layer(*ws_).async_connect(
      tcp::endpoint{net::ip::make_address(run_.opt.host), run_.opt.port},
      [self = shared_from_this(), g = gen_](beast::error_code ec) {
        if (g == self->gen_)
          self->on_connect(ec);
      });
  }

  bool joined() const {
    return joined_;
  }
  /// When the first snapshot arrived (read on the io thread, not by a
  /// polling waiter, so join latency is not rounded up to the poll period).
  std::int64_t first_snapshot_ns() const {
    return first_snapshot_ns_.load();
  }
  std::uint64_t acked() const {
    return acked_;
  }
  std::uint64_t rev() const {
    return rev_;
  }
  std::uint64_t last_seq() const {
    return seq_;
  }
  const std::string& client_id() const {
    return client_id_;
  }

  // Writers: the open-loop schedule starts at `t0` (ns), phase-shifted so
  // writers do not fire in lockstep.
  void begin_writing(std::int64_t t0) {
    if (writer_ < 0 || run_.opt.rate <= 0)
      return;
    interval_ns_ = static_cast<std::int64_t>(1e9 / run_.opt.rate);
    next_due_ = t0 + (interval_ns_ * (writer_ % 97)) / 97;
    arm();
  }

  void close() {
    net::post(io_, [self = shared_from_this()] {
      self->timer_.cancel();
      self->retry_.cancel();
      self->closing_ = true;
      if (self->open_)
        self->ws_->async_close(websocket::close_code::normal, [self](beast::error_code) {});
    });
  }

  // A fresh connection after the server went away (storm mode).
  void reconnect() {
    open_ = false;
    joined_ = false;
    ++stats_.reconnects;
    auto delay = std::chrono::milliseconds(50 + (index_ * 7919) % 200);
    retry_.expires_after(delay);
    retry_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closing_)
        return;
      ++self->gen_;
      self->out_.clear();
      self->ws_ = std::make_unique<ws_type>(self->io_);
      self->start();
    });
  }

  /// Called with every message after the connection handled it.
  std::function<void(connection&, const frame&)> on_frame_hook;

private:
  void fail(const std::string& why) {
    std::int64_t zero = 0;
    run_.first_loss_ns.compare_exchange_strong(zero, now_ns());
    if (stats_.first_error.empty())
      stats_.first_error = client_id_ + ": " + why;
    ++stats_.errors;
    if (run_.opt.storm && !closing_ && !run_.stop)
      return reconnect();
    run_.failed++;
  }

  void on_connect(beast::error_code ec) {
    if (ec)
      return fail("connect: " + ec.message());
    beast::get_lowest_layer(*ws_).socket().set_option(tcp::no_delay(true));
    if (run_.opt.compress > 0) {
      websocket::permessage_deflate pmd;
      pmd.client_enable = true;
      pmd.client_max_window_bits = run_.opt.compress;
      pmd.server_max_window_bits = run_.opt.compress;
      ws_->set_option(pmd);
    }
    ws_->async_handshake(run_.opt.host + ":" + std::to_string(run_.opt.port), "/ws",
                         [self = shared_from_this(), g = gen_](beast::error_code ec) {
                           if (g == self->gen_)
                             self->on_handshake(ec);
                         });
  }

  void on_handshake(beast::error_code ec) {
    if (ec)
      return fail("handshake: " + ec.message());
    open_ = true;
    if (!counted_connect_) {
      counted_connect_ = true;
      run_.connected++;
    }
    ws_->text(true);
    send(json{{"hello", {{"clientId", client_id_}, {"batch", true}}}}.dump());
    if (!doc_.empty())
      send(json{{"join", {{"docId", doc_}, {"knownRev", std::to_string(rev_)}, {"policy", run_.opt.policy}}}}.dump());
    read();
  }

  void read() {
    ws_->async_read(in_, [self = shared_from_this(), g = gen_](beast::error_code ec, std::size_t) {
      if (g == self->gen_)
        self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      open_ = false;
      if (closing_ || ec == websocket::error::closed)
        return;
      return fail("read: " + ec.message());
    }
    auto data = in_.cdata();
    // Batched frames carry several messages, one per line.
    std::string_view frame{static_cast<const char*>(data.data()), data.size()};
    for (std::size_t at = 0; at < frame.size();) {
      auto end = std::min(frame.find('\n', at), frame.size());
      on_frame(frame.substr(at, end - at));
      at = end + 1;
    }
    in_.consume(in_.size());
    read();
  }

  void on_frame(std::string_view text) {
    auto now = now_ns();
    auto f = read_frame(text);
    if (!f)
      return;
    if (f->kind == "applied") {
      rev_ = std::max(rev_, f->rev);
      if (now >= run_.measure_from && now < run_.measure_to) {
        ++stats_.deliveries;
        if (f->writer)
          if (auto due = run_.sched.get(*f->writer, f->client_seq); due >= run_.measure_from)
            stats_.delivery.add(now - due);
      }
    } else if (f->kind == "ack") {
      rev_ = std::max(rev_, f->rev);
      acked_ = std::max(acked_, f->client_seq);
      ++stats_.acked;
      if (writer_ >= 0)
        if (auto due = run_.sched.get(static_cast<std::size_t>(writer_), f->client_seq);
            due >= run_.measure_from && due)
          stats_.ack.add(now - due);
    } else if (f->kind == "snapshot") {
      rev_ = std::max(rev_, f->rev);
      if (!joined_) {
        joined_ = true;
        if (!counted_join_) {
          counted_join_ = true;
          first_snapshot_ns_ = now;
          run_.joined++;
        } else {
          ++stats_.resyncs;
          run_.resynced++;
          resend_unacked();
        }
      }
    } else if (f->kind == "error") {
      ++stats_.errors;
      if (stats_.first_error.empty())
        stats_.first_error = client_id_ + ": " + std::string{text.substr(0, 300)};
    }
    if (on_frame_hook)
      on_frame_hook(*this, *f);
  }

public:
  void send(std::string frame) {
    out_.push_back(std::move(frame));
    if (out_.size() == 1 && open_)
      write();
  }

  void send_edit(std::uint64_t seq, std::uint64_t base, const std::string& ops_json) {
    std::string f = "{\"edit\":{\"docId\":\"" + doc_ + "\",\"baseRev\":\"" + std::to_string(base)
                    + "\",\"clientSeq\":\"" + std::to_string(seq) + "\",\"ops\":" + ops_json + "}}";
    if (run_.opt.storm)
      unacked_.emplace_back(seq, f);
    ++stats_.sent;
    send(std::move(f));
  }

private:
  void write() {
    ws_->async_write(net::buffer(out_.front()), [self = shared_from_this(), g = gen_](beast::error_code ec, std::size_t) {
      if (g != self->gen_)
        return;
      if (ec) {
        self->out_.clear();
        return;
      }
      self->out_.pop_front();
      if (!self->out_.empty() && self->open_)
        self->write();
    });
  }

  void resend_unacked() {
    while (!unacked_.empty() && unacked_.front().first <= acked_)
      unacked_.pop_front();
    for (auto& [seq, f] : unacked_) {
      ++stats_.sent;
      send(f);
    }
  }

  // Replace edits keep the document's size constant: the first ones insert,
  // every later one deletes as much as it inserts (policy merge, so
  // concurrent deletes of the same text simply merge).
  std::string ops_for(std::uint64_t seq) {
    // The text starts with the writer's number: a server shows anonymous
    // authors under a name derived from their client id, so the text is
    // what tells a reader whose edit arrived (and when it was due).
    auto tag = "w" + std::to_string(writer_) + ".";
    auto bytes = static_cast<std::size_t>(run_.opt.edit_bytes);
    auto fill = [&](std::size_t n) {
      return run_.opt.text == "prose" ? prose(n, seq * 1000003 + static_cast<std::uint64_t>(writer_))
                                      : std::string(n, 'a' + static_cast<char>(seq % 26));
    };
    std::string text = bytes > tag.size() ? tag + fill(bytes - tag.size()) : fill(bytes);
    if (run_.opt.storm) // unique, countable markers
      text = "<" + client_id_ + "." + std::to_string(seq) + ">";
    // Inserts only until the first edit is acked: before that the document
    // may not yet hold the text a delete needs.
    if (seq == 1 || acked_ == 0 || run_.opt.storm)
      return "[{\"insert\":\"" + text + "\"}]";
    return "[{\"delete\":" + std::to_string(run_.opt.edit_bytes) + "},{\"insert\":\"" + text + "\"}]";
  }

  void arm() {
    timer_.expires_at(clock_type::time_point{std::chrono::nanoseconds{next_due_}});
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec)
        self->fire();
    });
  }

  void fire() {
    if (run_.stop || closing_)
      return;
    auto now = now_ns();
    // Everything due by now goes out now (catching up if we were late).
    while (next_due_ <= now && seq_ + 1 < run_.sched.per_writer) {
      ++seq_;
      run_.sched.due[static_cast<std::size_t>(writer_)][seq_].store(next_due_, std::memory_order_relaxed);
      if (open_ && joined_)
        send_edit(seq_, rev_, ops_for(seq_));
      else if (run_.opt.storm) // not connected: queued until resync
        unacked_.emplace_back(seq_, "{\"edit\":{\"docId\":\"" + doc_ + "\",\"baseRev\":\"" + std::to_string(rev_)
                                      + "\",\"clientSeq\":\"" + std::to_string(seq_) + "\",\"ops\":"
                                      + ops_for(seq_) + "}}");
      next_due_ += interval_ns_;
    }
    if (seq_ + 1 < run_.sched.per_writer)
      arm();
  }

  using ws_type = websocket::stream<beast::tcp_stream>;
  net::io_context& io_;
  std::unique_ptr<ws_type> ws_;
  unsigned gen_ = 0; // bumped per reconnect: stale handlers see it and stop
  net::steady_timer timer_;  // the open-loop schedule
  net::steady_timer retry_;  // reconnects
  run_state& run_;
  thread_stats& stats_;
  int index_;
  std::string doc_;
  int writer_;
  std::string client_id_;
  beast::flat_buffer in_;
  std::deque<std::string> out_;
  std::deque<std::pair<std::uint64_t, std::string>> unacked_;
  bool open_ = false, joined_ = false, closing_ = false, counted_connect_ = false, counted_join_ = false;
  std::uint64_t rev_ = 0, acked_ = 0, seq_ = 0;
  std::int64_t next_due_ = 0, interval_ns_ = 0;
  std::atomic<std::int64_t> first_snapshot_ns_{0};
};


} // namespace stet::loadgen
