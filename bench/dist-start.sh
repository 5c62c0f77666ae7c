#!/usr/bin/env bash
# How close together the workers of a distributed run start: ROUNDS runs of a coordinator and
# WORKERS workers on this machine (HTTP mode, a short plan against the demo site), each worker
# printing when it started on the coordinator's clock; prints each round's spread (latest
# start minus earliest, ms) and the largest. tests/it/distributed.rs allows 50 ms.
#
# Usage: bench/dist-start.sh     Env: THRONG (a built binary; default: release build),
#        WORKERS (3), ROUNDS (10), PORT (18590). Run it under `flock /tmp/throng-bench.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh
WORKERS=${WORKERS:-3}
ROUNDS=${ROUNDS:-10}
PORT=${PORT:-18590}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-dist-start.XXXXXX)
start_demo_site "$BIN" "$PORT" 1-3
trap 'kill $DEMO_PID 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true' EXIT

worst=0
for round in $(seq "$ROUNDS"); do
  coord_port=$((PORT + round))
  THRONG_TOKEN=bench "$BIN" run "http://127.0.0.1:$PORT/" -u "$WORKERS" -d 2s -q \
    --workers "$WORKERS" --listen "127.0.0.1:$coord_port" >"$OUT/c$round.log" 2>&1 &
  coord=$!
  pids=()
  for w in $(seq "$WORKERS"); do
    THRONG_TOKEN=bench "$BIN" worker --connect "http://127.0.0.1:$coord_port" --name "w$w" \
      >"$OUT/r$round-w$w.log" 2>&1 &
    pids+=($!)
  done
  wait "$coord" || true
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  spread=$(grep -ho 'started at [0-9]*' "$OUT"/r"$round"-w*.log | awk '{print $3}' |
    sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print hi - lo}')
  echo "round $round: workers started within $spread ms"
  if [ "$spread" -gt "$worst" ]; then worst=$spread; fi
done
echo "largest spread: $worst ms over $ROUNDS rounds ($WORKERS workers; logs in $OUT)"
