"""Overhead of facepipe.compat.mediapipe over the native facepipe call it wraps (target: <= 5 %).

    FACEPIPE_SHARED=../shared python benchmarks/bench_compat.py [--repeat 40]

Same image, same options; native and compat calls alternate so both see the same
machine load; the table gives the best (minimum) time per call, the least
noisy estimate on a shared machine, and compat/native, plus the median ratio. The
compat side includes building MediaPipe's result objects (landmark lists are
built lazily, so a program that touches every point pays for it there, as it
does with MediaPipe's protobufs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import facepipe as fp
import facepipe.compat.mediapipe as mp
from facepipe.io.image import read_image

SHARED = Path(os.environ.get("FACEPIPE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _cases(image):  # noqa: ANN001, ANN202
    mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=image)
    task_opts = mp.tasks.vision.FaceLandmarkerOptions(
        base_options=mp.tasks.BaseOptions(model_asset_path=str(SHARED / "models" / "face_landmarker.task")),
        output_face_blendshapes=True)
    native_det = fp.FaceDetector()
    compat_det = mp.solutions.face_detection.FaceDetection()
    native_mesh = fp.FaceMesh(fp.FaceMeshOptions(static_image_mode=True))
    compat_mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True)
    native_lm = fp.FaceLandmarker(fp.FaceLandmarkerOptions(output_face_blendshapes=True))
    compat_lm = mp.tasks.vision.FaceLandmarker.create_from_options(task_opts)
    native_hands = fp.Hands(fp.HandsOptions(static_image_mode=True))
    compat_hands = mp.solutions.hands.Hands(static_image_mode=True)
    return [
        ("face detection (legacy)", lambda: native_det.detect_normalized(image), lambda: compat_det.process(image)),
        ("face mesh 468 (legacy)", lambda: native_mesh.process(image), lambda: compat_mesh.process(image)),
        ("face mesh + read every point", lambda: native_mesh.process(image).landmarks.tolist(),
         lambda: [(p.x, p.y, p.z) for f in compat_mesh.process(image).multi_face_landmarks for p in f.landmark]),
        ("Tasks FaceLandmarker + blendshapes", lambda: native_lm.detect(image), lambda: compat_lm.detect(mp_image)),
        ("hands (legacy)", lambda: native_hands.process(image), lambda: compat_hands.process(image)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--image", default=str(SHARED / "testdata" / "faces" / "pyfeat_single_face.jpg"))
    args = ap.parse_args()
    image = read_image(args.image)
    print(f"image {args.image} {image.shape[1]}x{image.shape[0]}, {args.repeat} calls each, best ms")
    print(f"{'case':38s} {'native':>9s} {'compat':>9s} {'compat/native':>14s} {'median ratio':>13s}")
    for name, native, compat in _cases(image):
        native(), compat()  # warm-up
        tn, tc = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            native()
            t1 = time.perf_counter()
            compat()
            t2 = time.perf_counter()
            tn.append(t1 - t0)
            tc.append(t2 - t1)
        n, c = min(tn) * 1e3, min(tc) * 1e3
        med = statistics.median(tc) / statistics.median(tn)
        print(f"{name:38s} {n:9.3f} {c:9.3f} {c / n:14.3f} {med:13.3f}")


if __name__ == "__main__":
    main()
