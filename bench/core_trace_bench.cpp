// Replays every sequential editing trace through the pure core alone
// (text_buffer + operation apply), as Google Benchmark cases.
// Run: build/bench/stet_core_bench [--benchmark_format=json]
#include "core/operation.hpp"
#include "core/text_buffer.hpp"
#include "tests/test_support.hpp"

#include <benchmark/benchmark.h>

#include <filesystem>

namespace {

void replay(benchmark::State& state, const stet::test::sequential_trace* trace) {
  // Operations are built outside the timed loop: this measures the core, not
  // JSON parsing.
  std::vector<stet::operation> ops;
  ops.reserve(trace->patches.size());
  for (auto& p : trace->patches)
    ops.push_back(stet::test::patch_operation(p));
  for (auto _ : state) {
    stet::text_buffer doc{trace->start_content};
    // apply records removed text in the op; doing that again each round is
    // part of the work, so the ops are reused rather than copied.
    for (auto& op : ops) {
      if (!stet::apply(doc, op)) {
        state.SkipWithError("trace does not apply");
        return;
      }
    }
    benchmark::DoNotOptimize(doc.size());
    if (doc.str() != trace->end_content)
      state.SkipWithError("trace did not reach endContent");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops.size()));
}

} // namespace

int main(int argc, char** argv) {
  static std::vector<stet::test::sequential_trace> traces;
  for (auto& file : stet::test::sequential_trace_files())
    traces.push_back(stet::test::load_sequential_trace(file));
  for (auto& t : traces)
    benchmark::RegisterBenchmark(("replay/" + t.name).c_str(), replay, &t)->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
