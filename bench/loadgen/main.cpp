// stet_loadgen: an open-loop WebSocket load generator for stet's JSON
// protocol (Beast client, many connections per thread).
//
// Open loop: each writer's edits are due at fixed times (rate per second)
// whether or not earlier ones were answered, and latency is measured from
// the time an edit was *due*, so a server that falls behind shows it in the
// percentiles instead of slowing the load down (no coordinated omission).
//
// Modes (run_state.hpp): edit (the default), --trace FILE, --join-bytes N;
// --storm makes every edit-mode connection a writer that reconnects,
// resumes and resends.
//
// Prints one JSON object on stdout; "measure start"/"measure end" lines on
// stderr mark the measured window for the scenario runner.
#include "bench/loadgen/run_state.hpp"

#include <iostream>

int main(int argc, char** argv) {
  using namespace stet::loadgen;
  int exit_code = 0;
  auto opt = parse(argc, argv, exit_code);
  if (!opt)
    return exit_code;
  try {
    run_state run;
    run.opt = *opt;
    json out = !run.opt.trace.empty() ? trace_mode(run) : run.opt.join_bytes ? join_mode(run) : edit_mode(run);
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "stet_loadgen: " << e.what() << std::endl;
    return 1;
  }
}
