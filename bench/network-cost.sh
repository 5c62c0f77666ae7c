#!/usr/bin/env bash
# The cost of `--network` support when it is off: CPU per request of two throng binaries (BASE,
# built without it, and NEW) on the same one-request flow against nginx on loopback, unshaped,
# alternating ROUNDS times; and NEW with `--network` figures that change nothing measurable
# (a 10 Gbps link, no latency), which runs the shaping code on every read and write.
# Prints each run's requests/s and CPU per request (user + system, /usr/bin/time).
#
# Usage: BASE=/path/to/old/throng NEW=/path/to/new/throng bench/network-cost.sh
# Env:   USERS (20), DURATION (8s), ROUNDS (3), PORT (18191)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-20}
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18191}
: "${BASE:?BASE=throng binary without --network}" "${NEW:?NEW=throng binary with it}"
OUT=$(mktemp -d /tmp/throng-network-cost.XXXXXX)
chmod 755 "$OUT"
head -c 612 /dev/urandom | base64 -w 76 >"$OUT/index.html"
mkdir -p "$OUT/tmp"
cat >"$OUT/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $OUT/nginx.pid;
error_log $OUT/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $OUT/tmp; proxy_temp_path $OUT/tmp; fastcgi_temp_path $OUT/tmp;
  uwsgi_temp_path $OUT/tmp; scgi_temp_path $OUT/tmp;
  server { listen 127.0.0.1:$PORT; root $OUT; keepalive_requests 1000000; }
}
CONF
nginx -c "$OUT/nginx.conf" &
NGINX=$!
trap 'kill $NGINX 2>/dev/null; rm -rf "$OUT"' EXIT
sleep 0.5
URL="http://127.0.0.1:$PORT/index.html"

# run NAME BIN [ARGS...]: one run; prints NAME, requests/s, CPU us per request.
run() {
  local name=$1 bin=$2
  shift 2
  /usr/bin/time -f "%U %S" -o "$OUT/time" "$bin" run "$URL" --users "$USERS" \
    --duration "$DURATION" --quiet --format json --out "$OUT/res" "$@" >/dev/null 2>&1
  python3 - "$name" "$OUT/res/results.json" "$OUT/time" <<'PY'
import json, sys
name, res, tm = sys.argv[1:]
d = json.load(open(res))
s = d.get("summary", d)
n = sum(e["count"] for e in s["entries"] if e["kind"] == "document")
secs = s["duration_ms"] / 1000
u, k = map(float, open(tm).read().split()[-2:])
print(f"{name:8} {n / secs:10.0f} req/s {1e6 * (u + k) / n:8.2f} us CPU per request")
PY
}

# Rotating order: whatever else the machine runs hits each alike as far as possible.
runs=(base new shaped)
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  for i in 0 1 2; do
    case ${runs[$(((i + r) % 3))]} in
      base) run base "$BASE" ;;
      new) run new "$NEW" ;;
      shaped) run shaped "$NEW" --network latency=0ms,down=10000mbps,up=10000mbps ;;
    esac
  done
done
