#!/usr/bin/env bash
# Scale: N concurrent virtual users (default 10,000) of the demo flow (flows/shop.json: think
# times, assets, AJAX, a 2 s poller, a 10 s dwell with the tab open) in HTTP mode, against
# `throng demo-site` in its own process. Passes when throng's peak RSS <= 1 GiB, every user
# started (users.started == N, no users.failed_to_start) and no session failed for a
# throng-side reason (every failure message is printed for inspection).
#
# Usage: bench/http-scale.sh                 (10,000 users, 60 s ramp, 240 s hold)
# Env:   USERS (10000), RAMP (60s), HOLD (240s), PORT (18100), LATENCY (1-5, demo site ms),
#        THRONG (a built binary; default: cargo build --release into /work/target-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh

USERS=${USERS:-10000}
RAMP=${RAMP:-60s}
HOLD=${HOLD:-240s}
PORT=${PORT:-18100}
LATENCY=${LATENCY:-1-5}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-http-scale.XXXXXX)
raise_fd_limit
secs() { local v=${1%s}; echo "$v"; }
DURATION=$(( $(secs "$RAMP") + $(secs "$HOLD") ))s

start_demo_site "$BIN" "$PORT" "$LATENCY"
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, fd limit $(ulimit -n), ephemeral ports $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range)"
echo "throng run flows/shop.json --users $USERS --ramp $RAMP --duration $DURATION (demo site: latency $LATENCY ms, pid $DEMO_PID)"
/usr/bin/time -f "%M" -o "$OUT/maxrss" \
  "$BIN" run flows/shop.json --target "http://127.0.0.1:$PORT" --var password=wonderland \
  --users "$USERS" --ramp "$RAMP" --duration "$DURATION" --out "$OUT" -q >"$OUT/run.log" 2>&1 &
TIME_PID=$!
sleep 0.5
RUN_PID=$(pgrep -P "$TIME_PID" | head -1)
sample_rss "$RUN_PID" 5 "$OUT/rss.txt" &
sample_rss "$DEMO_PID" 5 "$OUT/demo-rss.txt" &
wait "$TIME_PID" || echo "throng exited with $?"
sleep 1

R=$OUT/results.json
peak_kb=$(cat "$OUT/maxrss")
started=$(counter "$R" users.started)
failed_start=$(counter "$R" users.failed_to_start)
echo
echo "samples (elapsed s, throng RSS KB, HWM KB, open fds, CPU s):"
awk 'NR % 6 == 1' "$OUT/rss.txt"
echo
jq -r '.summary.counters | to_entries[] | "  \(.key): \(.value)"' "$R"
jq -r '.summary.series | (map(.users) | max) as $m | map(select(.users == $m) | .rps) | sort
  | "peak users \($m); requests/s while all were running: median \(.[length / 2 | floor] | floor), min \(.[0] | floor), max \(.[-1] | floor)"' "$R"
jq -r '.summary.series | "requests \(map(.requests) | add), failed \(map(.failures) | add)"' "$R"
jq -r '[.summary.entries[] | select(.kind == "page-load")] | "page loads \(map(.count) | add), failed \(map(.failures) | add)"' "$R"
demo_peak=$(awk '{print $3}' "$OUT/demo-rss.txt" | sort -n | tail -1)
echo "demo site peak RSS: $((demo_peak / 1024)) MiB"
echo "CPU seconds used: throng $(tail -1 "$OUT/rss.txt" | awk '{print $5}'), demo site $(tail -1 "$OUT/demo-rss.txt" | awk '{print $5}') (2 cores x ${DURATION})"
echo "throng peak RSS (ru_maxrss): $((peak_kb / 1024)) MiB; users.started $started of $USERS; users.failed_to_start $failed_start"
echo "results: $OUT"
ok=1
[ "$peak_kb" -le $((1024 * 1024)) ] || { echo "FAIL: peak RSS above 1 GiB"; ok=0; }
[ "$started" -eq "$USERS" ] || { echo "FAIL: not every user started"; ok=0; }
[ "$failed_start" -eq 0 ] || { echo "FAIL: users failed to start"; ok=0; }
[ $ok -eq 1 ] && echo "PASS"
