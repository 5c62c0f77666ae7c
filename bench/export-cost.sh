#!/usr/bin/env bash
# The cost of exporting, measured directly: throng replays the demo shop flow (many series:
# every request name, page, vital) against `throng demo-site` with --metrics; while it runs,
# windows of WINDOW seconds alternate between no scrapes and SCRAPES back-to-back scrapes of
# /metrics. throng's CPU (user + system, /proc/PID/stat) per window gives the CPU of one
# scrape (the difference, per scrape), which is then set against the run's CPU per request.
# Remote write gathers the same families and adds protobuf + snappy: its push is timed the
# same way by a second run with --remote-write-interval 100ms into a Prometheus.
#
# Usage: bench/export-cost.sh        Env: USERS (20), WINDOW (5), PAIRS (4), SCRAPES (200),
#        THRONG (a built binary; default: cargo build --release into /work/target-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh

USERS=${USERS:-20}
WINDOW=${WINDOW:-5}
PAIRS=${PAIRS:-4}
SCRAPES=${SCRAPES:-200}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-export-cost.XXXXXX)
SITE=18391
METRICS=18392
PROM=18393
HZ=$(getconf CLK_TCK)
start_demo_site "$BIN" "$SITE" 1-5
trap 'kill $DEMO_PID ${THRONG_PID:-} ${PROM_PID:-} 2>/dev/null || true' EXIT
cpu_of() { awk -v hz="$HZ" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
secs=$((PAIRS * 2 * WINDOW + 10))

"$BIN" run flows/shop.json --var password=wonderland --target "http://127.0.0.1:$SITE" \
  --users "$USERS" --think-scale 0.3 --duration "${secs}s" --metrics "127.0.0.1:$METRICS" \
  --metrics-linger 0s -q --out "$OUT/scrape" >/dev/null 2>"$OUT/scrape.log" &
THRONG_PID=$!
sleep 5
series=$(curl -sf "http://127.0.0.1:$METRICS/metrics" | grep -vc '^#')
idle=0; busy=0; n=0
for _ in $(seq "$PAIRS"); do
  c0=$(cpu_of $THRONG_PID); sleep "$WINDOW"; c1=$(cpu_of $THRONG_PID)
  t0=$(date +%s.%N)
  for _ in $(seq "$SCRAPES"); do curl -sf -o /dev/null "http://127.0.0.1:$METRICS/metrics"; done
  t1=$(date +%s.%N)
  c2=$(cpu_of $THRONG_PID)
  # Scale the quiet window's CPU to the scrape window's length.
  idle=$(echo "$idle + ($c1 - $c0) * ($t1 - $t0) / $WINDOW" | bc -l)
  busy=$(echo "$busy + $c2 - $c1" | bc -l)
  n=$((n + SCRAPES))
done
wait $THRONG_PID || true
per_scrape_ms=$(echo "($busy - $idle) * 1000 / $n" | bc -l)
reqs=$(jq '[.summary.entries[] | select(.kind | IN("document","static","ajax","polling","beacon","other")) | .count] | add' "$OUT/scrape/results.json")
dur=$(jq '.summary.duration_ms / 1000' "$OUT/scrape/results.json")
run_cpu=$(jq '.summary.generator.cpu_throng_s' "$OUT/scrape/results.json")
per_req_us=$(echo "$run_cpu * 1000000 / $reqs" | bc -l)
printf 'scrape: %d series, %.3f ms of throng CPU per scrape (%d scrapes)\n' "$series" "$per_scrape_ms" "$n"
printf 'run: %d requests in %.0f s, %.1f us of throng CPU per request (%.0f req/s)\n' "$reqs" "$dur" "$per_req_us" "$(echo "$reqs / $dur" | bc -l)"
printf 'one scrape every 15 s / 5 s / 1 s adds %.4f%% / %.4f%% / %.4f%% to the CPU of this run\n' \
  "$(echo "$per_scrape_ms / 1000 / 15 / ($run_cpu / $dur) * 100" | bc -l)" \
  "$(echo "$per_scrape_ms / 1000 / 5 / ($run_cpu / $dur) * 100" | bc -l)" \
  "$(echo "$per_scrape_ms / 1000 / ($run_cpu / $dur) * 100" | bc -l)"

# Remote write: pushes every 100 ms into a Prometheus; throng's CPU against a run without.
command -v prometheus >/dev/null || { echo "prometheus is missing (apt-get install prometheus)" >&2; exit 1; }
echo 'global: {scrape_interval: 1m}' >"$OUT/prom.yml"
prometheus --config.file="$OUT/prom.yml" --storage.tsdb.path="$OUT/prom" --web.listen-address="127.0.0.1:$PROM" \
  --web.enable-remote-write-receiver >"$OUT/prom.log" 2>&1 &
PROM_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PROM/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
per_push() {
  "$BIN" run flows/shop.json --var password=wonderland --target "http://127.0.0.1:$SITE" \
    --users "$USERS" --think-scale 0.3 --duration 20s -q --out "$OUT/$1" "${@:2}" >/dev/null 2>"$OUT/$1.log"
  jq -r '"\(.summary.generator.cpu_throng_s) \([.summary.entries[] | select(.kind | IN("document","static","ajax","polling","beacon","other")) | .count] | add)"' "$OUT/$1/results.json"
}
read -r plain_cpu plain_reqs < <(per_push plain)
read -r rw_cpu rw_reqs < <(per_push rw --remote-write "http://127.0.0.1:$PROM/api/v1/write" --remote-write-interval 100ms)
pushes=$(awk '/^remote write:/ {print $3}' "$OUT/rw.log")
printf 'remote write: %s pushes in 20 s; throng CPU per request %.1f us plain, %.1f us pushing every 100 ms (%s)\n' \
  "$pushes" "$(echo "$plain_cpu * 1000000 / $plain_reqs" | bc -l)" "$(echo "$rw_cpu * 1000000 / $rw_reqs" | bc -l)" \
  "$(tail -1 "$OUT/rw.log")"
