"""Record what the programs in tests/compat_programs print and draw under the official MediaPipe.

    python tools/make_compat_goldens.py --python /work/venvs/ref/bin/python   # mediapipe 0.10.21 side venv

Runs every program with that interpreter (`import mediapipe` is the real
package there), output folder = a fresh temporary folder, FACEPIPE_SHARED set,
and writes tests/goldens/compat_programs.json: per program its stdout and, per
image it wrote, the shape and the sha256 of the decoded pixels (PNG bytes may
differ between encoders; pixels may not). tests/test_compat_programs.py runs the
same programs on facepipe.compat and compares.

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
