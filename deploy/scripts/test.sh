#!/usr/bin/env bash
# The deployment part of the project's tests (scripts/test.sh runs it as
# "deploy"): the alerting rules (promtool check rules, promtool test rules),
# the Kubernetes examples and the dashboard against the real consumer, its
# live /metrics (promtool check metrics), and the container image, built from
# the top-level Dockerfile with Podman and runc and run in --sandbox mode.
#
#   bash deploy/scripts/test.sh        # from any directory; some 5-10 minutes
#
# On a fresh machine, as root, it installs what is missing from Debian's
# packages: promtool (prometheus), podman, runc and busybox-static
# (../shared/containers.md says why these).
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deploy/scripts/test.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== promtool check rules"
promtool check rules deploy/prometheus/alerts.yml
echo "== promtool test rules"
(cd deploy/prometheus && promtool test rules alerts_test.yml)

echo "== go test -tags deploy: manifests, dashboard and rules against a live consumer, promtool check metrics, the image"
go test -tags deploy -count=1 -timeout 25m -v ./deploy ./internal/version
