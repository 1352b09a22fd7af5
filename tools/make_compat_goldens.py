"""Record what the programs in tests/compat_programs print and draw under the official MediaPipe.

    python tools/make_compat_goldens.py --python /work/venvs/ref/bin/python   # mediapipe 0.10.21 side venv

Runs every program with that interpreter (`import mediapipe` is the real
package there), output folder = a fresh temporary folder, FACEPIPE_SHARED set,
and writes tests/goldens/compat_programs.json: per program its stdout and, per
image it wrote, the shape and the sha256 of the decoded pixels (PNG bytes may
differ between encoders; pixels may not). tests/test_compat_programs.py runs the
same programs on facepipe.compat and compares. It also records MediaPipe API facts (enums, connection
sets in iteration order, default drawing styles) that tests/test_compat.py checks.

`--compat` runs them with `python -m facepipe.compat` instead and reports
differences against the recorded goldens (nothing is written).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "compat_programs"
GOLDEN = ROOT / "tests" / "goldens" / "compat_programs.json"


# MediaPipe API facts the compat layer must reproduce: enums, connection sets (in iteration order, which
# is drawing order), default drawing styles, DrawingSpec defaults. Printed as JSON by the interpreter run.
API_PROBE = r"""
import json
import mediapipe as mp
S = mp.solutions
enums = {name: [[m.name, int(m)] for m in e] for name, e in (
    ("HandLandmark", S.hands.HandLandmark), ("PoseLandmark", S.pose.PoseLandmark),
    ("FaceKeyPoint", S.face_detection.FaceKeyPoint))}
sets = {}
for mod in (S.face_mesh, S.hands, S.pose, S.face_mesh_connections, S.hands_connections, S.pose_connections):
    for name in dir(mod):
        v = getattr(mod, name)
        if name.isupper() and isinstance(v, frozenset):
            sets[mod.__name__.rsplit(".", 1)[1] + "." + name] = [list(e) for e in v]
ds = S.drawing_styles
def spec(s):
    return [list(s.color), s.thickness, s.circle_radius]
styles = {
    "contours0": {f"{a},{b}": spec(v) for (a, b), v in ds.get_default_face_mesh_contours_style(0).items()},
    "contours1": {f"{a},{b}": spec(v) for (a, b), v in ds.get_default_face_mesh_contours_style(1).items()},
    "tesselation": spec(ds.get_default_face_mesh_tesselation_style()),
    "iris": {f"{a},{b}": spec(v) for (a, b), v in ds.get_default_face_mesh_iris_connections_style().items()},
    "hand_landmarks": {str(int(k)): spec(v) for k, v in ds.get_default_hand_landmarks_style().items()},
    "hand_connections": {f"{a},{b}": spec(v) for (a, b), v in ds.get_default_hand_connections_style().items()},
    "pose_landmarks": {str(int(k)): spec(v) for k, v in ds.get_default_pose_landmarks_style().items()},
    "DrawingSpec": spec(S.drawing_utils.DrawingSpec()),
}
print(json.dumps({"enums": enums, "sets": sets, "styles": styles}))
"""


def api_facts(python: str) -> dict:
    proc = subprocess.run([python, "-c", API_PROBE], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def image_digests(folder: Path) -> dict[str, dict]:
    import cv2

    out = {}
    for path in sorted(folder.iterdir()):
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise SystemExit(f"{path}: not an image")
        out[path.name] = {"shape": list(pixels.shape), "sha256": hashlib.sha256(pixels.tobytes()).hexdigest()}
    return out


def run(python: str, program: Path, shared: str, compat: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [python, "-m", "facepipe.compat", str(program), tmp] if compat else [python, str(program), tmp]
        env = dict(os.environ, FACEPIPE_SHARED=shared, MPLBACKEND="Agg")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(PROGRAMS), check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{program.name} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
        return {"stdout": proc.stdout, "images": image_digests(Path(tmp))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", required=True, help="interpreter to run the programs with")
    ap.add_argument("--shared", default=os.environ.get("FACEPIPE_SHARED", str(ROOT.parent / "shared")))
    ap.add_argument("--compat", action="store_true", help="run via python -m facepipe.compat and compare")
    ap.add_argument("programs", nargs="*", help="program names (default: all)")
    args = ap.parse_args()
    names = args.programs or sorted(p.name for p in PROGRAMS.glob("*.py"))
    results = {name: run(args.python, PROGRAMS / name, args.shared, args.compat) for name in names}
    if args.compat:
        golden = json.loads(GOLDEN.read_text())["programs"]
        bad = 0
        for name, got in results.items():
            ref = golden[name]
            same_text = got["stdout"] == ref["stdout"]
            same_images = got["images"] == ref["images"]
            bad += not (same_text and same_images)
            print(f"{name:36s} stdout {'same' if same_text else 'DIFFERENT'}  images "
                  f"{'same' if same_images else 'DIFFERENT'} ({len(ref['images'])})")
        return 1 if bad else 0
    data = {"generator": "tools/make_compat_goldens.py", "python": args.python,
            "api": api_facts(args.python),
            "mediapipe": subprocess.run([args.python, "-c", "import mediapipe; print(mediapipe.__version__)"],
                                        capture_output=True, text=True, check=True).stdout.strip(),
            "programs": results}
    old = json.loads(GOLDEN.read_text())["programs"] if GOLDEN.exists() and args.programs else {}
    data["programs"] = {**old, **results}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(data['programs'])} programs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
