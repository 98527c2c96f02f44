// Edit mode: D documents x C connections; W of each document's connections
// write B-byte replace edits at R/s; everyone counts the `applied` frames it
// receives (deliveries) and their latency from when each edit was due.
#include "bench/loadgen/connection.hpp"

#include <algorithm>
#include <thread>

namespace stet::loadgen {

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


} // namespace stet::loadgen
