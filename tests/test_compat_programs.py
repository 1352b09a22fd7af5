"""Real MediaPipe programs (tests/compat_programs) give MediaPipe's printed output and pixels on facepipe.compat.

The reference is mediapipe 0.10.21 itself: tools/make_compat_goldens.py ran every
program in the side venv and recorded its stdout and a hash of every image it
wrote (tests/goldens/compat_programs.json). Here the same files run with
`import mediapipe` resolved to facepipe.compat (in-process, as
`python -m facepipe.compat` does; one test runs that command for real).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED

from facepipe.compat import install_mediapipe_alias, uninstall_mediapipe_alias

PROGRAMS = Path(__file__).parent / "compat_programs"
GOLDEN = json.loads((Path(__file__).parent / "goldens" / "compat_programs.json").read_text())["programs"]

# Where facepipe's underlying numbers are not MediaPipe's to the last printed digit. The text must then
# match with every number within this relative tolerance (measured differences in the comments).
NUMERIC_TOLERANCE = {
    # handedness score: the hand model's output differs by <= 2e-7 between LiteRT and MediaPipe's TFLite.
    "hands_images.py": 1e-6,
    # blendshape scores differ by <= 6e-7, the transformation matrix by <= 3e-5 (cm).
    "tasks_face_landmarker.py": 1e-5,
}
# Images drawn by the program's own cv2.putText, whose glyphs changed between OpenCV 4.11 (the reference
# venv) and 4.14: compared only where no text is drawn, i.e. not at all here; the printed detections
# (every box, keypoint and score) must still be identical.
OWN_TEXT_DRAWING = {"tasks_face_detector.py"}
# Charts the program draws with matplotlib: the reference's pixels are matplotlib 3.11's (equal here with
# 3.11.2); another matplotlib draws the same chart with other pixels (3.10.9: other antialiasing), so
# there only the size is compared (the numbers charted are checked in the printed output).
MATPLOTLIB_DRAWN = {"tasks_face_landmarker.py": {"blendshapes.png"}}
MATPLOTLIB_OF_REFERENCE = (3, 11)

_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def _run_in_process(program: Path, out_dir: Path) -> str:
    old_argv, old_path = sys.argv, list(sys.path)
    buf = io.StringIO()
    install_mediapipe_alias()
    try:
        sys.argv = [str(program), str(out_dir)]
        sys.path.insert(0, str(program.parent))
        with contextlib.redirect_stdout(buf):
            runpy.run_path(str(program), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
        uninstall_mediapipe_alias()
    return buf.getvalue()


def _digests(folder: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(folder.iterdir()):
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        out[path.name] = {"shape": list(pixels.shape), "sha256": hashlib.sha256(pixels.tobytes()).hexdigest()}
    return out


def _same_text(ref: str, got: str, rtol: float) -> None:
    ref_lines, got_lines = ref.splitlines(), got.splitlines()
    assert len(ref_lines) == len(got_lines)
    for a, b in zip(ref_lines, got_lines):
        if a == b:
            continue
        assert _NUMBER.sub("#", a) == _NUMBER.sub("#", b), (a, b)
        x = np.array([float(v) for v in _NUMBER.findall(a)])
        y = np.array([float(v) for v in _NUMBER.findall(b)])
        np.testing.assert_allclose(y, x, rtol=rtol, atol=rtol, err_msg=f"{a!r} vs {b!r}")


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_program_output_matches_mediapipe(name: str, tmp_path: Path, monkeypatch) -> None:
    if not (SHARED / "testdata").is_dir():
        pytest.skip("no shared test data")
    monkeypatch.setenv("FACEPIPE_SHARED", str(SHARED))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ref = GOLDEN[name]
    got = _run_in_process(PROGRAMS / name, tmp_path)
    if name in NUMERIC_TOLERANCE:
        _same_text(ref["stdout"], got, NUMERIC_TOLERANCE[name])
    else:
        assert got == ref["stdout"]
    assert got.strip(), "the program printed nothing"
    images = _digests(tmp_path)
    assert sorted(images) == sorted(ref["images"])
    assert [v["shape"] for v in images.values()] == [ref["images"][k]["shape"] for k in images]
    if name in OWN_TEXT_DRAWING:
        return
    import matplotlib

    if tuple(int(v) for v in matplotlib.__version__.split(".")[:2]) != MATPLOTLIB_OF_REFERENCE:
        for chart in MATPLOTLIB_DRAWN.get(name, ()):
            images.pop(chart)
            ref = {**ref, "images": {k: v for k, v in ref["images"].items() if k != chart}}
    assert images == ref["images"]


def test_python_m_facepipe_compat_runs_an_unchanged_program(tmp_path: Path) -> None:
    """The real command line: `import mediapipe` resolves to facepipe.compat; nothing named mediapipe installed."""
    env = dict(os.environ, FACEPIPE_SHARED=str(SHARED))
    proc = subprocess.run([sys.executable, "-m", "facepipe.compat", "face_detection_blur.py", str(tmp_path)],
                          cwd=PROGRAMS, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == GOLDEN["face_detection_blur.py"]["stdout"]
    assert _digests(tmp_path) == GOLDEN["face_detection_blur.py"]["images"]


def test_python_m_facepipe_compat_errors(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "facepipe.compat", str(tmp_path / "missing.py")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "missing.py" in proc.stderr and "Traceback" not in proc.stderr
    script = tmp_path / "objectron.py"
    script.write_text("import mediapipe as mp\nmp.solutions.objectron\n")
    proc = subprocess.run([sys.executable, "-m", "facepipe.compat", str(script)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "AttributeError" in proc.stderr and "objectron" in proc.stderr and "not implemented" in proc.stderr
