"""Measure facepipe.stages.face_align.DLIB_TEMPLATE_150 from dlib's own chip placements.

    FACEPIPE_MODEL_PATH=../shared/models .venv/bin/python tools/calibrate_dlib_template.py \
        --shared ../shared [--goldens tests/goldens/recognition/dlib_faces.npz]

For every face in the goldens file (made by make_recognition_goldens.py in the
dlib venv: where dlib put each 150x150 chip) that facepipe's Face Landmarker
also finds, facepipe's keypoints5 are mapped into dlib's chip; the per-point
median over all faces is the template that makes facepipe's chips line up with
dlib's. The identities/ photos are left out: they evaluate recognition.
Prints the template and the spread (median absolute deviation, chip pixels).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.recognition_eval import dlib_faces, facepipe_keypoints5, match_faces  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--goldens", type=Path, default=Path("tests/goldens/recognition/dlib_faces.npz"))
    args = ap.parse_args()
    ref = dlib_faces(args.goldens)
    in_chip = []
    for rel in sorted(set(ref.files)):
        if rel.startswith("identities/"):
            continue
        kp5 = facepipe_keypoints5(args.shared / "testdata" / rel)
        rows = np.flatnonzero(ref.files == rel)
        for i, j in match_faces(kp5, ref.shape5[rows]):
            m = np.vstack([ref.chip_to_image[rows[j]], [0, 0, 1]])
            to_chip = np.linalg.inv(m)[:2]
            in_chip.append(kp5[i] @ to_chip[:, :2].T + to_chip[:, 2])
    pts = np.array(in_chip)
    template = np.median(pts, axis=0)
    mad = np.median(np.abs(pts - template), axis=0)
    print(f"{len(pts)} faces matched")
    print("DLIB_TEMPLATE_150 = np.array(")
    print("    [" + ", ".join(f"[{x:.4f}, {y:.4f}]" for x, y in template) + "],")
    print("    np.float64,\n)")
    print("median absolute deviation (chip px):", np.round(mad, 2).tolist())


if __name__ == "__main__":
    main()
