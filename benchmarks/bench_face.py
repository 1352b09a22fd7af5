"""Benchmark: facepipe face detection / face mesh vs the official legacy MediaPipe solutions, same run.

Cases (same images and frames for both sides, per-call wall time after warm-up):

* detect short / full: FaceDetection(model_selection=0/1) vs FaceDetector("short"/"full");
* mesh static, 1 face: FaceMesh(static_image_mode=True, max_num_faces=1) on single-face photos;
* mesh static, 3 faces: the same with max_num_faces=3 on photos of three people;
* mesh static refined: refine_landmarks=True (MediaPipe: attention mesh; facepipe: 468 mesh + iris model);
* mesh tracking: FaceMesh(static_image_mode=False) over the first frames of a video, per frame.

Each image's time is the median of --repeats calls; a case's time is the median over its images
(over frames for tracking). The reference runs in a separate interpreter that has mediapipe
(`--reference-python` or FACEPIPE_REFERENCE_PYTHON). "floor" is the time of the raw model
invocations facepipe's pipeline makes for that case (detector, landmark model with all faces in one
batch, iris model once per eye), inputs copied in from prepared tensors, outputs left in place: what
is above it is pre/post-processing.

    python benchmarks/bench_face.py --reference-python /path/to/mp-venv/bin/python

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
ONE_FACE = ["faces/pyfeat_single_face.jpg", "faces/mp_sergey.png", "faces/if_attr_1423.jpg",
            "faces/if_pose_left_face.jpeg"]
THREE_FACES = ["groups/tfjs_three_people.jpg", "groups/pyfeat_multi_face.jpg"]
VIDEO = "videos/pyfeat_single_face.mp4"

# Each case: (label, reference constructor, kwargs, images key).
CASES = [
    ("detect short", "face_detection", {"model_selection": 0}, "one"),
    ("detect full", "face_detection", {"model_selection": 1}, "one"),
    ("mesh static, 1 face", "face_mesh", {"static_image_mode": True, "max_num_faces": 1}, "one"),
    ("mesh static, 3 faces", "face_mesh", {"static_image_mode": True, "max_num_faces": 3}, "three"),
    ("mesh static refined, 1 face", "face_mesh",
     {"static_image_mode": True, "max_num_faces": 1, "refine_landmarks": True}, "one"),
]

_REFERENCE_SCRIPT = r"""
import json, sys, time, statistics
import numpy as np
from PIL import Image, ImageOps
import mediapipe as mp
cfg = json.loads(sys.argv[1])

def load(path):
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(im).convert("RGB")))

def timed(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)

out = {}
for label, solution, kwargs, paths in cfg["cases"]:
    sols = mp.solutions
    ctor = sols.face_detection.FaceDetection if solution == "face_detection" else sols.face_mesh.FaceMesh
    with ctor(**kwargs) as sol:
        out[label] = [timed(lambda rgb=load(p): sol.process(rgb), cfg["repeats"], cfg["warmup"]) for p in paths]

import av
frames = []
with av.open(cfg["video"]) as c:
    for f in c.decode(video=0):
        frames.append(np.ascontiguousarray(f.to_ndarray(format="rgb24")))
        if len(frames) >= cfg["frames"]:
            break
with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) as warm:
    for f in frames[:cfg["warmup"]]:
        warm.process(f)
ts = []
with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) as sol:
    for f in frames:
        t0 = time.perf_counter(); sol.process(f); ts.append((time.perf_counter() - t0) * 1000)
out["mesh tracking (video)"] = ts
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


def run_reference(python: str, cases: list, video: Path, frames: int, repeats: int, warmup: int) -> dict:
    cfg = {"cases": cases, "video": str(video), "frames": frames, "repeats": repeats, "warmup": warmup}
    proc = subprocess.run([python, "-c", _REFERENCE_SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        sys.exit(f"reference run failed ({python}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_facepipe(groups: dict, video: Path, frames_n: int, repeats: int, warmup: int,
                     threads: int | None = None) -> dict:
    """label -> (per-image ms, per-image floor ms), the same shape as the reference's output."""
    from facepipe.io.image import read_image
    from facepipe.io.video import VideoReader
    from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions
    from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

    images = {key: [read_image(x) for x in paths] for key, paths in groups.items()}
    out = {}
    for label, sol, kw, key in CASES:
        if sol == "face_detection":
            runner = FaceDetector(FaceDetectorOptions(model="short" if kw["model_selection"] == 0 else "full",
                                                      num_threads=threads))
            call = runner.detect
            models = [runner._model]
        else:
            runner = FaceMesh(FaceMeshOptions(**kw, num_threads=threads))
            call = runner.process
            models = [runner._detector._model, runner._model] + ([runner._iris._model] if runner._iris else [])
        ours, floors = [], []
        for rgb in images[key]:
            ours.append(_median_ms(lambda rgb=rgb, call=call: call(rgb), repeats, warmup))
            n = len(call(rgb)) if sol == "face_mesh" else 0
            floors.append(_median_ms(_floor_fn(models, n), repeats, warmup))
        out[label] = (ours, floors)

    frames = []
    with VideoReader(video) as reader:
        for f in reader:
            frames.append((f.image, f.time * 1000.0))
            if len(frames) >= frames_n:
                break
    warm = FaceMesh(FaceMeshOptions(max_num_faces=1, num_threads=threads))
    for img, ms in frames[:warmup]:
        warm.process(img, timestamp_ms=ms)
    tracker = FaceMesh(FaceMeshOptions(max_num_faces=1, num_threads=threads))
    track_ms = []
    for img, ms in frames:
        t0 = time.perf_counter()
        tracker.process(img, timestamp_ms=ms)
        track_ms.append((time.perf_counter() - t0) * 1000)
    floor = _median_ms(_floor_fn([tracker._model], 1, landmarks_only=True), repeats, warmup)
    out["mesh tracking (video)"] = (track_ms, [floor])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference-python", default=os.environ.get("FACEPIPE_REFERENCE_PYTHON"),
                   help="interpreter with mediapipe installed (env FACEPIPE_REFERENCE_PYTHON)")
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")),
                   help="folder with testdata/ (and models/)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--frames", type=int, default=60, help="video frames for the tracking case")
    p.add_argument("--rounds", type=int, default=2,
                   help="alternate reference and facepipe this many times; each keeps its best round"
                        " (evens out load from other processes)")
    p.add_argument("--threads", type=int, default=None,
                   help="facepipe interpreter threads (default: FACEPIPE_NUM_THREADS or 1; MediaPipe's desktop"
                        " build always uses 1 XNNPACK thread)")
    args = p.parse_args(argv)
    from facepipe.runtime.model import default_num_threads

    os.environ.setdefault("FACEPIPE_MODEL_PATH", str(args.shared / "models"))
    data = args.shared / "testdata"
    groups = {"one": [data / r for r in ONE_FACE], "three": [data / r for r in THREE_FACES]}
    ref_cases = [(label, sol, kw, [str(x) for x in groups[key]]) for label, sol, kw, key in CASES]
    if not args.reference_python:
        print("no --reference-python / FACEPIPE_REFERENCE_PYTHON: reference columns left empty", file=sys.stderr)
    ref_rounds, fp_rounds = [], []
    for _ in range(max(1, args.rounds)):
        if args.reference_python:
            ref_rounds.append(run_reference(args.reference_python, ref_cases, data / VIDEO, args.frames,
                                            args.repeats, args.warmup))
        fp_rounds.append(measure_facepipe(groups, data / VIDEO, args.frames, args.repeats, args.warmup, args.threads))

    def best(values_per_round: list[list[float]]) -> float:
        return min(statistics.median(v) for v in values_per_round)

    print(f"legacy face detection / face mesh: median ms per image (per frame for tracking) over images,"
          f" {args.repeats} repeats after {args.warmup} warm-up, best of {len(fp_rounds)} alternating rounds;"
          f" interpreter threads per model: MediaPipe 1, facepipe {args.threads or default_num_threads()}")
    head = ("case", "reference ms", "facepipe ms", "ratio", "floor ms", "x floor")
    print(f"{head[0]:<30} {head[1]:>12} {head[2]:>11} {head[3]:>6} {head[4]:>9} {head[5]:>8}")
    for label in fp_rounds[0]:
        f_ms = best([r[label][0] for r in fp_rounds])
        floor = best([r[label][1] for r in fp_rounds])
        r_ms = best([r[label] for r in ref_rounds]) if ref_rounds else None
        r_txt = f"{r_ms:12.2f}" if r_ms else f"{'-':>12}"
        ratio = f"{f_ms / r_ms:6.2f}" if r_ms else f"{'-':>6}"
        print(f"{label:<30} {r_txt} {f_ms:11.2f} {ratio} {floor:9.2f} {f_ms / floor:8.2f}")
    return 0


def _floor_fn(models: list, faces: int, landmarks_only: bool = False):
    """The raw invocations one pipeline call makes: detector, landmarks for all faces, iris per eye."""
    rng = np.random.default_rng(0)
    calls = []
    for i, m in enumerate(models):
        shape = m.inputs[0].shape[1:]
        # models: [detector, landmarks, iris] (or just [landmarks]): 1 image, all faces in one batch,
        # then one call per eye (the iris model cannot batch).
        role = "landmarks" if landmarks_only else ("detector", "landmarks", "iris")[i]
        batches = {"detector": [1], "landmarks": [faces], "iris": [1] * (2 * faces)}[role]
        calls += [(m, rng.uniform(0, 1, (b, *shape)).astype(np.float32)) for b in batches if b]

    def run() -> None:
        # Inputs copied into the interpreter, outputs left where they are: the invocations plus
        # the cheapest possible input write (the pipeline warps in place and copies nothing out).
        for m, x in calls:
            m.run_filled(len(x), partial(_copy_input, x), _leave_outputs)

    return run


def _copy_input(x: np.ndarray, ins: list[np.ndarray]) -> None:
    np.copyto(ins[0], x)


def _leave_outputs(outs: list[np.ndarray]) -> None:
    return None


if __name__ == "__main__":
    sys.exit(main())
