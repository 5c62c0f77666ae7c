#!/usr/bin/env bash
# Simulated scale: one coordinator and WORKERS worker processes on this machine (each a small
# share: USERS over WORKERS), HTTP mode against the demo site. Reports what the coordinator
# costs at that many workers (CPU, peak RSS) and what each worker sends it (bytes per worker
# per second, bytes per report), so the path to hundreds of machines is measured.
#
# Usage: bench/dist-scale.sh      Env: WORKERS (100), USERS (= WORKERS), DURATION (30s),
#        PORT (18490), FLOW (flows/shop.json), THRONG (a built binary; default: release build)
# Run it under `flock /tmp/throng-bench.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh
WORKERS=${WORKERS:-100}
USERS=${USERS:-$WORKERS}
DURATION=${DURATION:-30s}
PORT=${PORT:-18490}
FLOW=${FLOW:-flows/shop.json}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-dist-scale.XXXXXX)
raise_fd_limit
start_demo_site "$BIN" "$PORT" 5-50
trap 'kill $DEMO_PID 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true' EXIT

coord_port=$((PORT + 1))
THRONG_TOKEN=bench /usr/bin/time -f "%e %U %S %M" -o "$OUT/coordinator.time" "$BIN" run "$FLOW" \
  --var password=wonderland --target "http://127.0.0.1:$PORT" -u "$USERS" -d "$DURATION" -q \
  --workers "$WORKERS" --listen "127.0.0.1:$coord_port" --wait-workers 180s --out "$OUT/results" \
  >"$OUT/coordinator.log" 2>&1 &
coord=$!
worker_pids=()
for w in $(seq "$WORKERS"); do
  THRONG_TOKEN=bench /usr/bin/time -f "%e %U %S %M" -o "$OUT/w$w.time" "$BIN" worker \
    --connect "http://127.0.0.1:$coord_port" --name "w$w" --wait 180s >"$OUT/w$w.log" 2>&1 &
  worker_pids+=($!)
done
code=0
wait "$coord" || code=$?
for pid in "${worker_pids[@]}"; do wait "$pid" || true; done

results=$OUT/results/results.json
if [ ! -f "$results" ]; then
  echo "dist-scale: the coordinator wrote no results (exit $code): $(tail -3 "$OUT/coordinator.log")" >&2
  exit 1
fi
read -r wall user sys max_kb <"$OUT/coordinator.time"
bytes=$(jq '.summary.counters["coordinator.report_bytes"] // 0' "$results")
reports=$(jq '.summary.counters["coordinator.reports"] // 0' "$results")
lost=$(jq '.summary.counters["workers.lost"] // 0' "$results")
rows=$(jq '.meta.workers | length' "$results")
requests=$(jq '[.summary.entries[] | select(.kind == "document" or .kind == "static" or .kind == "ajax" or .kind == "polling") | .count] | add' "$results")
worker_rss=$(cat "$OUT"/w*.time | awk '{s += $4; if ($4 > m) m = $4} END {printf "%.0f %.0f", s / NR / 1024, m / 1024}')
secs=$(jq '.summary.duration_ms // 0' "$results")
series=$(jq '.summary.series | length' "$results")
awk -v w="$WORKERS" -v u="$USERS" -v wall="$wall" -v cpu="$(echo "$user + $sys" | bc -l)" \
  -v rss="$max_kb" -v bytes="$bytes" -v reports="$reports" -v lost="$lost" -v rows="$rows" \
  -v req="$requests" -v ms="$secs" -v series="$series" -v wrss="$worker_rss" -v code="$code" 'BEGIN {
  # The run duration; the per-second series length when that is not plausible.
  run_s = (ms > 0 && ms < 1000 * wall + 60000 ? ms / 1000 : series)
  split(wrss, r, " ")
  printf "workers %d (rows %d, lost %d), users %d, requests %d, coordinator exit %d\n", w, rows, lost, u, req, code
  printf "coordinator: %.2f CPU s in %.1f s wall (%.1f%% of a core), peak RSS %.1f MiB\n", cpu, wall, 100 * cpu / wall, rss / 1024
  printf "reports: %d (%.2f per worker per second), %.0f bytes each, %.0f bytes per worker per second\n", reports, reports / w / run_s, (reports ? bytes / reports : 0), bytes / w / run_s
  printf "workers: mean peak RSS %s MiB, largest %s MiB\n", r[1], r[2]
}'
echo "dist-scale: logs and results in $OUT"
