#!/usr/bin/env bash
# Simulated scale: one coordinator and WORKERS worker processes on this machine (small shares:
# one user each, one page a second) against the demo site. Reports what the coordinator costs
# (CPU seconds and share of a core, peak RSS) and what each worker sends it (bytes per worker
# per second), so the path to hundreds of machines is measured, not hoped for.
#
# Usage: bench/dist-scale.sh      Env: WORKERS (100), DURATION (30s), PORT (18390)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh
WORKERS=${WORKERS:-100}
DURATION=${DURATION:-30s}
PORT=${PORT:-18390}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-dist-scale.XXXXXX)
raise_fd_limit
start_demo_site "$BIN" "$PORT" 1-5
trap 'kill $DEMO_PID 2>/dev/null || true; pkill -f "worker --connect http://127.0.0.1:$((PORT + 1))" || true' EXIT
export THRONG_TOKEN=bench-scale
"$BIN" run flows/browse.json --target "http://127.0.0.1:$PORT" -u "$WORKERS" -d "$DURATION" \
  --think 1s --workers "$WORKERS" --listen "127.0.0.1:$((PORT + 1))" --wait-workers 120s \
  -q --out "$OUT/out" >"$OUT/coordinator.log" 2>&1 &
COORD=$!
sleep 0.5
for i in $(seq "$WORKERS"); do
  "$BIN" worker --connect "http://127.0.0.1:$((PORT + 1))" --name "w$i" >"$OUT/w$i.log" 2>&1 &
done
sample_rss "$COORD" 1 "$OUT/coordinator.rss" &
wait "$COORD"
wait
R=$OUT/out/results.json
secs=$(jq '.summary.duration_ms / 1000' "$R")
bytes=$(counter "$R" coordinator.report_bytes)
reports=$(counter "$R" coordinator.reports)
cpu=$(tail -1 "$OUT/coordinator.rss" | awk '{print $5}')
hwm=$(tail -1 "$OUT/coordinator.rss" | awk '{print $3}')
joined=$(jq '.meta.workers | length' "$R")
lost=$(counter "$R" workers.lost)
requests=$(jq '[.summary.entries[] | select(.kind == "document" or .kind == "static" or .kind == "ajax" or .kind == "polling") | .count] | add' "$R")
echo "workers joined: $joined, lost: $lost; requests: $requests in ${secs}s"
echo "coordinator CPU: ${cpu}s over ${secs}s = $(echo "$cpu / $secs * 100" | bc -l | xargs printf '%.1f')% of a core; peak RSS $((hwm / 1024)) MB"
echo "reports: $reports, $(echo "$bytes / $reports" | bc -l | xargs printf '%.0f') bytes each; $(echo "$bytes / $joined / $secs" | bc -l | xargs printf '%.0f') bytes per worker per second"
echo "details in $OUT"
