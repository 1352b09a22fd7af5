#!/usr/bin/env bash
# The numpy 1.x leg of CI: facepipe promises numpy 1.x and 2.x, and numpy 1's value-based casting
# changes float32/float64 results where an operand is a numpy scalar or a 0-d array (a One-Euro
# filter once drifted off MediaPipe that way). Runs the parity and numeric tests with numpy<2 in
# a venv of their own (.venv-numpy1); the models are the ones scripts/test.sh fetched.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/test_env.sh
. scripts/test_env.sh

[ -x .venv-numpy1/bin/python ] || "$PY" -m venv .venv-numpy1
.venv-numpy1/bin/python -m pip install -q --disable-pip-version-check -e . "numpy<2" \
  "pytest>=7.4" "av>=12" "hypothesis>=6.80" "matplotlib>=3.7" "pyyaml>=6"
.venv-numpy1/bin/python -c 'import numpy, sys; assert numpy.__version__.startswith("1."), numpy.__version__; print("numpy", numpy.__version__, "python", sys.version.split()[0])'
exec .venv-numpy1/bin/python -m pytest -q -p no:cacheprovider "$@" \
  tests/test_goldens.py tests/test_face_detection.py tests/test_face_mesh.py tests/test_face_landmarker.py \
  tests/test_iris.py tests/test_blendshapes.py tests/test_face_geometry.py tests/test_hands.py tests/test_pose.py \
  tests/test_holistic.py tests/test_selfie.py tests/test_stages.py tests/test_float_order.py tests/test_results.py \
  tests/test_fast_paths.py tests/test_compat.py tests/test_compat_programs.py tests/test_anonymize.py
