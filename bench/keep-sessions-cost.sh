#!/usr/bin/env bash
# The cost of keeping sessions whole (--keep-sessions, on by default with --out), measured in one
# invocation by alternating runs of the same work (a fixed number of iterations) with
# `--keep-sessions none` and with the default `failed` (PAIRS pairs, the order flipped every pair
# so drift on a shared machine cancels; the median of the pairs' ratios is the result). No
# session fails, so every session buffers its HAR (and in browser mode its filmstrip) to the
# end: the default's worst case.
# - HTTP mode: throng's CPU per request (results.json's generator.cpu_throng_s over requests),
#   the demo shop flow against `throng demo-site` in its own process;
# - browser mode: CPU of throng and the Chromium it started per page load (cpu_throng_s +
#   cpu_children_s over page loads), and page-load p50;
# - mode `filmstrip`: browser mode with --filmstrip (a JPEG after every step) against none.
# Takes /tmp/throng-bench.lock for the whole measurement.
#
# Usage: bench/keep-sessions-cost.sh   Env: PAIRS (5), HTTP_USERS (10), HTTP_ITERATIONS (300),
#        BROWSER_USERS (5), BROWSER_ITERATIONS (3), THRONG (a built binary; default: a release
#        build into /work/target-bench), MODES ("http browser filmstrip")
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh

PAIRS=${PAIRS:-5}
HTTP_USERS=${HTTP_USERS:-10}
HTTP_ITERATIONS=${HTTP_ITERATIONS:-300}
BROWSER_USERS=${BROWSER_USERS:-5}
BROWSER_ITERATIONS=${BROWSER_ITERATIONS:-3}
MODES=${MODES:-http browser filmstrip}
BIN=$(throng_bin)
OUT=$(mktemp -d /tmp/throng-keep-cost.XXXXXX)
SITE=18491
start_demo_site "$BIN" "$SITE" 1-5
trap 'kill $DEMO_PID 2>/dev/null || true' EXIT

# run NAME MODE USERS ITERATIONS FLAGS...: one run; prints "requests page_loads cpu_throng
# cpu_children". HTTP users neither think nor dwell (throng's CPU then goes to requests, not
# to idle timers); browser users think 0.3 of the recorded times.
run() {
  local name=$1 mode=$2 users=$3 iterations=$4 pace=(--think-scale 0.3)
  shift 4
  [ "$mode" = http ] && pace=(--think-scale 0 --dwell 0s)
  "$BIN" run flows/shop.json --var password=wonderland --target "http://127.0.0.1:$SITE" \
    --mode "$mode" --users "$users" --iterations "$iterations" "${pace[@]}" -q \
    --out "$OUT/$name" "$@" >/dev/null 2>"$OUT/$name.log"
  jq -r '[
      ([.summary.entries[] | select(.kind | IN("document","static","ajax","polling","beacon","other","eventsource","websocket")) | .count] | add),
      ([.summary.entries[] | select(.kind == "page-load") | .count] | add // 0),
      .summary.generator.cpu_throng_s, .summary.generator.cpu_children_s
    ] | @tsv' "$OUT/$name/results.json"
}

# pairs LABEL MODE USERS ITERATIONS FLAGS...: PAIRS alternating runs without and with FLAGS;
# prints the per-run numbers, the totals and the median of the pairs' ratios.
pairs() {
  local label=$1 mode=$2 users=$3 iterations=$4
  shift 4
  local off_req=0 off_pl=0 off_cpu=0 on_req=0 on_pl=0 on_cpu=0 ratios=() off_pair on_pair
  for i in $(seq "$PAIRS"); do
    local order=(off on)
    ((i % 2 == 0)) && order=(on off)
    for side in "${order[@]}"; do
      local flags=(--keep-sessions none)
      [ "$side" = on ] && flags=("$@")
      read -r req pl cpu_t cpu_c < <(run "$label-$side-$i" "$mode" "$users" "$iterations" "${flags[@]}")
      local cpu unit
      cpu=$(echo "$cpu_t + $cpu_c" | bc -l)
      unit=$req
      [ "$mode" = browser ] && unit=$pl
      printf '  %-7s %-3s pair %d: %6d requests %5d page loads  throng %6.2f s  chromium %6.2f s\n' \
        "$label" "$side" "$i" "$req" "$pl" "$cpu_t" "$cpu_c"
      if [ "$side" = on ]; then
        on_req=$((on_req + req)); on_pl=$((on_pl + pl)); on_cpu=$(echo "$on_cpu + $cpu" | bc -l)
        on_pair=$(echo "$cpu / $unit" | bc -l)
      else
        off_req=$((off_req + req)); off_pl=$((off_pl + pl)); off_cpu=$(echo "$off_cpu + $cpu" | bc -l)
        off_pair=$(echo "$cpu / $unit" | bc -l)
      fi
    done
    ratios+=("$(echo "($on_pair / $off_pair - 1) * 100" | bc -l)")
  done
  local median
  median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
  printf '%s: pairs %s; median %+.1f%%\n' "$label" "$(printf '%+.1f%% ' "${ratios[@]}")" "$median"
  if [ "$mode" = http ]; then
    local off_us on_us
    off_us=$(echo "$off_cpu * 1000000 / $off_req" | bc -l)
    on_us=$(echo "$on_cpu * 1000000 / $on_req" | bc -l)
    printf '%s: throng CPU per request %.2f us without, %.2f us with %s: %+.1f%%\n' \
      "$mode" "$off_us" "$on_us" "$*" "$(echo "($on_us / $off_us - 1) * 100" | bc -l)"
  else
    local off_ms on_ms
    off_ms=$(echo "$off_cpu * 1000 / $off_pl" | bc -l)
    on_ms=$(echo "$on_cpu * 1000 / $on_pl" | bc -l)
    printf '%s: throng + Chromium CPU per page load %.1f ms without, %.1f ms with %s: %+.1f%%\n' \
      "$mode" "$off_ms" "$on_ms" "$*" "$(echo "($on_ms / $off_ms - 1) * 100" | bc -l)"
    printf '%s: page-load p50 %s ms without, %s ms with (last pair)\n' "$mode" \
      "$(jq '[.summary.entries[] | select(.kind == "page-load") | .latency.p50_ms] | add / length' "$OUT/$label-off-$PAIRS/results.json")" \
      "$(jq '[.summary.entries[] | select(.kind == "page-load") | .latency.p50_ms] | add / length' "$OUT/$label-on-$PAIRS/results.json")"
  fi
}

exec 9>/tmp/throng-bench.lock
flock 9
echo "keep-sessions-cost: $PAIRS pairs; results in $OUT"
for mode in $MODES; do
  if [ "$mode" = http ]; then
    pairs http http "$HTTP_USERS" "$HTTP_ITERATIONS" --keep-sessions failed
  elif [ "$mode" = browser ]; then
    pairs browser browser "$BROWSER_USERS" "$BROWSER_ITERATIONS" --keep-sessions failed
  else
    pairs filmstrip browser "$BROWSER_USERS" "$BROWSER_ITERATIONS" --keep-sessions failed --filmstrip
  fi
done
