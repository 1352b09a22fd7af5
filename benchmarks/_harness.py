"""What bench_face.py, bench_landmarker.py and bench_body.py share: timing, the reference run, floors, the table.

The convention (see benchmarks/README.md): official MediaPipe runs in the SAME run as facepipe, in a separate
interpreter that has mediapipe (`--reference-python` or FACEPIPE_REFERENCE_PYTHON), on the same inputs; each
side warms up and reports medians. The "floor" is the time of the raw model invocations facepipe makes for a
case, replayed with inputs copied in from prepared tensors and outputs left in place: what a pipeline spends
above it is its pre/post-processing.

Not a library module: the scripts import it as `_harness` (Python puts the script's folder on sys.path).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# Helpers the reference scripts start with (run by the reference interpreter, which has mediapipe, numpy,
# Pillow and PyAV but not facepipe). They read images and video frames the way facepipe does: EXIF-upright
# RGB, frames as stored. `cfg` is the JSON config given to run_reference.
REFERENCE_PRELUDE = r"""
import json, statistics, sys, time
import numpy as np
from PIL import Image, ImageOps
cfg = json.loads(sys.argv[1])

def load(path):
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(im).convert("RGB")))

def video_frames(path, n):
    import av
    out = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            out.append(np.ascontiguousarray(f.to_ndarray(format="rgb24")))
            if len(out) >= n:
                break
    return out

def timed(fn):
    for _ in range(cfg["warmup"]):
        fn()
    ts = []
    for _ in range(cfg["repeats"]):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)

def static_ms(ctor, kwargs, paths):
    with ctor(**kwargs) as sol:
        return [timed(lambda rgb=load(p): sol.process(rgb)) for p in paths]

def tracking_ms(ctor, kwargs, path):
    frames = video_frames(path, cfg["frames"])
    with ctor(**kwargs) as warm:
        for f in frames[:cfg["warmup"]]:
            warm.process(f)
    ts = []
    with ctor(**kwargs) as sol:
        for f in frames:
            t0 = time.perf_counter(); sol.process(f); ts.append((time.perf_counter() - t0) * 1000)
    return ts

def legacy_cases_ms(ctors):
    # cfg["cases"]: [label, solution, kwargs, image paths (list) or a video path]
    return {label: (static_ms if isinstance(src, list) else tracking_ms)(ctors[solution], kwargs, src)
            for label, solution, kwargs, src in cfg["cases"]}
"""


# --- command line ------------------------------------------------------------------------------------------


def benchmark_parser(doc: str | None, *, repeats: int, warmup: int, frames: int | None = None,
                     shared_help: str = "folder with testdata/ (and models/)") -> argparse.ArgumentParser:
    """The arguments every benchmark has: reference interpreter, shared folder, repeats, warm-up, threads
    (and --frames for the scripts with video cases, when `frames` is given as its default)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference-python", default=os.environ.get("FACEPIPE_REFERENCE_PYTHON"),
                   help="interpreter with mediapipe installed (env FACEPIPE_REFERENCE_PYTHON)")
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")),
                   help=shared_help)
    p.add_argument("--repeats", type=int, default=repeats)
    p.add_argument("--warmup", type=int, default=warmup)
    if frames is not None:
        p.add_argument("--frames", type=int, default=frames, help="video frames for the tracking cases")
    p.add_argument("--threads", type=int, default=None,
                   help="facepipe interpreter threads (default: FACEPIPE_NUM_THREADS or 1; MediaPipe's desktop"
                        " build always uses 1 XNNPACK thread)")
    return p


def parse_benchmark_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; models default to <shared>/models; say (stderr) when the reference columns will stay empty."""
    args = parser.parse_args(argv)
    os.environ.setdefault("FACEPIPE_MODEL_PATH", str(args.shared / "models"))
    if not args.reference_python:
        print("no --reference-python / FACEPIPE_REFERENCE_PYTHON: reference columns left empty", file=sys.stderr)
    return args


# --- the reference side ------------------------------------------------------------------------------------


def reference_cases(cases: Sequence[tuple[str, str, dict, list[str] | str]], testdata: Path) -> list[tuple]:
    """(label, solution, kwargs, images or video) cases with the paths made absolute, for legacy_cases_ms."""
    def absolute(src: list[str] | str) -> list[str] | str:
        return [str(testdata / r) for r in src] if isinstance(src, list) else str(testdata / src)

    return [(label, solution, kwargs, absolute(src)) for label, solution, kwargs, src in cases]


def run_reference(python: str, script: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run REFERENCE_PRELUDE + `script` in the interpreter `python` with `config` as its JSON argument and
    return the JSON object the script prints last; exit with the interpreter's error output if it fails."""
    proc = subprocess.run([python, "-c", REFERENCE_PRELUDE + script, json.dumps(config)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"reference run failed ({python}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the facepipe side -------------------------------------------------------------------------------------


class Tracker(Protocol):
    """A video-mode solution: keeps state from frame to frame."""

    def process(self, image: np.ndarray, timestamp_ms: float | None = None) -> object: ...


def median_ms(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    """Median wall time of `repeats` calls of fn, in ms, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def video_frames(path: Path, count: int) -> list[tuple[np.ndarray, float]]:
    """The first `count` frames of a video as (RGB image, timestamp ms), as stored (unrotated, like the
    reference's PyAV decode)."""
    from facepipe.io.video import VideoReader

    frames = []
    with VideoReader(path, rotate=False) as reader:
        for f in reader:
            frames.append((f.image, f.time * 1000.0))
            if len(frames) >= count:
                break
    return frames


def warm_up(tracker: Tracker, frames: Sequence[tuple[np.ndarray, float]], warmup: int) -> None:
    """Feed the first `warmup` frames (untimed)."""
    for image, ms in frames[:warmup]:
        tracker.process(image, timestamp_ms=ms)


def per_frame_ms(tracker: Tracker, frames: Sequence[tuple[np.ndarray, float]]) -> list[float]:
    """Wall time of each frame, in ms, fed in order to a tracker (one pass: tracking state depends on it)."""
    times = []
    for image, ms in frames:
        t0 = time.perf_counter()
        tracker.process(image, timestamp_ms=ms)
        times.append((time.perf_counter() - t0) * 1000)
    return times


# --- floors ------------------------------------------------------------------------------------------------

# One model invocation: the model and its input tensors (one per model input, with the batch dimension).
Invocation = tuple[Any, list[np.ndarray]]


def _copy_inputs(xs: list[np.ndarray], ins: list[np.ndarray]) -> None:
    for dst, src in zip(ins, xs, strict=True):
        np.copyto(dst, src)


def _leave_outputs(outs: list[np.ndarray]) -> None:
    return None


def replay(calls: Sequence[Invocation]) -> Callable[[], None]:
    """A function making these invocations, in order: the floor of the pipeline call that makes them.

    Inputs are copied into the interpreters and outputs left where they are: the invocations plus the
    cheapest possible input write (the pipelines warp in place and copy out only what they keep)."""
    prepared = list(calls)

    def run() -> None:
        for model, xs in prepared:
            model.run_filled(len(xs[0]), partial(_copy_inputs, xs), _leave_outputs)

    return run


class InvocationRecorder:
    """Records (model, input shapes) of every model call made while active (Model.run and Model.run_filled,
    the in-place path the pipelines use), so that they can be replayed as the floor."""

    def __init__(self) -> None:
        from facepipe.runtime.model import Model

        self._cls = Model
        self.calls: list[tuple[Any, list[tuple[int, ...]]]] = []

    def __enter__(self) -> InvocationRecorder:
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
        """The recorded invocations with random inputs of the recorded shapes (see `replay`)."""
        rng = np.random.default_rng(0)
        return replay([(m, [rng.uniform(0, 1, s).astype(np.float32) for s in shapes]) for m, shapes in self.calls])


def recorded_floor_ms(call: Callable[[], object], repeats: int, warmup: int) -> float:
    """Floor of one call: the invocations it makes (recorded during one call), replayed; median ms."""
    with InvocationRecorder() as rec:
        call()
    return median_ms(rec.replay(), repeats, warmup)


# --- the table ---------------------------------------------------------------------------------------------


class Row(NamedTuple):
    """One line of the table: times in ms; reference None when it did not run."""

    case: str
    reference_ms: float | None
    facepipe_ms: float
    floor_ms: float


def print_table(rows: Sequence[Row], case_width: int) -> None:
    """case, reference ms, facepipe ms, facepipe/reference, floor ms, facepipe/floor (`-` without a reference).

    case_width: the case column's width (wider if a case needs it)."""
    width = max([case_width] + [len(r.case) + 1 for r in rows])
    head = ("case", "reference ms", "facepipe ms", "ratio", "floor ms", "x floor")
    print(f"{head[0]:<{width}} {head[1]:>12} {head[2]:>11} {head[3]:>6} {head[4]:>9} {head[5]:>8}")
    for case, r_ms, f_ms, floor in rows:
        r_txt = f"{r_ms:12.2f}" if r_ms is not None else f"{'-':>12}"
        ratio = f"{f_ms / r_ms:6.2f}" if r_ms else f"{'-':>6}"
        print(f"{case:<{width}} {r_txt} {f_ms:11.2f} {ratio} {floor:9.2f} {f_ms / floor:8.2f}")
