#!/usr/bin/env bash
# Builds throng's container image from deploy/Containerfile with podman (or docker when no
# podman is installed and a docker daemon answers).
#
#   deploy/build-image.sh                                   # compile in the builder stage
#   BINARY=target/release/throng deploy/build-image.sh      # copy a binary built on this host
#   BASE=localhost/debian-base:bookworm IMAGE=throng:dev BINARY=target/release/throng deploy/build-image.sh
#
#   IMAGE    name of the result (default localhost/throng:latest)
#   BASE     the runtime's base image, any Debian bookworm (default debian:bookworm-slim)
#   BUILDER  the Rust image of the builder stage (default rust:1-bookworm)
#   BINARY   a throng binary built on a Debian bookworm host (same glibc): skips the builder
#   ENGINE   podman or docker (default: podman if installed)
#
# Without a reachable registry (as on the project's CI machines): make a base from Debian's
# archive with deploy/make-base.sh and pass BASE=localhost/debian-base:bookworm and BINARY.
# With podman, deploy/containers.conf is used unless CONTAINERS_CONF is set (runc, no default
# ulimits: what podman needs on kernels with hybrid cgroups). Prints the image's size.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
IMAGE="${IMAGE:-localhost/throng:latest}"

engine="${ENGINE:-}"
if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then
    engine=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=docker
  else
    echo "build-image: neither podman nor a running docker found (apt-get install podman runc)" >&2
    exit 2
  fi
fi
if [ "$engine" = podman ]; then
  export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
fi

args=(build --network host -f "$here/Containerfile" -t "$IMAGE")
[ -n "${BASE:-}" ] && args+=(--build-arg "BASE=$BASE")
[ -n "${BUILDER:-}" ] && args+=(--build-arg "BUILDER=$BUILDER")

if [ -n "${BINARY:-}" ]; then
  if [ ! -x "$BINARY" ]; then
    echo "build-image: BINARY=$BINARY: not an executable file" >&2
    exit 2
  fi
  # A context holding only the binary: nothing else of the repository is sent.
  context="$(mktemp -d /tmp/throng-image.XXXXXX)"
  trap 'rm -rf "$context"' EXIT
  cp "$BINARY" "$context/throng"
  args+=(--target from-binary --build-arg BINARY=throng "$context")
else
  args+=(--target from-source "$repo")
fi

echo "build-image: $engine ${args[*]}" >&2
"$engine" "${args[@]}"
size="$("$engine" image inspect --format '{{.Size}}' "$IMAGE")"
echo "build-image: $IMAGE, $(numfmt --to=iec "$size")B" >&2
