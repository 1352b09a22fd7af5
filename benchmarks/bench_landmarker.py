"""Benchmark: facepipe FaceLandmarker vs the official Tasks FaceLandmarker, same images, same run.

IMAGE mode, blendshapes and transformation matrices on, per-image median wall
time after warm-up. The reference runs in a separate interpreter that has
mediapipe (`--reference-python` or FACEPIPE_REFERENCE_PYTHON); both read the
images the same way (EXIF-upright RGB). The "floor" column is the sum of the
raw model invocations facepipe needs for that image (detector + landmark model
+ one blendshape call per face), inputs copied in from prepared tensors and
outputs left in place: what is left above it is pre/post-processing.

    python benchmarks/bench_landmarker.py --reference-python /path/to/mp-venv/bin/python

Numbers on a shared or busy machine are noisy; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = [
    "faces/if_attr_1423.jpg",  # 448x448
    "faces/pyfeat_single_face.jpg",  # 572x562
    "faces/mp_sergey.png",  # 600x600
    "faces/if_pose_left_face.jpeg",  # 640x821, near profile
    "groups/tfjs_three_people.jpg",  # 1049x861, three faces
]

_REFERENCE_SCRIPT = r"""
import json, sys, time, statistics
import numpy as np
from PIL import Image, ImageOps
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision
cfg = json.loads(sys.argv[1])
opts = vision.FaceLandmarkerOptions(
    base_options=BaseOptions(model_asset_path=cfg["task"]), running_mode=vision.RunningMode.IMAGE,
    num_faces=cfg["num_faces"], output_face_blendshapes=True, output_facial_transformation_matrixes=True)
out = {}
with vision.FaceLandmarker.create_from_options(opts) as lm:
    for path in cfg["images"]:
        with Image.open(path) as im:
            rgb = np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(im).convert("RGB")))
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        for _ in range(cfg["warmup"]):
            lm.detect(image)
        times = []
        for _ in range(cfg["repeats"]):
            t0 = time.perf_counter()
            res = lm.detect(image)
            times.append((time.perf_counter() - t0) * 1000)
        out[path] = {"ms": statistics.median(times), "faces": len(res.face_landmarks)}
print(json.dumps(out))
"""


def _median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _raw_invokes(det, mesh, bs, det_in: np.ndarray, mesh_in: np.ndarray, bs_in: np.ndarray) -> None:
    """The model calls facepipe makes for one image: detector, landmarks (batched), blendshapes per face.

    Inputs are copied into the interpreters and outputs left where they are: the invocations plus the
    cheapest possible input write (the pipeline warps in place and copies out only what it keeps)."""
    _invoke(det, det_in)
    if len(mesh_in):
        _invoke(mesh, mesh_in)
    for i in range(len(bs_in)):
        _invoke(bs, bs_in[i : i + 1])


def _invoke(model, x: np.ndarray) -> None:
    model.run_filled(len(x), lambda ins: np.copyto(ins[0], x), lambda outs: None)


def run_reference(python: str, task: Path, images: list[Path], num_faces: int, repeats: int, warmup: int) -> dict:
    cfg = {"task": str(task), "images": [str(p) for p in images], "num_faces": num_faces,
           "repeats": repeats, "warmup": warmup}
    proc = subprocess.run([python, "-c", _REFERENCE_SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        sys.exit(f"reference run failed ({python}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference-python", default=os.environ.get("FACEPIPE_REFERENCE_PYTHON"),
                   help="interpreter with mediapipe installed (env FACEPIPE_REFERENCE_PYTHON)")
    p.add_argument("--shared", type=Path,
                   default=Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")),
                   help="folder with testdata/ and models/face_landmarker.task")
    p.add_argument("--images", nargs="*", default=DEFAULT_IMAGES, help="images relative to <shared>/testdata")
    p.add_argument("--num-faces", type=int, default=5)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=None,
                   help="facepipe interpreter threads (default: FACEPIPE_NUM_THREADS or 1; MediaPipe's desktop"
                        " build always uses 1 XNNPACK thread)")
    args = p.parse_args(argv)

    os.environ.setdefault("FACEPIPE_MODEL_PATH", str(args.shared / "models"))
    from facepipe.io.image import read_image
    from facepipe.runtime.model import Model
    from facepipe.runtime.store import resolve_model
    from facepipe.solutions.blendshapes import blendshape_input
    from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions

    images = [args.shared / "testdata" / rel for rel in args.images]
    ref = None
    if args.reference_python:
        ref = run_reference(args.reference_python, args.shared / "models" / "face_landmarker.task", images,
                            args.num_faces, args.repeats, args.warmup)
    else:
        print("no --reference-python / FACEPIPE_REFERENCE_PYTHON: reference columns left empty", file=sys.stderr)

    lm = FaceLandmarker(FaceLandmarkerOptions(num_faces=args.num_faces, output_face_blendshapes=True,
                                              output_facial_transformation_matrixes=True, num_threads=args.threads))
    det = Model(resolve_model("blaze_face_short_range"), num_threads=args.threads)
    mesh = Model(resolve_model("face_landmarks_detector"), num_threads=args.threads)
    bs = Model(resolve_model("face_blendshapes"), num_threads=args.threads)
    det_in = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)

    rows = []
    for rel, path in zip(args.images, images):
        rgb = read_image(path)
        res = lm.detect(rgb)
        n = len(res)
        ms = _median_ms(partial(lm.detect, rgb), args.repeats, args.warmup)
        mesh_in = np.random.default_rng(1).uniform(0, 1, (n, 256, 256, 3)).astype(np.float32)
        bs_in = blendshape_input(res.landmarks, res.image_size)
        floor = _median_ms(partial(_raw_invokes, det, mesh, bs, det_in, mesh_in, bs_in), args.repeats, args.warmup)
        r = ref.get(str(path)) if ref else None
        if r is not None and r["faces"] != n:
            print(f"note: {rel}: reference found {r['faces']} faces, facepipe {n}", file=sys.stderr)
        rows.append((f"{rel} ({rgb.shape[1]}x{rgb.shape[0]}, {n} face{'s' if n != 1 else ''})",
                     r["ms"] if r else None, ms, floor))

    print(f"FaceLandmarker IMAGE mode, blendshapes + matrices, num_faces={args.num_faces}, "
          f"median of {args.repeats} after {args.warmup} warm-up, facepipe threads={mesh.num_threads}")
    head = ("case", "reference ms", "facepipe ms", "ratio", "floor ms", "x floor")
    print(f"{head[0]:<58} {head[1]:>12} {head[2]:>11} {head[3]:>6} {head[4]:>9} {head[5]:>8}")
    for case, r_ms, f_ms, floor in rows:
        r_txt = f"{r_ms:12.2f}" if r_ms is not None else f"{'-':>12}"
        ratio = f"{f_ms / r_ms:6.2f}" if r_ms else f"{'-':>6}"
        print(f"{case:<58} {r_txt} {f_ms:11.2f} {ratio} {floor:9.2f} {f_ms / floor:8.2f}")
    if ref:
        ratios = [f / r for _, r, f, _ in rows if r]
        print(f"geometric mean ratio facepipe/reference: {float(np.exp(np.mean(np.log(ratios)))):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
