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

import sys
from collections.abc import Callable
from functools import partial

import _harness as harness
import numpy as np

DEFAULT_IMAGES = [
    "faces/if_attr_1423.jpg",  # 448x448
    "faces/pyfeat_single_face.jpg",  # 572x562
    "faces/mp_sergey.png",  # 600x600
    "faces/if_pose_left_face.jpeg",  # 640x821, near profile
    "groups/tfjs_three_people.jpg",  # 1049x861, three faces
]

# Runs after _harness.REFERENCE_PRELUDE in the reference interpreter.
_REFERENCE_SCRIPT = r"""
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision
opts = vision.FaceLandmarkerOptions(
    base_options=BaseOptions(model_asset_path=cfg["task"]), running_mode=vision.RunningMode.IMAGE,
    num_faces=cfg["num_faces"], output_face_blendshapes=True, output_facial_transformation_matrixes=True)
out = {}
with vision.FaceLandmarker.create_from_options(opts) as lm:
    for path in cfg["images"]:
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=load(path))
        out[path] = {"ms": timed(lambda: lm.detect(image)), "faces": len(lm.detect(image).face_landmarks)}
print(json.dumps(out))
"""


def _floor_fn(det, mesh, bs, det_in: np.ndarray, mesh_in: np.ndarray, bs_in: np.ndarray) -> Callable[[], None]:
    """The model calls facepipe makes for one image: detector, landmarks (batched), blendshapes per face."""
    return harness.replay([(det, [det_in])] + ([(mesh, [mesh_in])] if len(mesh_in) else [])
                          + [(bs, [bs_in[i : i + 1]]) for i in range(len(bs_in))])


def main(argv: list[str] | None = None) -> int:
    parser = harness.benchmark_parser(__doc__, repeats=30, warmup=5,
                                      shared_help="folder with testdata/ and models/face_landmarker.task")
    parser.add_argument("--images", nargs="*", default=DEFAULT_IMAGES, help="images relative to <shared>/testdata")
    parser.add_argument("--num-faces", type=int, default=5)
    args = harness.parse_benchmark_args(parser, argv)
    from facepipe.io.image import read_image
    from facepipe.runtime.model import Model
    from facepipe.runtime.options import RuntimeOptions
    from facepipe.runtime.store import resolve_model
    from facepipe.solutions.blendshapes import blendshape_input
    from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions

    images = [args.shared / "testdata" / rel for rel in args.images]
    ref = None
    if args.reference_python:
        config = {"task": str(args.shared / "models" / "face_landmarker.task"), "images": [str(p) for p in images],
                  "num_faces": args.num_faces, "repeats": args.repeats, "warmup": args.warmup}
        ref = harness.run_reference(args.reference_python, _REFERENCE_SCRIPT, config)

    lm = FaceLandmarker(FaceLandmarkerOptions(num_faces=args.num_faces, output_face_blendshapes=True,
                                              output_facial_transformation_matrixes=True,
                                              runtime=RuntimeOptions(num_threads=args.threads)))
    det = Model(resolve_model("blaze_face_short_range"), num_threads=args.threads)
    mesh = Model(resolve_model("face_landmarks_detector"), num_threads=args.threads)
    bs = Model(resolve_model("face_blendshapes"), num_threads=args.threads)
    det_in = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)

    rows = []
    for rel, path in zip(args.images, images):
        rgb = read_image(path)
        res = lm.detect(rgb)
        n = len(res)
        ms = harness.median_ms(partial(lm.detect, rgb), args.repeats, args.warmup)
        mesh_in = np.random.default_rng(1).uniform(0, 1, (n, 256, 256, 3)).astype(np.float32)
        bs_in = blendshape_input(res.landmarks, res.image_size)
        floor = harness.median_ms(_floor_fn(det, mesh, bs, det_in, mesh_in, bs_in), args.repeats, args.warmup)
        r = ref.get(str(path)) if ref else None
        if r is not None and r["faces"] != n:
            print(f"note: {rel}: reference found {r['faces']} faces, facepipe {n}", file=sys.stderr)
        rows.append(harness.Row(f"{rel} ({rgb.shape[1]}x{rgb.shape[0]}, {n} face{'s' if n != 1 else ''})",
                                r["ms"] if r else None, ms, floor))

    print(f"FaceLandmarker IMAGE mode, blendshapes + matrices, num_faces={args.num_faces}, "
          f"median of {args.repeats} after {args.warmup} warm-up, facepipe threads={mesh.num_threads}")
    harness.print_table(rows, case_width=58)
    if ref:
        ratios = [row.facepipe_ms / row.reference_ms for row in rows if row.reference_ms]
        print(f"geometric mean ratio facepipe/reference: {float(np.exp(np.mean(np.log(ratios)))):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
