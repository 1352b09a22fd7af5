#!/usr/bin/env bash
# The README's test command: install facepipe with its test extras into .venv,
# fetch the models the tests need (legacy ones come out of the mediapipe PyPI
# wheel; the rest from ../shared/models), then run the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/test_env.sh
. scripts/test_env.sh

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
.venv/bin/facepipe models pull --all
exec .venv/bin/python -m pytest -q "$@"
