#!/usr/bin/env bash
# Hostile HTTP peers (issue 21, items 1-3 and 5): each attack of tests/it/hostile_peers.rs (run
# by `bench/hostile-peer.rs`) against `throng run`, with its wall time and peak RSS, and for
# the nested page how long SIGTERM takes. A watchdog kills throng past LIMIT_MB (or HUNG_S
# seconds), so a failure aborts instead of filling the machine.
#
# Usage: bench/hostile-peers.sh [ATTACK ...]   ATTACK: html h2 ws cookies (default: all)
# Env:   THRONG (a throng binary; default: the release build), PEER (a hostile-peer binary;
#        default: the example's release build), LIMIT_MB (3000), DURATION (8), HUNG_S (90),
#        SIZES (nested page sizes, default "125000 250000 500000 9000000")
# Prints one line per run: attack, wall s, peak MB, how it ended, what the report counted.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh
BIN=$(throng_bin)
PEER_BIN=${PEER:-}
if [ -z "$PEER_BIN" ]; then
  TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
  CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet --example hostile-peer >&2
  PEER_BIN=$TARGET_DIR/release/examples/hostile-peer
fi
LIMIT_MB=${LIMIT_MB:-3000}
DURATION=${DURATION:-8}
HUNG_S=${HUNG_S:-90}
SIZES=${SIZES:-125000 250000 500000 9000000}
ATTACKS=("$@")
[ ${#ATTACKS[@]} -eq 0 ] && ATTACKS=(html h2 ws cookies)
OUT=$(mktemp -d /tmp/throng-hostile.XXXXXX)
PEER_PID=
trap '[ -n "$PEER_PID" ] && kill $PEER_PID 2>/dev/null || true' EXIT

# start_peer KIND: the peer in the background; sets PEER_PID and ADDR.
start_peer() {
  [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null || true
  rm -f "$OUT/peer.log"
  "$PEER_BIN" "$1" >"$OUT/peer.log" 2>&1 &
  PEER_PID=$!
  for _ in $(seq 100); do
    ADDR=$(head -1 "$OUT/peer.log" 2>/dev/null || true)
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  echo "peer $1 did not start" >&2
  exit 1
}

# flow FILE URL [NETWORK_JSON]: a one-step flow navigating to URL (assets found in its HTML
# when no network is given).
flow() {
  if [ -n "${3:-}" ]; then
    # Through stdin: a network with a 300 KB body is past the longest argument allowed.
    printf '%s' "$3" | jq --arg url "$2" \
      '{title: "hostile", steps: [{type: "navigate", url: $url, network: .}]}' >"$1"
  else
    jq -n --arg url "$2" '{title: "hostile", steps: [{type: "navigate", url: $url}]}' >"$1"
  fi
}

# measure NAME TERM_AFTER_S ARGS...: runs `throng run ARGS --out $OUT/NAME -q` under the
# watchdog (TERM_AFTER_S: 0 for none); sets WALL, PEAK_MB, ENDED (exit code, "killed: RSS",
# "killed: hung") and TERM_TOOK (seconds from SIGTERM to exit).
measure() {
  local name=$1 term_after=$2
  shift 2
  local start now peak=0 rss pid termed=
  start=$(date +%s.%N)
  "$BIN" run "$@" --out "$OUT/$name" -q >/dev/null 2>"$OUT/$name.err" &
  pid=$!
  ENDED=
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    now=$(date +%s.%N)
    if [ "$peak" -gt "$LIMIT_MB" ]; then ENDED="killed: RSS"; kill -9 "$pid" 2>/dev/null || true; fi
    if awk -v n="$now" -v s="$start" -v h="$HUNG_S" 'BEGIN {exit !(n - s > h)}'; then
      ENDED="killed: hung"; kill -9 "$pid" 2>/dev/null || true
    fi
    if [ "$term_after" != 0 ] && [ -z "$termed" ] &&
      awk -v n="$now" -v s="$start" -v t="$term_after" 'BEGIN {exit !(n - s >= t)}'; then
      termed=$now; kill -TERM "$pid" 2>/dev/null || true
    fi
    sleep 0.05
  done
  local code=0
  { wait "$pid"; } 2>/dev/null || code=$?
  now=$(date +%s.%N)
  [ -z "$ENDED" ] && ENDED="exit $code"
  WALL=$(awk -v n="$now" -v s="$start" 'BEGIN {printf "%.1f", n - s}')
  TERM_TOOK=$([ -n "$termed" ] && awk -v n="$now" -v t="$termed" 'BEGIN {printf "%.1f", n - t}' || echo -)
  PEAK_MB=$peak
}

# counted NAME JQ: a value from the run's results.json ("-" when there is none).
counted() {
  [ -f "$OUT/$1/results.json" ] && jq -r "$2" "$OUT/$1/results.json" || echo "no report"
}

row() { printf '%-34s %7s s %7s MB  %-14s %s\n' "$@"; }

for attack in "${ATTACKS[@]}"; do
  case $attack in
  html)
    for size in $SIZES; do
      start_peer "html-nest:$size"
      flow "$OUT/html.json" "http://$ADDR/"
      measure "html-$size" 0 "$OUT/html.json" -u 1 -d "${DURATION}s"
      row "nested HTML $size B, ${DURATION} s run" "$WALL" "$PEAK_MB" "$ENDED" \
        "$(counted "html-$size" '"page loads \([.summary.entries[] | select(.kind == "page-load") | .count] | add), html.too_deep \(.summary.counters["html.too_deep"] // 0), html.cut \(.summary.counters["html.cut"] // 0)"')"
      measure "html-term-$size" 3 "$OUT/html.json" -u 1 -d 60s
      row "  SIGTERM at 3 s of a 60 s run" "$WALL" "$PEAK_MB" "$ENDED" "SIGTERM to exit: $TERM_TOOK s; $(counted "html-term-$size" '"report written"')"
    done
    ;;
  h2)
    start_peer h2-unread
    net=$(jq -n --arg url "https://$ADDR/upload" \
      '{requests: [{kind: "ajax", method: "POST", url: $url, body: ("x" * 300000)}]}')
    flow "$OUT/h2.json" "https://$ADDR/" "$net"
    measure h2 0 "$OUT/h2.json" -u 10 -d "${DURATION}s" -k --think 0s --timeout 5s
    row "HTTP/2 300 KB bodies never read" "$WALL" "$PEAK_MB" "$ENDED" \
      "$(counted h2 '[.summary.entries[] | select(.name | endswith("/upload")) | select(.kind != "step")][0] | "POSTs \(.count), ok \(.count - .failures), failed \(.failures_by_outcome)"')"
    ;;
  ws)
    for kind in ws-ping ws-big:62914560; do
      start_peer "$kind"
      net=$(jq -n --arg doc "http://$ADDR/" --arg ws "ws://$ADDR/ws" \
        '{requests: [{kind: "document", method: "GET", url: $doc}], webSockets: [{url: $ws, sent: [{offsetMs: 0, data: "hello"}]}]}')
      flow "$OUT/ws.json" "http://$ADDR/" "$net"
      measure "$kind" 0 "$OUT/ws.json" -u 5 -d "${DURATION}s" --dwell 60s
      row "WebSocket $kind, 5 users" "$WALL" "$PEAK_MB" "$ENDED" \
        "$(counted "$kind" '"closed.error \(.summary.counters["websocket.closed.error"] // 0), closed.page \(.summary.counters["websocket.closed.page"] // 0), messages in \(.summary.counters["websocket.messages_in"] // 0)"')"
    done
    ;;
  cookies)
    start_peer cookies
    # One session of many requests: the jar is new each session, as a new person's.
    net=$(jq -n --arg base "http://$ADDR" \
      '{requests: [range(0; 2000) | {kind: "ajax", method: "GET", url: "\($base)/p\(.)"}]}')
    flow "$OUT/cookies.json" "http://$ADDR/" "$net"
    measure cookies 0 "$OUT/cookies.json" -u 2 -d 15s --think 0s
    row "cookie flood, 2 users, 15 s" "$WALL" "$PEAK_MB" "$ENDED" "peer saw: $(tail -1 "$OUT/peer.log")"
    ;;
  *)
    echo "unknown attack $attack (html h2 ws cookies)" >&2
    exit 2
    ;;
  esac
done
echo "logs and reports: $OUT"
