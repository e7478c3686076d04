#!/usr/bin/env bash
# Builds the purgebus container image from the top-level Dockerfile with
# docker or podman, whichever is installed, stamping the version and commit.
#
#   deploy/image.sh                         # purgebus:<version>
#   IMAGE=registry.example.com/purgebus:1.0 deploy/image.sh --build-arg GO_VERSION=1.26
#
# Variables: IMAGE (the tag), VERSION (default: git describe), COMMIT
# (default: git rev-parse HEAD), CONTAINER_ENGINE (default: docker if
# installed, else podman; may carry global options, such as
# "podman --storage-driver vfs"). Arguments go to "<engine> build".
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null 2>&1; then
    engine=podman
  else
    echo "deploy/image.sh: neither docker nor podman is installed" >&2
    exit 1
  fi
fi
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
image=${IMAGE:-purgebus:${version}}

echo "deploy/image.sh: building $image (version $version, commit $commit) with $engine" >&2
# $engine is split on purpose: it may carry global options.
# shellcheck disable=SC2086
exec $engine build --build-arg "VERSION=$version" --build-arg "COMMIT=$commit" -t "$image" "$@" .
