#!/usr/bin/env bash
# Builds throng's image from this host's release binary and replays the demo flow in browser
# mode inside it, against `throng demo-site` running on the host (loopback; the container
# shares the host's network). The container is as locked down as the Kubernetes pods:
# read-only root, no capabilities, no new privileges. Prints the run's summary, its exit
# code, what the demo site counted and the image's size. Not part of CI (minutes, podman).
#
#   deploy/run-image-demo.sh
#   USERS=4 DURATION=20s deploy/run-image-demo.sh
#   WORKERS=2 deploy/run-image-demo.sh     # a coordinator and 2 workers, one container each
#
#   BINARY   throng binary to put in the image (default target/release/throng, built if missing)
#   BASE     base image (default localhost/debian-base:bookworm, made by make-base.sh if missing)
#   IMAGE    image name (default localhost/throng:demo)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
IMAGE="${IMAGE:-localhost/throng:demo}"
USERS="${USERS:-2}"
DURATION="${DURATION:-10s}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

binary="${BINARY:-$repo/target/release/throng}"
if [ ! -x "$binary" ]; then
  (cd "$repo" && cargo build --release --bin throng)
fi
base="${BASE:-localhost/debian-base:bookworm}"
if [ -z "${BASE:-}" ] && ! podman image exists "$base"; then
  BASE="$base" "$here/make-base.sh"
fi
BASE="$base" BINARY="$binary" IMAGE="$IMAGE" "$here/build-image.sh"

log="$(mktemp /tmp/throng-demo-site.XXXXXX)"
"$binary" demo-site --port 0 >"$log" 2>&1 &
site=$!
trap 'kill "$site" 2>/dev/null; rm -f "$log"' EXIT
url=""
for _ in $(seq 1 50); do
  url="$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "run-image-demo: the demo site did not start: $(cat "$log")" >&2; exit 1; }
echo "run-image-demo: demo site at $url" >&2

locked=(--network host --read-only --cap-drop ALL --security-opt no-new-privileges --shm-size 256m)
run=(run /flows/shop.json --mode browser --var password=wonderland --target "$url"
  -u "$USERS" -d "$DURATION" --quiet)
started=$(date +%s%N)
set +e
if [ -n "${WORKERS:-}" ]; then
  # The distributed run: the coordinator runs no users; each worker gets only the address
  # and the token, as the Kubernetes pods of `throng k8s` do.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  token="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  pids=()
  for i in $(seq 1 "$WORKERS"); do
    podman run --rm "${locked[@]}" -e THRONG_TOKEN="$token" "$IMAGE" \
      worker --connect "http://127.0.0.1:$port" --name "container-$i" >/dev/null 2>&1 &
    pids+=($!)
  done
  podman run --rm "${locked[@]}" -e THRONG_TOKEN="$token" -v "$repo/flows:/flows:ro" "$IMAGE" \
    "${run[@]}" --workers "$WORKERS" --listen "127.0.0.1:$port" --wait-workers 60s
  code=$?
  for pid in "${pids[@]}"; do wait "$pid" || code=1; done
else
  podman run --rm "${locked[@]}" -v "$repo/flows:/flows:ro" "$IMAGE" "${run[@]}"
  code=$?
fi
set -e
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
requests="$(curl -s "$url/__stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
echo "run-image-demo: exit code $code, container ran ${elapsed_ms} ms; the demo site served" \
  "$requests requests; image $IMAGE $(numfmt --to=iec "$size")B" >&2
exit "$code"
