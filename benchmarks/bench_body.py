"""Benchmark: facepipe hands / pose / holistic vs the official legacy MediaPipe solutions, same run.

Cases (same images and frames for both sides, per-call wall time after warm-up):

* hands static: Hands(static_image_mode=True, max_num_hands=2) on photos with 1-2 hands;
* hands tracking: Hands(static_image_mode=False) over the first frames of a hand video;
* pose static (+ segmentation): Pose(static_image_mode=True[, enable_segmentation=True]);
* pose tracking: Pose(static_image_mode=False) (filters on) over a video;
* holistic static / tracking: Holistic(...) likewise.

Each image's time is the median of --repeats calls; a case's time is the median over its images
(over frames for tracking). The reference runs in a separate interpreter that has mediapipe
(`--reference-python` or FACEPIPE_REFERENCE_PYTHON). "floor" is the time of the raw model
invocations facepipe's pipeline made for that image/frame (recorded during a call, replayed with
inputs copied in from random tensors of the same shapes, outputs left in place): what is above it is
pre/post-processing.

    python benchmarks/bench_body.py --reference-python /path/to/mp-venv/bin/python

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
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HAND_IMAGES = ["hands/tfjs_hands.jpg", "pose/tfjs_posenet_tennis_standing.jpg", "hands/gesture_call/mp_17d804b5.jpg"]
POSE_IMAGES = ["pose/tfjs_posenet_yoga_tree.jpg", "pose/tfjs_posenet_tennis_standing.jpg",
               "pose/coco_000000000785.jpg"]
HOLISTIC_IMAGES = ["pose/tfjs_posenet_tennis_standing.jpg", "pose/tfjs_posenet_yoga_tree.jpg",
                   "hands/gesture_call/mp_17d804b5.jpg"]

# (label, solution, MediaPipe kwargs, images or video)
CASES = [
    ("hands static", "hands", {"static_image_mode": True, "max_num_hands": 2}, HAND_IMAGES),
    ("hands tracking (video)", "hands", {"static_image_mode": False, "max_num_hands": 2}, "videos/tfjs_asl_hand.mp4"),
    ("pose static", "pose", {"static_image_mode": True}, POSE_IMAGES),
    ("pose static + mask", "pose", {"static_image_mode": True, "enable_segmentation": True}, POSE_IMAGES),
    ("pose tracking (video)", "pose", {"static_image_mode": False}, "videos/tfjs_pose_squats.mp4"),
    ("holistic static", "holistic", {"static_image_mode": True}, HOLISTIC_IMAGES),
    ("holistic tracking (video)", "holistic", {"static_image_mode": False}, "videos/tfjs_pose_1.mp4"),
]

_REFERENCE_SCRIPT = r"""
import json, sys, time, statistics
import numpy as np
from PIL import Image, ImageOps
import mediapipe as mp
cfg = json.loads(sys.argv[1])
ctors = {"hands": mp.solutions.hands.Hands, "pose": mp.solutions.pose.Pose,
         "holistic": mp.solutions.holistic.Holistic}

def load(path):
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(im).convert("RGB")))

def frames_of(path, n):
    import av
    out = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            out.append(np.ascontiguousarray(f.to_ndarray(format="rgb24")))
            if len(out) >= n:
                break
    return out

def timed(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)

out = {}
for label, solution, kwargs, src in cfg["cases"]:
    if isinstance(src, list):
        with ctors[solution](**kwargs) as sol:
            out[label] = [timed(lambda rgb=load(p): sol.process(rgb), cfg["repeats"], cfg["warmup"]) for p in src]
    else:
        frames = frames_of(src, cfg["frames"])
        with ctors[solution](**kwargs) as warm:
            for f in frames[:cfg["warmup"]]:
                warm.process(f)
        ts = []
        with ctors[solution](**kwargs) as sol:
            for f in frames:
                t0 = time.perf_counter(); sol.process(f); ts.append((time.perf_counter() - t0) * 1000)
        out[label] = ts
print(json.dumps(out))
"""


def _median_ms(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run_reference(python: str, cases: list, frames: int, repeats: int, warmup: int) -> dict:
    cfg = {"cases": cases, "frames": frames, "repeats": repeats, "warmup": warmup}
    proc = subprocess.run([python, "-c", _REFERENCE_SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        sys.exit(f"reference run failed ({python}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class _InvocationRecorder:
    """Records (model, input shapes) of every model call made while active (Model.run and
    Model.run_filled, the in-place path the pipelines use); replays them as the floor."""

    def __init__(self) -> None:
        from facepipe.runtime.model import Model

        self._cls = Model
        self.calls: list[tuple[object, list[tuple[int, ...]]]] = []

    def __enter__(self) -> _InvocationRecorder:
        self._original = original = self._cls.run
        self._original_filled = original_filled = self._cls.run_filled
        calls = self.calls

        def recording(model, *inputs):
            calls.append((model, [np.asarray(x).shape for x in inputs]))
            return original(model, *inputs)

        def recording_filled(model, batch, fill, read=None):
            calls.append((model, [(batch, *s.shape[1:]) for s in model.inputs]))
            return original_filled(model, batch, fill, read)

        self._cls.run = recording  # type: ignore[method-assign]
        self._cls.run_filled = recording_filled  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._cls.run = self._original  # type: ignore[method-assign]
        self._cls.run_filled = self._original_filled  # type: ignore[method-assign]

    def replay(self) -> Callable[[], None]:
        rng = np.random.default_rng(0)
        prepared = [(m, [rng.uniform(0, 1, s).astype(np.float32) for s in shapes]) for m, shapes in self.calls]

        def run() -> None:
            # Inputs copied into the interpreter, outputs left where they are: the invocations
            # plus the cheapest possible input write (the pipelines no longer copy in or out).
            for m, xs in prepared:
                m.run_filled(len(xs[0]), partial(_copy_inputs, xs), _leave_outputs)

        return run


def _copy_inputs(xs: list[np.ndarray], ins: list[np.ndarray]) -> None:
    for dst, src in zip(ins, xs, strict=True):
        np.copyto(dst, src)


def _leave_outputs(outs: list[np.ndarray]) -> None:
    return None


def _floor_ms(call: Callable[[], object], repeats: int, warmup: int) -> float:
    with _InvocationRecorder() as rec:
        call()
    return _median_ms(rec.replay(), repeats, warmup)


def _make(solution: str, kwargs: dict, threads: int | None = None):
    kwargs = {**kwargs, "num_threads": threads}
    if solution == "hands":
        from facepipe.solutions.hands import Hands, HandsOptions

        return Hands(HandsOptions(**kwargs))
    if solution == "pose":
        from facepipe.solutions.pose import Pose, PoseOptions

        return Pose(PoseOptions(**kwargs))
    from facepipe.solutions.holistic import Holistic, HolisticOptions

    return Holistic(HolisticOptions(**kwargs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference-python", default=os.environ.get("FACEPIPE_REFERENCE_PYTHON"),
                   help="interpreter with mediapipe installed (env FACEPIPE_REFERENCE_PYTHON)")
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")),
                   help="folder with testdata/ (and models/)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--frames", type=int, default=40, help="video frames for the tracking cases")
    p.add_argument("--only", default=None, help="comma-separated case-label prefixes (e.g. 'hands,pose static')")
    p.add_argument("--threads", type=int, default=None,
                   help="facepipe interpreter threads (default: FACEPIPE_NUM_THREADS or 1; MediaPipe's desktop"
                        " build always uses 1 XNNPACK thread)")
    args = p.parse_args(argv)
    from facepipe.runtime.model import default_num_threads

    os.environ.setdefault("FACEPIPE_MODEL_PATH", str(args.shared / "models"))
    from facepipe.io.image import read_image
    from facepipe.io.video import VideoReader

    data = args.shared / "testdata"
    cases = [c for c in CASES if not args.only or any(c[0].startswith(s.strip()) for s in args.only.split(","))]
    ref_cases = [(label, sol, kw, [str(data / r) for r in src] if isinstance(src, list) else str(data / src))
                 for label, sol, kw, src in cases]
    ref = None
    if args.reference_python:
        ref = run_reference(args.reference_python, ref_cases, args.frames, args.repeats, args.warmup)
    else:
        print("no --reference-python / FACEPIPE_REFERENCE_PYTHON: reference columns left empty", file=sys.stderr)

    rows = []
    for label, sol, kw, src in cases:
        ours, floors = [], []
        if isinstance(src, list):
            runner = _make(sol, kw, args.threads)
            for rel in src:
                rgb = read_image(data / rel)
                ours.append(_median_ms(lambda rgb=rgb, runner=runner: runner.process(rgb), args.repeats, args.warmup))
                floors.append(_floor_ms(lambda rgb=rgb, runner=runner: runner.process(rgb), args.repeats, args.warmup))
        else:
            frames = []
            with VideoReader(data / src, rotate=False) as reader:
                for f in reader:
                    frames.append((f.image, f.time * 1000.0))
                    if len(frames) >= args.frames:
                        break
            warm = _make(sol, kw, args.threads)
            for img, ms in frames[: args.warmup]:
                warm.process(img, timestamp_ms=ms)
            runner = _make(sol, kw, args.threads)
            for img, ms in frames:
                t0 = time.perf_counter()
                runner.process(img, timestamp_ms=ms)
                ours.append((time.perf_counter() - t0) * 1000)
            # Floor: the invocations of a tracked frame (replayed for a few mid-video frames).
            for img, ms in frames[len(frames) // 2 : len(frames) // 2 + 3]:
                with _InvocationRecorder() as rec:
                    warm.process(img, timestamp_ms=ms + 1e6)  # a later time: keep warm's clock increasing
                floors.append(_median_ms(rec.replay(), args.repeats, args.warmup))
        rows.append((label, ref[label] if ref else None, ours, floors))

    print(f"legacy hands / pose / holistic, median ms per image (per frame for tracking), {args.repeats} repeats"
          f" after {args.warmup} warm-up; interpreter threads per model: MediaPipe 1, facepipe"
          f" {args.threads or default_num_threads()}")
    head = ("case", "reference ms", "facepipe ms", "ratio", "floor ms", "x floor")
    print(f"{head[0]:<28} {head[1]:>12} {head[2]:>11} {head[3]:>6} {head[4]:>9} {head[5]:>8}")
    for label, r, f, fl in rows:
        f_ms, floor = statistics.median(f), statistics.median(fl)
        r_ms = statistics.median(r) if r else None
        r_txt = f"{r_ms:12.2f}" if r_ms else f"{'-':>12}"
        ratio = f"{f_ms / r_ms:6.2f}" if r_ms else f"{'-':>6}"
        print(f"{label:<28} {r_txt} {f_ms:11.2f} {ratio} {floor:9.2f} {f_ms / floor:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
