#!/usr/bin/env bash
# Builds the tributary image from Containerfile with podman (or buildah).
#
#   scripts/image.sh [TAG]      TAG defaults to tributary:dev
#
# The binary is built here, outside the image (CGO_ENABLED=0: static, runs on
# an empty filesystem), with the version and commit stamped in; the build
# context is a folder holding only what the Containerfile copies: that binary,
# the machine's CA bundle, a passwd/group entry for the non-root user, and the
# example pipeline files. So the build pulls no base image and needs no network.
#
# Environment:
#   VERSION            the version to stamp (default: `git describe --tags --dirty`, else dev)
#   CONTAINER_BUILDER  podman or buildah (default: whichever is installed, podman first)
#   CONTAINER_STORAGE  a folder for an image store of its own (--root/--runroot,
#                      vfs driver), instead of the machine's; the tests use one
#   CA_BUNDLE          the CA certificates to copy (default /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-tributary:dev}

builder=${CONTAINER_BUILDER:-$(command -v podman || command -v buildah || true)}
if [ -z "$builder" ]; then
  echo "image.sh: neither podman nor buildah is installed (Debian/Ubuntu: apt-get install -y podman)" >&2
  exit 1
fi
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ ! -s "$ca" ]; then
  echo "image.sh: no CA bundle at $ca (Debian/Ubuntu: apt-get install -y ca-certificates)" >&2
  exit 1
fi

version=${VERSION:-$(git describe --tags --dirty 2>/dev/null || echo dev)}
commit=$(git rev-parse HEAD 2>/dev/null || true)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/etc/ssl/certs" "$ctx/examples"
pkg=github.com/tributary-dev/tributary/cli
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X $pkg.Version=$version -X $pkg.Commit=$commit" \
  -o "$ctx/tributary" ./cmd/tributary
cp "$ca" "$ctx/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:tributary:/home/nonroot:/sbin/nologin\n' >"$ctx/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/etc/group"
cp examples/*.yaml "$ctx/examples/"

flags=()
if [ -n "${CONTAINER_STORAGE:-}" ]; then
  mkdir -p "$CONTAINER_STORAGE"
  flags=(--root "$CONTAINER_STORAGE/root" --runroot "$CONTAINER_STORAGE/run" --storage-driver vfs)
fi
case $(basename "$builder") in
buildah) "$builder" "${flags[@]}" bud --layers=false -f "$PWD/Containerfile" -t "$tag" "$ctx" ;;
*) "$builder" "${flags[@]}" build -f "$PWD/Containerfile" -t "$tag" "$ctx" ;;
esac
echo "built $tag ($version${commit:+, commit ${commit:0:12}})" >&2
