#!/usr/bin/env bash
# Makes a Debian bookworm base image from Debian's own archive, for machines that reach no
# image registry (only a Debian mirror): debootstrap a minimal root, then import it.
#
#   deploy/make-base.sh                      # -> localhost/debian-base:bookworm
#   BASE=localhost/my-base:1 MIRROR=http://deb.debian.org/debian deploy/make-base.sh
#
# Needs root, debootstrap and podman (apt-get install podman runc debootstrap). The mirror is
# taken from /etc/apt/sources.list.d/debian.sources (or sources.list) unless MIRROR is set.
# Then: BASE=localhost/debian-base:bookworm deploy/build-image.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
BASE="${BASE:-localhost/debian-base:bookworm}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

mirror="${MIRROR:-}"
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror="$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "make-base: $tool missing (apt-get install podman runc debootstrap)" >&2; exit 2; }
done

root="$(mktemp -d /tmp/throng-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "make-base: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
# The image's apt must find the same mirror (and security updates) as the host.
security="${SECURITY_MIRROR:-}"
if [ -z "$security" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
  security="$(awk '/^URIs:/ && /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
fi
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  if [ -n "$security" ]; then echo "deb $security bookworm-security main"; fi
} >"$root/etc/apt/sources.list"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
echo "make-base: $BASE, $(podman image inspect --format "{{.Size}}" "$BASE" | numfmt --to=iec)B" >&2
