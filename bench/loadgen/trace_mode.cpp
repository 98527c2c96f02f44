// Trace mode: replays a sequential editing trace over one connection, at
// most --window edits in flight; reports edits/s.
#include "bench/loadgen/connection.hpp"

#include "core/utf8.hpp"
#include "tests/test_support.hpp"

#include <thread>

namespace stet::loadgen {

namespace {

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

} // namespace

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
  c->on_frame_hook = [&](connection& conn, const frame& f) {
    if (f.kind == "snapshot" && t0 == 0) {
      base0 = conn.rev();
      t0 = now_ns();
      mark("measure start");
    } else if (f.kind != "ack") {
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


} // namespace stet::loadgen
