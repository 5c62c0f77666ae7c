#!/usr/bin/env bash
# Throughput: a one-request flow with zero think time. nginx (Debian's, one worker, access_log
# off) serves a small static file on loopback; wrk, oha and `throng run URL` each drive it
# with the same connection count for the same duration, back to back, ROUNDS times in
# rotating order. Prints per round each tool's requests/s and CPU time per request (user +
# system, from /usr/bin/time) and the ratios throng/wrk (target >= 0.9) and throng/oha
# (target >= 1.0); then the medians. Ratios are taken within a round, so load from other
# processes on the machine hits the three tools alike as far as possible.
#
# Pinning: nginx on CPU 0, the load generator on CPU 1 (each tool gets one core, as throng's
# users would on a 2-core box with the target elsewhere). PIN=0 runs unpinned.
#
# Usage: bench/http-throughput.sh
# Env:   CONNS (50), DURATION (10s), ROUNDS (3), PORT (18190), PIN (1),
#        THRONG (a built binary; default: cargo build --release into /work/target-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh

CONNS=${CONNS:-50}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18190}
PIN=${PIN:-1}
BIN=$(throng_bin)
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is missing (apt-get install nginx)" >&2; exit 1; }
command -v oha >/dev/null || cargo install oha --locked --quiet
OUT=$(mktemp -d /tmp/throng-http-throughput.XXXXXX)
chmod 755 "$OUT" # the nginx worker runs as nobody
raise_fd_limit
if [ "$PIN" = 1 ]; then SERVER_CPU="taskset -c 0"; CLIENT_CPU="taskset -c 1"; else SERVER_CPU=""; CLIENT_CPU=""; fi

# A small static file (~0.8 KB, like a small JSON or HTML reply).
head -c 612 /dev/urandom | base64 -w 76 >"$OUT/index.html"
mkdir -p "$OUT/tmp"
cat >"$OUT/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $OUT/nginx.pid;
error_log $OUT/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  open_file_cache max=16;
  client_body_temp_path $OUT/tmp; proxy_temp_path $OUT/tmp; fastcgi_temp_path $OUT/tmp;
  uwsgi_temp_path $OUT/tmp; scgi_temp_path $OUT/tmp;
  server { listen 127.0.0.1:$PORT; root $OUT; location / { } }
}
CONF
$SERVER_CPU nginx -c "$OUT/nginx.conf" -p "$OUT" &
NGINX_PID=$!
trap 'kill $NGINX_PID 2>/dev/null || true' EXIT
URL="http://127.0.0.1:$PORT/index.html"
for _ in $(seq 50); do curl -sf "$URL" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$URL" >/dev/null || { echo "nginx did not start" >&2; exit 1; }

# Each prints "requests_per_second cpu_seconds" (the tool's user + system CPU time).
timed() { /usr/bin/time -f "%U %S" -o "$OUT/cpu" "$@"; }
cpu() { awk '{print $1 + $2}' "$OUT/cpu"; }
run_wrk() {
  local rps
  rps=$(timed $CLIENT_CPU wrk -t1 -c"$CONNS" -d"$DURATION" "$URL" | awk '/^Requests\/sec:/ {print $2}')
  echo "$rps $(cpu)"
}
run_oha() {
  local rps
  rps=$(timed $CLIENT_CPU oha -z "$DURATION" -c "$CONNS" --no-tui "$URL" | awk '/Requests\/sec:/ {print $2}')
  echo "$rps $(cpu)"
}
run_throng() {
  timed $CLIENT_CPU "$BIN" run "$URL" --users "$CONNS" --duration "$DURATION" -q --out "$OUT/throng" >/dev/null 2>&1
  local rps
  rps=$(jq -r '([.summary.entries[] | select(.kind == "document") | .count] | add) / (.summary.duration_ms / 1000)' \
    "$OUT/throng/results.json")
  echo "$rps $(cpu)"
}

echo "machine: $(nproc) cores ($(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}')), kernel $(uname -r)"
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}'), $(oha --version), $("$BIN" --version)"
echo "$URL: $CONNS connections, $DURATION each, $ROUNDS rounds, pinning: $([ "$PIN" = 1 ] && echo 'nginx CPU 0, client CPU 1' || echo none)"
$CLIENT_CPU wrk -t1 -c"$CONNS" -d2s "$URL" >/dev/null # warm-up

SECS=${DURATION%s}
declare -A RPS CPUUS
RATIO_W=""
RATIO_O=""
TOOLS=(wrk oha throng)
for round in $(seq "$ROUNDS"); do
  line="round $round:"
  declare -A this=()
  for i in 0 1 2; do
    tool=${TOOLS[$(( (i + round - 1) % 3 ))]}
    read -r rps cpus < <("run_$tool")
    this[$tool]=$rps
    RPS[$tool]="${RPS[$tool]:-} $rps"
    # CPU microseconds the tool spent per request.
    us=$(echo "$cpus * 1000000 / ($rps * $SECS)" | bc -l)
    CPUUS[$tool]="${CPUUS[$tool]:-} $us"
    line="$line  $tool $(printf '%.0f/s %.1fus' "$rps" "$us")"
    sleep 1
  done
  RATIO_W="$RATIO_W $(echo "${this[throng]} / ${this[wrk]}" | bc -l)"
  RATIO_O="$RATIO_O $(echo "${this[throng]} / ${this[oha]}" | bc -l)"
  echo "$line  throng/wrk $(printf '%.2f' "$(echo "${this[throng]} / ${this[wrk]}" | bc -l)")  throng/oha $(printf '%.2f' "$(echo "${this[throng]} / ${this[oha]}" | bc -l)")"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf 'median requests/s:       wrk %.0f  oha %.0f  throng %.0f\n' \
  "$(median <<<"${RPS[wrk]}")" "$(median <<<"${RPS[oha]}")" "$(median <<<"${RPS[throng]}")"
printf 'median CPU per request:  wrk %.1f us  oha %.1f us  throng %.1f us\n' \
  "$(median <<<"${CPUUS[wrk]}")" "$(median <<<"${CPUUS[oha]}")" "$(median <<<"${CPUUS[throng]}")"
printf 'median of per-round ratios: throng/wrk %.2f (target >= 0.90)   throng/oha %.2f (target >= 1.00)\n' \
  "$(median <<<"$RATIO_W")" "$(median <<<"$RATIO_O")"
