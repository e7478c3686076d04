#!/usr/bin/env bash
# The Python part of the project's test entry point (scripts/test.sh python):
# lint, type check and the pytest suite, which builds and runs the real
# consumer (./cmd/consumer) and so needs Go. Runs from any directory; on a
# fresh machine it creates clients/python/.venv and installs the pinned
# requirements.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
stamp=.venv/.requirements
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Reinstall only when the pins or the package metadata changed.
want=$(cat requirements-test.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e '.[django,wagtail]'
  echo "$want" > "$stamp"
fi

echo "-- ruff check"
.venv/bin/ruff check .
echo "-- ruff format --check"
.venv/bin/ruff format --check .
echo "-- mypy"
PYTHONPATH=tests .venv/bin/mypy
echo "-- pytest"
status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
