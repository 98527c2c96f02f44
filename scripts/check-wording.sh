#!/usr/bin/env bash
# Fails when the project's text speaks of how it was made (a work session,
# the ticket it came from, the n-th run) instead of what is true of the
# code. A measurement that needs a date carries the date. Patterns use a
# character class where the phrase would otherwise match this file.
set -euo pipefail
cd "$(dirname "$0")/.."
patterns=(
  '\bthe [i]ssue('"'"'s)?\b'
  '\b(this|earlier|previous|last|next|an earlier|one) sessions?('"'"'s?)? (runs?|builds?|measurements?|work|figures?|changes?)\b'
  '\b(earlier|previous) sessions\b'
  '\bthis session'"'"'s (first|last) (builds?|runs?)\b'
  '\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth) (full )?run\b'
)
args=()
for p in "${patterns[@]}"; do
  args+=(-e "$p")
done
if git grep -n -i -E "${args[@]}" -- . ':!scripts/check-wording.sh' ':!bench/report/*' ':!*.json'; then
  echo "check-wording: the lines above speak of how the code was made; say what is true of it (date a measurement if it needs a date)" >&2
  exit 1
fi
