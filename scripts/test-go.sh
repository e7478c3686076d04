#!/usr/bin/env bash
# The Go suite, with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race ./...
