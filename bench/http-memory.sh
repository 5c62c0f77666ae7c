#!/usr/bin/env bash
# Memory stays flat: USERS virtual users of the demo flow (flows/shop.json) in HTTP mode for
# DURATION against `throng demo-site` in its own process; throng's RSS is sampled every
# EVERY seconds. Passes when RSS grows less than 5% after the ramp: from the first sample
# SETTLE seconds after the ramp (the last users to arrive are then past their first page
# loads) to the largest and to the last sample of the run. The growth from the very end of
# the ramp is printed too.
#
# Usage: bench/http-memory.sh [DURATION]     (default 10m; e.g. `bench/http-memory.sh 90s`
#                                             for a smoke run)
# Env:   USERS (2000), RAMP (60s), SETTLE (30), EVERY (10), PORT (18120), LATENCY (1-5 ms),
#        THRONG (a built binary; default: cargo build --release into /work/target-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh

DURATION=${1:-${DURATION:-10m}}
USERS=${USERS:-2000}
RAMP=${RAMP:-60s}
EVERY=${EVERY:-10}
SETTLE=${SETTLE:-30}
PORT=${PORT:-18120}
LATENCY=${LATENCY:-1-5}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-http-memory.XXXXXX)
raise_fd_limit
to_secs() {
  case $1 in
    *h) echo $(( ${1%h} * 3600 )) ;; *m) echo $(( ${1%m} * 60 )) ;; *s) echo "${1%s}" ;; *) echo "$1" ;;
  esac
}
RAMP_S=$(to_secs "$RAMP")

start_demo_site "$BIN" "$PORT" "$LATENCY"
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
echo "throng run flows/shop.json --users $USERS --ramp $RAMP --duration $DURATION, RSS every ${EVERY}s"
"$BIN" run flows/shop.json --target "http://127.0.0.1:$PORT" --var password=wonderland \
  --users "$USERS" --ramp "$RAMP" --duration "$DURATION" --out "$OUT" -q >"$OUT/run.log" 2>&1 &
RUN_PID=$!
sample_rss "$RUN_PID" "$EVERY" "$OUT/rss.txt" &
wait "$RUN_PID" || echo "throng exited with $?"
sleep 1

echo "elapsed_s rss_mib anon_mib file_mib thp_mib open_fds cpu_s (every 60 s)"
awk -v e="$EVERY" 'NR == 1 || ($1 % 60) < e {printf "%9s %7.1f %8.1f %8.1f %7.1f %8s %6s\n", $1, $2 / 1024, $6 / 1024, $7 / 1024, $9 / 1024, $4, $5}' "$OUT/rss.txt"
growth() { # growth FROM_S LABEL: RSS growth from the first sample at FROM_S onwards
  awk -v from="$1" -v label="$2" '
    $1 >= from && base == "" {base = $2; at = $1}
    $1 >= from {last = $2; if ($2 > max) max = $2}
    END {
      if (base == "") {print "no sample after " label; exit 1}
      g = (max - base) * 100 / base; l = (last - base) * 100 / base
      printf "%s (t=%ss): %.1f MiB; largest later %.1f MiB (%+.1f%%); last %.1f MiB (%+.1f%%)\n", label, at, base / 1024, max / 1024, g, last / 1024, l
      exit (g < 5 ? 0 : 2)
    }' "$OUT/rss.txt"
}
growth "$RAMP_S" "end of the ramp" || true
if growth $((RAMP_S + SETTLE)) "ramp + ${SETTLE}s"; then
  echo "PASS: RSS grew less than 5% after the ramp"
else
  echo "FAIL: RSS grew 5% or more after the ramp"
fi
R=$OUT/results.json
jq -r '.summary.counters | to_entries[] | "  \(.key): \(.value)"' "$R"
jq -r '"requests \([.summary.entries[] | select(.kind | IN("document","static","ajax","polling","beacon")) | .count] | add), failed \([.summary.entries[] | select(.kind | IN("document","static","ajax","polling","beacon")) | .failures] | add)"' "$R"
echo "results: $OUT"
