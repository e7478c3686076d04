#!/usr/bin/env bash
# The one test entry point: every language's suite and the deployment checks.
# Each part owns a script of its own; this file only runs them in order.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh go python  # only the named parts
set -euo pipefail
cd "$(dirname "$0")/.."

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(go python typescript deploy)

for part in "${parts[@]}"; do
  case "$part" in
    go) script=scripts/test-go.sh ;;
    python) script=clients/python/scripts/test.sh ;;
    typescript) script=clients/typescript/scripts/test.sh ;;
    deploy) script=deploy/scripts/test.sh ;;
    *) echo "scripts/test.sh: unknown part $part (go, python, typescript, deploy)" >&2; exit 2 ;;
  esac
  if [ ! -f "$script" ]; then
    echo "== $part: no $script yet"
    continue
  fi
  echo "== $part ($script)"
  bash "$script"
done
