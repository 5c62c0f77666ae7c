#!/usr/bin/env bash
# Hostile peers III: the attacks of tests/it/hostile/{keys,har,page_numbers,otlp}.rs run
# against a throng binary (THRONG, e.g. a build of the branch point for "before"), each
# printing its measurement line: the coordinator's peak RSS and end under a worker inventing
# 40,000 metric keys with histograms spanning the 1 h range (HOSTILE_KEYS_BENCH=1), the
# largest kept HAR under bodies of control bytes, how a run ends when its page posts
# impossible timings, and whether an echoing OTLP collector shows the --otlp-header value.
#
# Usage: THRONG=/path/to/throng flock /tmp/throng-bench.lock bench/hostile-peers-3.sh
# Env:   KEYS (key counts of the worker attack, default "40000"), ONLY_KEYS=1 (that attack only)
# The tests are built from this checkout (debug); their assertions may fail against a binary
# without the fixes: only the printed lines are the measurement.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${THRONG:?THRONG=/path/to/a/throng binary}"
run() {
  CARGO_PROFILE_DEV_DEBUG=0 cargo nextest run -p throng --test it --no-capture "$@" 2>&1
}
echo "binary: $THRONG"
for keys in ${KEYS:-40000}; do
  echo "keys: $keys"
  HOSTILE_KEYS=$keys HOSTILE_KEYS_BENCH=1 THRONG=$THRONG run hostile::keys | grep -E "^coordinator: peak"
done
[ -n "${ONLY_KEYS:-}" ] && exit 0
THRONG=$THRONG run hostile::har | grep -E "^kept HARs|past the 4 MiB cap" | head -2
THRONG=$THRONG run hostile::page_numbers | grep -E "^page numbers:|page_timing"
THRONG=$THRONG run hostile::otlp | grep -E "^(echo|endless|silent):|header's value was shown" |
  sed -E 's/(was shown): .*/\1/'
