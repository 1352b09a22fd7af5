"""Benchmark: facepipe face detection / face mesh vs the official legacy MediaPipe solutions, same run.

Cases (same images and frames for both sides, per-call wall time after warm-up):

* detect short / full: FaceDetection(model_selection=0/1) vs FaceDetector("short"/"full");
* mesh static, 1 face: FaceMesh(static_image_mode=True, max_num_faces=1) on single-face photos;
* mesh static, 3 faces: the same with max_num_faces=3 on photos of three people;
* mesh static refined: refine_landmarks=True (both: the attention mesh; facepipe runs its custom ops in numpy);
* mesh tracking: FaceMesh(static_image_mode=False) over the first frames of a video, per frame.

Each image's time is the median of --repeats calls; a case's time is the median over its images
(over frames for tracking). The reference runs in a separate interpreter that has mediapipe
(`--reference-python` or FACEPIPE_REFERENCE_PYTHON). "floor" is the time of the raw model
invocations facepipe's pipeline makes for that case (detector, landmark model with all faces in one
batch; for the attention mesh its LiteRT sub-models), inputs copied in from prepared tensors, outputs
left in place: what is above it is pre/post-processing (and the attention mesh's numpy operators).

    python benchmarks/bench_face.py --reference-python /path/to/mp-venv/bin/python

Numbers on a shared or busy machine are noisy; compare ratios from one run.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import _harness as harness
import numpy as np

ONE_FACE = ["faces/pyfeat_single_face.jpg", "faces/mp_sergey.png", "faces/if_attr_1423.jpg",
            "faces/if_pose_left_face.jpeg"]
THREE_FACES = ["groups/tfjs_three_people.jpg", "groups/pyfeat_multi_face.jpg"]

# (label, MediaPipe solution, its kwargs, images or video relative to <shared>/testdata)
CASES = [
    ("detect short", "face_detection", {"model_selection": 0}, ONE_FACE),
    ("detect full", "face_detection", {"model_selection": 1}, ONE_FACE),
    ("mesh static, 1 face", "face_mesh", {"static_image_mode": True, "max_num_faces": 1}, ONE_FACE),
    ("mesh static, 3 faces", "face_mesh", {"static_image_mode": True, "max_num_faces": 3}, THREE_FACES),
    ("mesh static refined, 1 face", "face_mesh",
     {"static_image_mode": True, "max_num_faces": 1, "refine_landmarks": True}, ONE_FACE),
    ("mesh tracking (video)", "face_mesh", {"static_image_mode": False, "max_num_faces": 1},
     "videos/pyfeat_single_face.mp4"),
]

# Runs after _harness.REFERENCE_PRELUDE in the reference interpreter.
_REFERENCE_SCRIPT = r"""
import mediapipe as mp
print(json.dumps(legacy_cases_ms({"face_detection": mp.solutions.face_detection.FaceDetection,
                                  "face_mesh": mp.solutions.face_mesh.FaceMesh})))
"""


def measure_facepipe(testdata: Path, frames_n: int, repeats: int, warmup: int,
                     threads: int | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """label -> (per-image ms, per-image floor ms); per-frame ms and one floor for the tracking case."""
    from facepipe.io.image import read_image
    from facepipe.runtime.options import RuntimeOptions
    from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions
    from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

    out = {}
    runtime = RuntimeOptions(num_threads=threads)
    for label, sol, kw, src in CASES:
        if isinstance(src, str):
            frames = harness.video_frames(testdata / src, frames_n)
            harness.warm_up(FaceMesh(FaceMeshOptions(**kw, runtime=runtime)), frames, warmup)
            tracker = FaceMesh(FaceMeshOptions(**kw, runtime=runtime))
            track_ms = harness.per_frame_ms(tracker, frames)
            floor = harness.median_ms(_floor_fn([tracker._model], 1, landmarks_only=True), repeats, warmup)
            out[label] = (track_ms, [floor])
            continue
        if sol == "face_detection":
            runner = FaceDetector(FaceDetectorOptions(model="short" if kw["model_selection"] == 0 else "full",
                                                      runtime=runtime))
            call = runner.detect
            models = [runner._model]
        else:
            runner = FaceMesh(FaceMeshOptions(**kw, runtime=runtime))
            call = runner.process
            landmark_models = runner._attention.segment_models if runner._attention else [runner._model]
            models = [runner._detector._model, *landmark_models]
        ours, floors = [], []
        for rgb in (read_image(testdata / rel) for rel in src):
            ours.append(harness.median_ms(partial(call, rgb), repeats, warmup))
            n = len(call(rgb)) if sol == "face_mesh" else 0
            floors.append(harness.median_ms(_floor_fn(models, n), repeats, warmup))
        out[label] = (ours, floors)
    return out


def _floor_fn(models: list, faces: int, landmarks_only: bool = False) -> Callable[[], None]:
    """The raw invocations one pipeline call makes: detector, then the landmark model(s) for all faces."""
    rng = np.random.default_rng(0)
    calls = []
    for i, m in enumerate(models):
        # models: [detector, landmark model or the attention mesh's sub-models] (or just [landmarks]):
        # the detector on 1 image, every landmark model on all faces in one batch.
        batch = 1 if i == 0 and not landmarks_only else faces
        if batch:
            calls.append((m, [rng.uniform(0, 1, (batch, *spec.shape[1:])).astype(np.float32) for spec in m.inputs]))
    return harness.replay(calls)


def main(argv: list[str] | None = None) -> int:
    parser = harness.benchmark_parser(__doc__, repeats=20, warmup=3, frames=60)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate reference and facepipe this many times; each keeps its best round"
                             " (evens out load from other processes)")
    args = harness.parse_benchmark_args(parser, argv)
    from facepipe.runtime.model import default_num_threads

    testdata = args.shared / "testdata"
    config = {"cases": harness.reference_cases(CASES, testdata), "frames": args.frames, "repeats": args.repeats,
              "warmup": args.warmup}
    ref_rounds, fp_rounds = [], []
    for _ in range(max(1, args.rounds)):
        if args.reference_python:
            ref_rounds.append(harness.run_reference(args.reference_python, _REFERENCE_SCRIPT, config))
        fp_rounds.append(measure_facepipe(testdata, args.frames, args.repeats, args.warmup, args.threads))

    def best(values_per_round: list[list[float]]) -> float:
        return min(statistics.median(v) for v in values_per_round)

    print(f"legacy face detection / face mesh: median ms per image (per frame for tracking) over images,"
          f" {args.repeats} repeats after {args.warmup} warm-up, best of {len(fp_rounds)} alternating rounds;"
          f" interpreter threads per model: MediaPipe 1, facepipe {args.threads or default_num_threads()}")
    rows = [harness.Row(label, best([r[label] for r in ref_rounds]) if ref_rounds else None,
                        best([r[label][0] for r in fp_rounds]), best([r[label][1] for r in fp_rounds]))
            for label in fp_rounds[0]]
    harness.print_table(rows, case_width=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
