#!/usr/bin/env bash
# Distribution overhead: CPU time per request of one `throng run` process against the same
# load through a coordinator and 2 local workers (the CPU of all three summed), and the bytes
# each worker sends per second. The target is the demo site (no artificial latency) on CPU 0;
# throng's processes share CPU 1, so both set-ups get the same core. Rounds alternate the two
# set-ups; ratios are taken within a round. Target: dist/single <= 1.05.
#
# Usage: bench/dist-overhead.sh        Env: USERS (40), DURATION (10s), ROUNDS (3), PORT (18290),
#        WORKERS (2; 1 measures the protocol alone, without two processes sharing the core)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh
USERS=${USERS:-40}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
PORT=${PORT:-18290}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-dist-overhead.XXXXXX)
raise_fd_limit
taskset -c 0 "$BIN" demo-site --port "$PORT" --latency-ms 0-0 >"$OUT/demo-site.log" 2>&1 &
DEMO_PID=$!
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/api/featured"
LOAD=(run "$URL" -u "$USERS" -d "$DURATION" -q)

# cpu_of FILE: user + system seconds written by /usr/bin/time -f "%U %S".
cpu_of() { awk '{print $1 + $2}' "$1"; }
requests_of() { jq '[.summary.entries[] | select(.kind == "ajax" or .kind == "document") | .count] | add' "$1"; }

single() {
  local dir=$OUT/single-$1
  /usr/bin/time -f "%U %S" -o "$dir.time" taskset -c 1 "$BIN" "${LOAD[@]}" --out "$dir" >/dev/null 2>&1
  echo "$(cpu_of "$dir.time") $(requests_of "$dir/results.json")"
}

distributed() {
  local dir=$OUT/dist-$1 port=$((PORT + 1))
  THRONG_TOKEN=bench /usr/bin/time -f "%U %S" -o "$dir.coord.time" taskset -c 1 "$BIN" "${LOAD[@]}" \
    --workers "$WORKERS" --listen "127.0.0.1:$port" --out "$dir" >"$dir.coord.log" 2>&1 &
  local coord=$!
  sleep 0.5
  for w in $(seq "$WORKERS"); do
    THRONG_TOKEN=bench /usr/bin/time -f "%U %S" -o "$dir.w$w.time" taskset -c 1 "$BIN" worker \
      --connect "http://127.0.0.1:$port" --name "w$w" >"$dir.w$w.log" 2>&1 &
  done
  wait
  local cpu
  cpu=$(cat "$dir.coord.time" "$dir".w*.time | awk '{s += $1 + $2} END {print s}')
  local bytes reports
  bytes=$(counter "$dir/results.json" coordinator.report_bytes)
  reports=$(counter "$dir/results.json" coordinator.reports)
  echo "$cpu $(requests_of "$dir/results.json") $bytes $reports $(cpu_of "$dir.coord.time")"
}

printf '%-6s %12s %12s %12s %12s %8s %14s %12s\n' round single_req single_us dist_req dist_us ratio bytes/report coord_cpu_s
ratios=()
for r in $(seq "$ROUNDS"); do
  read -r s_cpu s_req < <(single "$r")
  read -r d_cpu d_req bytes reports c_cpu < <(distributed "$r")
  s_us=$(echo "$s_cpu * 1000000 / $s_req" | bc -l)
  d_us=$(echo "$d_cpu * 1000000 / $d_req" | bc -l)
  ratio=$(echo "$d_us / $s_us" | bc -l)
  ratios+=("$ratio")
  printf '%-6s %12d %12.2f %12d %12.2f %8.3f %14.0f %12.2f\n' "$r" "$s_req" "$s_us" "$d_req" "$d_us" "$ratio" \
    "$(echo "$bytes / $reports" | bc -l)" "$c_cpu"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median dist/single CPU per request: %.3f (target <= 1.05); results in %s\n' "$median" "$OUT"
