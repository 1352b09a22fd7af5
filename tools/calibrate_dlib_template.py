"""Measure DLIB_TEMPLATE_150 and DETECTOR_TEMPLATE_150 (facepipe.stages.face_align) from dlib's chip placements.

    FACEPIPE_MODEL_PATH=../shared/models .venv/bin/python tools/calibrate_dlib_template.py \
        --shared ../shared [--goldens tests/goldens/recognition/dlib_faces.npz]

For every face in the goldens file (made by make_recognition_goldens.py in the
dlib venv: where dlib put each 150x150 chip) that facepipe's Face Landmarker
also finds, facepipe's keypoints5 are mapped into dlib's chip; the per-point
median over all faces is the template that makes facepipe's chips line up with
dlib's. The same for BlazeFace's eyes, nose tip and mouth centre gives the
detector template. The identities/ photos are left out: they evaluate recognition.
Prints the templates and their spread (median absolute deviation, chip pixels).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.recognition_eval import dlib_faces, facepipe_keypoints5, match_faces  # noqa: E402


def _in_chip(points: np.ndarray, chip_to_image: np.ndarray) -> np.ndarray:
    to_chip = np.linalg.inv(np.vstack([chip_to_image, [0, 0, 1]]))[:2]
    return points @ to_chip[:, :2].T + to_chip[:, 2]


def _report(name: str, pts: np.ndarray) -> None:
    template = np.median(pts, axis=0)
    mad = np.median(np.abs(pts - template), axis=0)
    print(f"{name} = np.array(  # {len(pts)} faces")
    print("    [" + ", ".join(f"[{x:.4f}, {y:.4f}]" for x, y in template) + "],")
    print("    np.float64,\n)")
    print("median absolute deviation (chip px):", np.round(mad, 2).tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--goldens", type=Path, default=Path("tests/goldens/recognition/dlib_faces.npz"))
    args = ap.parse_args()
    import facepipe as fp
    from facepipe.io.image import read_image

    ref = dlib_faces(args.goldens)
    detector = fp.FaceDetector()
    mesh, blaze = [], []
    for rel in sorted(set(ref.files)):
        if rel.startswith("identities/"):
            continue
        path = args.shared / "testdata" / rel
        rows = np.flatnonzero(ref.files == rel)
        kp5 = facepipe_keypoints5(path)
        mesh += [_in_chip(kp5[i], ref.chip_to_image[rows[j]]) for i, j in match_faces(kp5, ref.shape5[rows])]
        kp6 = detector.detect(read_image(path)).keypoints  # eyes first, as match_faces expects
        blaze += [_in_chip(kp6[i, :4], ref.chip_to_image[rows[j]]) for i, j in match_faces(kp6, ref.shape5[rows])]
    _report("DLIB_TEMPLATE_150", np.array(mesh))
    _report("DETECTOR_TEMPLATE_150", np.array(blaze))


if __name__ == "__main__":
    main()
