// What every connection of one run shares: the options, when each writer's
// edits were due, counters, and the measured window; and the small tools a
// mode needs (a pool of io_contexts, waiting, marking the window for the
// scenario runner).
#pragma once

#include "bench/loadgen/options.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace stet::loadgen {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

std::int64_t now_ns();

/// Latency samples in microseconds; exact percentiles by sorting at the
/// end (runs are bounded, so the samples fit in memory).
struct samples {
  std::vector<std::uint32_t> us;
  void add(std::int64_t ns);
  void merge(const samples& o);
  json summary();
};

/// When each writer's edits were due: [writer][seq], written by the
/// writer's thread, read by every reader's.
struct schedule {
  std::vector<std::unique_ptr<std::atomic<std::int64_t>[]>> due;
  std::size_t per_writer = 0;
  void resize(std::size_t writers, std::size_t edits);
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

/// One client thread's counts (merged at the end).
struct thread_stats {
  std::uint64_t sent = 0, acked = 0, deliveries = 0, errors = 0, resyncs = 0, reconnects = 0;
  samples delivery, ack;
  std::string first_error;
};

/// Polls `done` until it holds; throws after `seconds` naming `what`.
void wait_until(const std::function<bool()>& done, double seconds, const char* what);

/// Tells the scenario runner (on stderr) that `what` happened now.
void mark(const char* what);

/// `n` io_contexts, each on a thread of its own, until finish().
struct pool {
  explicit pool(int n);
  /// Finishes a run that ended early (a wait timed out): the threads are
  /// stopped and joined, so the error is reported instead of aborting.
  ~pool() {
    finish();
  }
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  boost::asio::io_context& at(std::size_t i) {
    return *ios[i % ios.size()];
  }
  /// Stops every io_context and joins its thread; again does nothing.
  void finish();

  std::vector<std::unique_ptr<boost::asio::io_context>> ios;
  std::vector<std::thread> threads;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards;
};

// -- modes: each prints nothing, returns the run's JSON --

/// D documents x C connections; W of each document's connections write.
json edit_mode(run_state& run);
/// Replays a sequential editing trace over one connection.
json trace_mode(run_state& run);
/// Join latency, cold and warm, and a stampede on one cold document.
json join_mode(run_state& run);

} // namespace stet::loadgen
