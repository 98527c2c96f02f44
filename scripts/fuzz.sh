#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and
# runs each for a bounded time on a copy of its checked-in seed corpus
# (fuzz/corpus/NAME). A crash, leak or sanitizer report fails the run; the
# reproducer is left in build-fuzz/artifacts/.
# Usage: scripts/fuzz.sh [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
cmake -S . -B build-fuzz -G Ninja -DSTET_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
ninja -C build-fuzz fuzz_decode fuzz_ops fuzz_document fuzz_http fuzz_bus
mkdir -p build-fuzz/artifacts
status=0
for target in decode ops document http bus; do
  work="build-fuzz/corpus-$target"
  rm -rf "$work" && cp -r "fuzz/corpus/$target" "$work"
  echo "== fuzz_$target for ${seconds}s"
  if ! build-fuzz/fuzz/fuzz_$target -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix=build-fuzz/artifacts/$target- -print_final_stats=1 "$work" 2>build-fuzz/fuzz_$target.log; then
    tail -40 build-fuzz/fuzz_$target.log
    echo "fuzz_$target FAILED (see build-fuzz/artifacts)"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" build-fuzz/fuzz_$target.log | tail -2
  fi
done
exit $status
