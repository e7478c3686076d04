#!/usr/bin/env bash
# The TypeScript client's part of the one test entry point
# (bash scripts/test.sh typescript at the top level). Runs from any
# directory on a fresh machine with Node.js 20+ and Go: installs the locked
# dependencies when node_modules is missing or older than the lock file,
# compiles with tsc (strict), builds the consumer once, and runs the tests
# with node --test, end to end against the real consumer.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

rm -rf dist build
./node_modules/.bin/tsc -p tsconfig.json
./node_modules/.bin/tsc -p tsconfig.test.json

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd ../.. && go build -o "$bin/consumer" ./cmd/consumer)

# A hung test fails after two minutes instead of holding CI.
PURGEBUS_CONSUMER_BIN="$bin/consumer" node --test --test-timeout=120000 build/test/
