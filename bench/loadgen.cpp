// stet_loadgen: an open-loop WebSocket load generator for stet's JSON
// protocol (Beast client, many connections per thread).
//
// Open loop: each writer's edits are due at fixed times (rate per second)
// whether or not earlier ones were answered, and latency is measured from
// the time an edit was *due*, so a server that falls behind shows it in the
// percentiles instead of slowing the load down (no coordinated omission).
//
// Modes:
//   edit (default): D documents x C connections; W of each document's
//       connections write B-byte replace edits at R/s; everyone counts the
//       `applied` frames it receives (deliveries) and their latency.
//   --trace FILE: replays a sequential editing trace over one connection,
//       at most --window edits in flight; reports edits/s.
//   --join-bytes N: join latency: D documents of N bytes, joined cold (not
//       open on the server) and then warm; then --stampede connections join
//       one cold document at once.
//   --storm: every connection writes; on a lost connection it reconnects,
//       resumes from its known revision and resends what is unacked.
//
// Prints one JSON object on stdout; "measure start"/"measure end" lines on
// stderr mark the measured window for the scenario runner.
#include "core/utf8.hpp"
#include "tests/test_support.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

struct options {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  std::vector<std::string> sources{"127.0.0.1"};
  int threads = 1;
  int docs = 1;
  int conns_per_doc = 10;
  int writers_per_doc = 1;
  double rate = 10;        // edits per second per writer
  int edit_bytes = 200;
  double duration = 10;    // seconds measured
  double warmup = 2;       // seconds before measuring
  std::string doc_prefix = "bench";
  std::string policy = "merge";
  std::string trace;
  int window = 1000;
  std::size_t join_bytes = 0;
  int stampede = 100;
  bool storm = false;
  double hold = 0;         // seconds to keep idle connections open
};

// Latency samples in microseconds; exact percentiles by sorting at the end
// (runs are bounded, so the samples fit in memory).
struct samples {
  std::vector<std::uint32_t> us;
  void add(std::int64_t ns) {
    us.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(ns / 1000, UINT32_MAX)));
  }
  void merge(const samples& o) {
    us.insert(us.end(), o.us.begin(), o.us.end());
  }
  json summary() {
    std::sort(us.begin(), us.end());
    auto at = [&](double q) -> double {
      if (us.empty())
        return 0;
      return us[std::min(us.size() - 1, static_cast<std::size_t>(q * static_cast<double>(us.size())))] / 1000.0;
    };
    return {{"count", us.size()}, {"p50_ms", at(0.5)}, {"p99_ms", at(0.99)}, {"p999_ms", at(0.999)},
            {"max_ms", us.empty() ? 0.0 : us.back() / 1000.0}};
  }
};

// Pulls `"key":"value"` or `"key":number` out of a flat JSON frame without
// parsing it all (frames are protobuf's JSON mapping: 64-bit ints are strings).
std::string_view field(std::string_view frame, std::string_view key) {
  std::string pat = "\"" + std::string{key} + "\":";
  auto at = frame.find(pat);
  if (at == std::string_view::npos)
    return {};
  at += pat.size();
  if (at < frame.size() && frame[at] == '"') {
    auto end = frame.find('"', at + 1);
    return frame.substr(at + 1, end - at - 1);
  }
  auto end = frame.find_first_of(",}", at);
  return frame.substr(at, end - at);
}

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s)
    if (c >= '0' && c <= '9')
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
  return v;
}

// Shared by every connection: when each writer's edits were due.
struct schedule {
  std::vector<std::unique_ptr<std::atomic<std::int64_t>[]>> due; // [writer][seq]
  std::size_t per_writer = 0;
  void resize(std::size_t writers, std::size_t edits) {
    per_writer = edits + 2;
    for (std::size_t i = 0; i < writers; ++i)
      due.emplace_back(new std::atomic<std::int64_t>[per_writer]());
  }
  std::int64_t get(std::size_t w, std::uint64_t seq) const {
    return w < due.size() && seq < per_writer ? due[w][seq].load(std::memory_order_relaxed) : 0;
  }
};

struct run_state {
  options opt;
  schedule sched;
  std::atomic<int> connected{0}, joined{0}, failed{0}, resynced{0};
  std::atomic<std::int64_t> first_loss_ns{0}; // storm: when the first connection dropped
  std::atomic<std::int64_t> start_ns{0}, measure_from{0}, measure_to{0};
  std::atomic<bool> stop{false};
};

struct thread_stats {
  std::uint64_t sent = 0, acked = 0, deliveries = 0, errors = 0, resyncs = 0, reconnects = 0;
  samples delivery, ack;
  std::string first_error;
};

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

  std::function<void(connection&, std::string_view)> on_frame_hook;

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

  void on_frame(std::string_view frame) {
    auto now = now_ns();
    if (frame.starts_with("{\"applied\"")) {
      rev_ = std::max(rev_, to_u64(field(frame, "rev")));
      if (now >= run_.measure_from && now < run_.measure_to) {
        ++stats_.deliveries;
        static constexpr std::string_view k_tag = "\"insert\":\"w";
        if (auto at = frame.find(k_tag); at != std::string_view::npos) {
          auto digits = frame.substr(at + k_tag.size());
          auto w = to_u64(digits.substr(0, digits.find('.')));
          if (auto due = run_.sched.get(w, to_u64(field(frame, "clientSeq"))); due >= run_.measure_from)
            stats_.delivery.add(now - due);
        }
      }
    } else if (frame.starts_with("{\"ack\"")) {
      rev_ = std::max(rev_, to_u64(field(frame, "rev")));
      auto seq = to_u64(field(frame, "clientSeq"));
      acked_ = std::max(acked_, seq);
      ++stats_.acked;
      if (writer_ >= 0)
        if (auto due = run_.sched.get(static_cast<std::size_t>(writer_), seq); due >= run_.measure_from && due)
          stats_.ack.add(now - due);
    } else if (frame.starts_with("{\"snapshot\"")) {
      rev_ = std::max(rev_, to_u64(field(frame, "rev")));
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
    } else if (frame.starts_with("{\"error\"")) {
      ++stats_.errors;
      if (stats_.first_error.empty())
        stats_.first_error = client_id_ + ": " + std::string{frame.substr(0, 300)};
    }
    if (on_frame_hook)
      on_frame_hook(*this, frame);
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
    std::string text = bytes > tag.size() ? tag + std::string(bytes - tag.size(), 'a' + static_cast<char>(seq % 26))
                                          : std::string(bytes, 'a' + static_cast<char>(seq % 26));
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

void wait_until(const std::function<bool()>& done, double seconds, const char* what) {
  auto deadline = clock_type::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (clock_type::now() > deadline)
      throw std::runtime_error(std::string{"timed out waiting for "} + what);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void mark(const char* what) {
  std::fprintf(stderr, "%s %lld\n", what, static_cast<long long>(now_ns()));
  std::fflush(stderr);
}

// Runs `n` io_contexts on their own threads until `work` returns.
struct pool {
  std::vector<std::unique_ptr<net::io_context>> ios;
  std::vector<std::thread> threads;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  explicit pool(int n) {
    for (int i = 0; i < n; ++i) {
      ios.push_back(std::make_unique<net::io_context>(1));
      guards.push_back(net::make_work_guard(*ios.back()));
    }
    for (auto& io : ios)
      threads.emplace_back([&io = *io] { io.run(); });
  }
  net::io_context& at(std::size_t i) {
    return *ios[i % ios.size()];
  }
  void finish() {
    for (auto& g : guards)
      g.reset();
    for (auto& io : ios)
      io->stop();
    for (auto& t : threads)
      t.join();
  }
};

json edit_mode(run_state& run) {
  auto& opt = run.opt;
  int total = opt.docs * opt.conns_per_doc;
  int writers = opt.docs * std::min(opt.writers_per_doc, opt.conns_per_doc);
  run.sched.resize(static_cast<std::size_t>(writers),
                   static_cast<std::size_t>(opt.rate * (opt.warmup + opt.duration + 1) + 2));
  pool p{opt.threads};
  std::vector<thread_stats> stats(static_cast<std::size_t>(opt.threads));
  std::vector<std::shared_ptr<connection>> conns;
  int w = 0;
  for (int d = 0; d < opt.docs; ++d)
    for (int c = 0; c < opt.conns_per_doc; ++c) {
      int i = static_cast<int>(conns.size());
      auto t = static_cast<std::size_t>(i % opt.threads);
      conns.push_back(std::make_shared<connection>(p.at(t), run, stats[t], i,
                                                   opt.doc_prefix + "-" + std::to_string(d),
                                                   c < opt.writers_per_doc ? w++ : -1));
    }
  auto t_connect = now_ns();
  // Open in waves so the listen backlog is not overrun.
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto& c = conns[i];
    net::post(p.at(i % static_cast<std::size_t>(opt.threads)), [c] { c->start(); });
    if (i % 500 == 499)
      wait_until([&] { return run.joined + run.failed >= static_cast<int>(i) - 250; }, 60, "joins");
  }
  wait_until([&] { return run.joined + run.failed >= total; }, 120, "all joins");
  double connect_s = static_cast<double>(now_ns() - t_connect) / 1e9;
  mark("joined");
  if (run.failed)
    throw std::runtime_error("connections failed: " + stats[0].first_error);
  double elapsed = 0;
  if (opt.rate > 0 && writers > 0) {
    auto t0 = now_ns() + 50'000'000;
    run.measure_from = t0 + static_cast<std::int64_t>(opt.warmup * 1e9);
    run.measure_to = run.measure_from + static_cast<std::int64_t>(opt.duration * 1e9);
    for (std::size_t i = 0; i < conns.size(); ++i)
      net::post(p.at(i % static_cast<std::size_t>(opt.threads)), [c = conns[i], t0] { c->begin_writing(t0); });
    std::this_thread::sleep_until(clock_type::time_point{std::chrono::nanoseconds{run.measure_from.load()}});
    mark("measure start");
    bool all_resynced = false;
    // How the resync progresses: a tail and a slow middle call for different fixes.
    std::vector<std::pair<double, const char*>> progress{{0.5, "resynced 50%"}, {0.9, "resynced 90%"}};
    while (now_ns() < run.measure_to) {
      while (opt.storm && !progress.empty() && run.resynced >= progress.front().first * total) {
        mark(progress.front().second);
        progress.erase(progress.begin());
      }
      if (opt.storm && !all_resynced && run.resynced >= total) {
        all_resynced = true;
        mark("all resynced");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    mark("measure end");
    elapsed = opt.duration;
    run.stop = true;
    if (opt.storm) {
      // Every edit written must be acked in the end (resends included).
      wait_until([&] {
        if (!all_resynced && run.resynced >= total) {
          all_resynced = true;
          mark("all resynced");
        }
        return std::all_of(conns.begin(), conns.end(), [](auto& c) { return c->acked() == c->last_seq(); });
      }, 60, "every edit to be acked");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // late answers
  } else if (opt.hold > 0) {
    mark("measure start");
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.hold));
    mark("measure end");
  }
  for (auto& c : conns)
    c->close();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  p.finish();
  thread_stats all;
  for (auto& s : stats) {
    all.sent += s.sent, all.acked += s.acked, all.deliveries += s.deliveries, all.errors += s.errors;
    all.delivery.merge(s.delivery), all.ack.merge(s.ack);
    if (all.first_error.empty())
      all.first_error = s.first_error;
  }
  json out{{"connections", total},     {"writers", writers},         {"connect_seconds", connect_s},
           {"sent", all.sent},         {"acked", all.acked},         {"errors", all.errors},
           {"first_error", all.first_error}, {"deliveries", all.deliveries}, {"seconds", elapsed},
           {"delivery_latency", all.delivery.summary()}, {"ack_latency", all.ack.summary()}};
  if (opt.storm) {
    json acked = json::object();
    for (auto& c : conns)
      acked[c->client_id()] = c->acked();
    out["acked_by_client"] = acked;
    out["resynced"] = run.resynced.load();
    out["first_loss_ns"] = run.first_loss_ns.load();
  }
  if (elapsed > 0) {
    out["deliveries_per_second"] = static_cast<double>(all.deliveries) / elapsed;
    out["edits_per_second"] = static_cast<double>(out["ack_latency"]["count"].get<std::size_t>()) / elapsed;
  }
  return out;
}

// Each trace patch becomes one edit: retain / delete / insert.
std::vector<std::string> trace_edits(const std::string& path, std::size_t& end_chars) {
  auto trace = stet::test::load_sequential_trace(path);
  std::vector<std::string> out;
  for (auto& p : trace.patches) {
    json ops = json::array();
    if (p.position)
      ops.push_back({{"retain", p.position}});
    if (p.erase)
      ops.push_back({{"delete", p.erase}});
    if (!p.insert.empty())
      ops.push_back({{"insert", p.insert}});
    out.push_back(ops.dump());
  }
  end_chars = stet::utf8::length(trace.end_content);
  return out;
}

json trace_mode(run_state& run) {
  auto& opt = run.opt;
  std::size_t end_chars = 0;
  auto edits = trace_edits(opt.trace, end_chars);
  pool p{1};
  thread_stats stats;
  run.sched.resize(1, edits.size() + 1);
  auto c = std::make_shared<connection>(p.at(0), run, stats, 0, opt.doc_prefix, 0);
  // Sequential: each edit's base is the previous edit's revision, which the
  // client knows without waiting (it is the only writer).
  std::size_t next = 0;
  std::int64_t t0 = 0, t_end = 0;
  std::atomic<bool> done{false};
  std::uint64_t base0 = 0;
  c->on_frame_hook = [&](connection& conn, std::string_view frame) {
    if (frame.starts_with("{\"snapshot\"") && t0 == 0) {
      base0 = conn.rev();
      t0 = now_ns();
      mark("measure start");
    } else if (!frame.starts_with("{\"ack\"")) {
      return;
    }
    while (next < edits.size() && next - conn.acked() < static_cast<std::size_t>(opt.window)) {
      ++next;
      conn.send_edit(next, base0 + next - 1, edits[next - 1]);
    }
    if (conn.acked() == edits.size() && !done) {
      t_end = now_ns();
      mark("measure end");
      done = true;
    }
  };
  net::post(p.at(0), [c] { c->start(); });
  wait_until([&] { return done.load() || run.failed > 0; }, 600, "the trace");
  c->close();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  p.finish();
  if (!done)
    throw std::runtime_error("trace failed: " + stats.first_error);
  double secs = static_cast<double>(t_end - t0) / 1e9;
  return {{"edits", edits.size()},       {"seconds", secs},          {"edits_per_second", edits.size() / secs},
          {"end_chars", end_chars},      {"final_rev", c->rev()},    {"errors", stats.errors},
          {"first_error", stats.first_error}};
}

json join_mode(run_state& run) {
  auto& opt = run.opt;
  pool p{1};
  thread_stats stats;
  auto ctx_join = [&](const std::string& doc, bool keep) {
    // One connection joins `doc`; returns (it, microseconds to snapshot).
    auto c = std::make_shared<connection>(p.at(0), run, stats, 1000 + run.connected.load(), doc, -1);
    auto t = now_ns();
    int before = run.joined;
    net::post(p.at(0), [c] { c->start(); });
    wait_until([&] { return run.joined > before || run.failed > 0; }, 30, "a join");
    if (run.failed)
      throw std::runtime_error("join failed: " + stats.first_error);
    auto us = (c->first_snapshot_ns() - t) / 1000;
    if (!keep)
      c->close();
    return std::make_pair(c, us);
  };
  // Fill the documents: a writer inserts join_bytes in 256 KB edits.
  std::vector<std::string> docs;
  for (int d = 0; d < opt.docs; ++d) {
    docs.push_back(opt.doc_prefix + "-" + std::to_string(d));
    auto [c, _] = ctx_join(docs.back(), true);
    std::size_t chunk = 256 * 1024, seq = 0;
    for (std::size_t done = 0; done < opt.join_bytes; done += chunk) {
      std::string text(std::min(chunk, opt.join_bytes - done), 'a' + static_cast<char>(d % 26));
      ++seq;
      net::post(p.at(0), [c = c, seq, text] { c->send_edit(seq, 0, "[{\"insert\":\"" + text + "\"}]"); });
    }
    wait_until([&, c = c] { return c->acked() == seq; }, 60, "filling a document");
    c->close();
  }
  // Wait until the server has closed them (runner sets a short idle timeout).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  samples cold, warm;
  std::vector<std::shared_ptr<connection>> holders;
  for (auto& d : docs) {
    auto [c, us] = ctx_join(d, true); // cold: loads from storage
    cold.us.push_back(static_cast<std::uint32_t>(us));
    holders.push_back(c);
  }
  for (int round = 0; round < 5; ++round)
    for (auto& d : docs)
      warm.us.push_back(static_cast<std::uint32_t>(ctx_join(d, false).second));
  for (auto& h : holders)
    h->close();
  // Stampede: many connections join one cold document at once.
  std::string cold_doc = opt.doc_prefix + "-stampede";
  {
    auto [c, _] = ctx_join(cold_doc, true);
    net::post(p.at(0), [c = c] { c->send_edit(1, 0, "[{\"insert\":\"stampede\"}]"); });
    wait_until([c = c] { return c->acked() == 1; }, 30, "stampede doc");
    c->close();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  mark("stampede start");
  int before = run.joined;
  std::vector<std::shared_ptr<connection>> crowd;
  auto t = now_ns();
  for (int i = 0; i < opt.stampede; ++i) {
    crowd.push_back(std::make_shared<connection>(p.at(0), run, stats, 5000 + i, cold_doc, -1));
    net::post(p.at(0), [c = crowd.back()] { c->start(); });
  }
  wait_until([&] { return run.joined - before >= opt.stampede || run.failed > 0; }, 60, "the stampede");
  auto stampede_ms = static_cast<double>(now_ns() - t) / 1e6;
  mark("stampede end");
  for (auto& c : crowd)
    c->close();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  p.finish();
  return {{"doc_bytes", opt.join_bytes}, {"docs", opt.docs},
          {"cold", cold.summary()},      {"warm", warm.summary()},
          {"stampede_joiners", opt.stampede}, {"stampede_all_joined_ms", stampede_ms},
          {"errors", stats.errors},      {"first_error", stats.first_error}};
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::runtime_error(f + " needs a value");
      return argv[++i];
    };
    if (f == "--port") o.port = static_cast<unsigned short>(std::stoi(val()));
    else if (f == "--host") o.host = val();
    else if (f == "--sources") {
      o.sources.clear();
      int n = std::stoi(val());
      for (int k = 1; k <= n; ++k)
        o.sources.push_back("127.0.0." + std::to_string(k));
    } else if (f == "--threads") o.threads = std::stoi(val());
    else if (f == "--docs") o.docs = std::stoi(val());
    else if (f == "--conns-per-doc") o.conns_per_doc = std::stoi(val());
    else if (f == "--writers-per-doc") o.writers_per_doc = std::stoi(val());
    else if (f == "--rate") o.rate = std::stod(val());
    else if (f == "--edit-bytes") o.edit_bytes = std::stoi(val());
    else if (f == "--duration") o.duration = std::stod(val());
    else if (f == "--warmup") o.warmup = std::stod(val());
    else if (f == "--doc-prefix") o.doc_prefix = val();
    else if (f == "--policy") o.policy = val();
    else if (f == "--trace") o.trace = val();
    else if (f == "--window") o.window = std::stoi(val());
    else if (f == "--join-bytes") o.join_bytes = std::stoull(val());
    else if (f == "--stampede") o.stampede = std::stoi(val());
    else if (f == "--storm") o.storm = true;
    else if (f == "--hold") o.hold = std::stod(val());
    else throw std::runtime_error("unknown flag " + f);
  }
  return o;
}

} // namespace

int main(int argc, char** argv) {
  try {
    run_state run;
    run.opt = parse(argc, argv);
    json out;
    if (!run.opt.trace.empty())
      out = trace_mode(run);
    else if (run.opt.join_bytes)
      out = join_mode(run);
    else
      out = edit_mode(run);
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "stet_loadgen: " << e.what() << std::endl;
    return 1;
  }
}
