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
# The cost of exporting: TOOLS="throng throng_export" runs throng plain and throng with
# `--metrics` (scraped every second by a Prometheus on CPU 0) and `--remote-write` (into the
# same Prometheus, every 5 s), and prints the CPU per request of each and their ratio.
#
# HTTP/2: PROTO=h2 serves the file over TLS with HTTP/2 (a self-signed certificate); wrk then
# speaks HTTP/1.1 over TLS (it has no HTTP/2), `throng` negotiates HTTP/2 (one connection per
# user) and the tool `throng_h1` is throng with `--http1` over the same TLS. The tool `h2load`
# (nghttp2's, `apt-get install nghttp2-client`) is the HTTP/2 reference: one stream at a time per
# connection (`-m1`), like throng's one-request users.
#
# Usage: bench/http-throughput.sh
# Env:   CONNS (50), DURATION (10s), ROUNDS (3), PORT (18190), PIN (1), PROTO (h1; or h2),
#        TOOLS ("wrk oha throng"; also throng_export, throng_h1, h2load),
#        THRONG (a built binary; default: cargo build --release into /work/target-bench),
#        THRONG_ARGS (extra flags for every throng run, e.g. "--threads 2")
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/http-common.sh

CONNS=${CONNS:-50}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18190}
PIN=${PIN:-1}
PROTO=${PROTO:-h1}
BIN=$(throng_bin)
read -r -a TOOLS <<<"${TOOLS:-wrk oha throng}"
has() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is missing (apt-get install nginx)" >&2; exit 1; }
if has h2load; then command -v h2load >/dev/null || { echo "h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }; fi
if has oha; then command -v oha >/dev/null || cargo install oha --locked --quiet; fi
OUT=$(mktemp -d /tmp/throng-http-throughput.XXXXXX)
chmod 755 "$OUT" # the nginx worker runs as nobody
raise_fd_limit
if [ "$PIN" = 1 ]; then SERVER_CPU="taskset -c 0"; CLIENT_CPU="taskset -c 1"; else SERVER_CPU=""; CLIENT_CPU=""; fi

# A small static file (~0.8 KB, like a small JSON or HTML reply).
head -c 612 /dev/urandom | base64 -w 76 >"$OUT/index.html"
mkdir -p "$OUT/tmp"
LISTEN=""
SCHEME=http
TLS_FLAGS=()
if [ "$PROTO" = h2 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
  chmod 644 "$OUT/key.pem"
  LISTEN="ssl http2; ssl_certificate $OUT/cert.pem; ssl_certificate_key $OUT/key.pem"
  SCHEME=https
  TLS_FLAGS=(--insecure)
fi
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
  server { listen 127.0.0.1:$PORT $LISTEN; root $OUT; location / { } }
}
CONF
$SERVER_CPU nginx -c "$OUT/nginx.conf" -p "$OUT" &
NGINX_PID=$!
trap 'kill $NGINX_PID 2>/dev/null || true' EXIT
URL="$SCHEME://127.0.0.1:$PORT/index.html"
for _ in $(seq 50); do curl -ksf "$URL" >/dev/null 2>&1 && break; sleep 0.1; done
curl -ksf "$URL" >/dev/null || { echo "nginx did not start" >&2; exit 1; }

# For throng_export: a Prometheus beside nginx that scrapes --metrics every second and
# accepts remote write.
METRICS_PORT=$((PORT + 1))
PROM_PORT=$((PORT + 2))
if has throng_export; then
  command -v prometheus >/dev/null || { echo "prometheus is missing (apt-get install prometheus)" >&2; exit 1; }
  cat >"$OUT/prometheus.yml" <<CONF
global: {scrape_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: throng
    static_configs: [{targets: ['127.0.0.1:$METRICS_PORT']}]
CONF
  $SERVER_CPU prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver >"$OUT/prom.log" 2>&1 &
  PROM_PID=$!
  trap 'kill $NGINX_PID $PROM_PID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
fi

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
run_h2load() {
  local rps
  rps=$(timed $CLIENT_CPU h2load -t1 -m1 -c"$CONNS" -D "${DURATION%s}" "$URL" | awk '/^finished in/ {print $4}')
  echo "$rps $(cpu)"
}
run_throng() {
  timed $CLIENT_CPU "$BIN" run "$URL" --users "$CONNS" --duration "$DURATION" -q --out "$OUT/throng" \
    ${TLS_FLAGS[@]+"${TLS_FLAGS[@]}"} ${THRONG_ARGS:-} "$@" >/dev/null 2>&1
  local rps
  rps=$(jq -r '([.summary.entries[] | select(.kind == "document") | .count] | add) / (.summary.duration_ms / 1000)' \
    "$OUT/throng/results.json")
  echo "$rps $(cpu)"
}

run_throng_h1() {
  run_throng --http1
}

run_throng_export() {
  run_throng --metrics "127.0.0.1:$METRICS_PORT" --metrics-linger 0s \
    --remote-write "http://127.0.0.1:$PROM_PORT/api/v1/write"
}

echo "machine: $(nproc) cores ($(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}')), kernel $(uname -r)"
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}'), $(has oha && oha --version), $("$BIN" --version)"
echo "$URL ($PROTO): $CONNS connections, $DURATION each, $ROUNDS rounds, tools: ${TOOLS[*]}, pinning: $([ "$PIN" = 1 ] && echo 'nginx CPU 0, client CPU 1' || echo none)"
$CLIENT_CPU wrk -t1 -c"$CONNS" -d2s "$URL" >/dev/null # warm-up

SECS=${DURATION%s}
declare -A RPS CPUUS
RATIO_W=""
RATIO_O=""
RATIO_E=""
RATIO_H=""
N=${#TOOLS[@]}
ratio() { printf '%.3f' "$(echo "$1 / $2" | bc -l)"; }
for round in $(seq "$ROUNDS"); do
  line="round $round:"
  declare -A this=() cost=()
  for i in $(seq 0 $((N - 1))); do
    tool=${TOOLS[$(( (i + round - 1) % N ))]}
    read -r rps cpus < <("run_$tool")
    this[$tool]=$rps
    RPS[$tool]="${RPS[$tool]:-} $rps"
    # CPU microseconds the tool spent per request.
    us=$(echo "$cpus * 1000000 / ($rps * $SECS)" | bc -l)
    cost[$tool]=$us
    CPUUS[$tool]="${CPUUS[$tool]:-} $us"
    line="$line  $tool $(printf '%.0f/s %.2fus' "$rps" "$us")"
    sleep 1
  done
  if has wrk && has throng; then
    RATIO_W="$RATIO_W $(ratio "${this[throng]}" "${this[wrk]}")"
    line="$line  throng/wrk $(ratio "${this[throng]}" "${this[wrk]}")"
  fi
  if has oha && has throng; then
    RATIO_O="$RATIO_O $(ratio "${this[throng]}" "${this[oha]}")"
    line="$line  throng/oha $(ratio "${this[throng]}" "${this[oha]}")"
  fi
  if has h2load && has throng; then
    RATIO_H="$RATIO_H $(ratio "${cost[throng]}" "${cost[h2load]}")"
    line="$line  CPU/request throng/h2load $(ratio "${cost[throng]}" "${cost[h2load]}")"
  fi
  if has throng_export && has throng; then
    RATIO_E="$RATIO_E $(ratio "${cost[throng_export]}" "${cost[throng]}")"
    line="$line  CPU/request export/plain $(ratio "${cost[throng_export]}" "${cost[throng]}")"
  fi
  echo "$line"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for tool in "${TOOLS[@]}"; do
  printf 'median %-14s %8.0f requests/s  %6.2f us CPU per request\n' "$tool" \
    "$(median <<<"${RPS[$tool]}")" "$(median <<<"${CPUUS[$tool]}")"
done
[ -n "$RATIO_W" ] && printf 'median of per-round ratios: throng/wrk %.2f (target >= 0.90)\n' "$(median <<<"$RATIO_W")"
[ -n "$RATIO_O" ] && printf 'median of per-round ratios: throng/oha %.2f (target >= 1.00)\n' "$(median <<<"$RATIO_O")"
[ -n "$RATIO_H" ] && printf 'median of per-round ratios: CPU per request throng/h2load %.2f (target <= 1.10)\n' "$(median <<<"$RATIO_H")"
[ -n "$RATIO_E" ] && printf 'median of per-round ratios: CPU per request with/without exporting %.3f (target <= 1.03)\n' "$(median <<<"$RATIO_E")"
true
