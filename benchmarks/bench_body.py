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

import statistics
import sys
from functools import partial

import _harness as harness

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

# Runs after _harness.REFERENCE_PRELUDE in the reference interpreter.
_REFERENCE_SCRIPT = r"""
import mediapipe as mp
print(json.dumps(legacy_cases_ms({"hands": mp.solutions.hands.Hands, "pose": mp.solutions.pose.Pose,
                                  "holistic": mp.solutions.holistic.Holistic})))
"""


def _make(solution: str, kwargs: dict, threads: int | None = None):
    from facepipe.runtime.options import RuntimeOptions

    kwargs = {**kwargs, "runtime": RuntimeOptions(num_threads=threads)}
    if solution == "hands":
        from facepipe.solutions.hands import Hands, HandsOptions

        return Hands(HandsOptions(**kwargs))
    if solution == "pose":
        from facepipe.solutions.pose import Pose, PoseOptions

        return Pose(PoseOptions(**kwargs))
    from facepipe.solutions.holistic import Holistic, HolisticOptions

    return Holistic(HolisticOptions(**kwargs))


def main(argv: list[str] | None = None) -> int:
    parser = harness.benchmark_parser(__doc__, repeats=10, warmup=2, frames=40)
    parser.add_argument("--only", default=None, help="comma-separated case-label prefixes (e.g. 'hands,pose static')")
    args = harness.parse_benchmark_args(parser, argv)
    from facepipe.io.image import read_image
    from facepipe.runtime.model import default_num_threads

    data = args.shared / "testdata"
    cases = [c for c in CASES if not args.only or any(c[0].startswith(s.strip()) for s in args.only.split(","))]
    ref = None
    if args.reference_python:
        config = {"cases": harness.reference_cases(cases, data), "frames": args.frames, "repeats": args.repeats,
                  "warmup": args.warmup}
        ref = harness.run_reference(args.reference_python, _REFERENCE_SCRIPT, config)

    rows = []
    for label, sol, kw, src in cases:
        ours, floors = [], []
        if isinstance(src, list):
            runner = _make(sol, kw, args.threads)
            for rel in src:
                call = partial(runner.process, read_image(data / rel))
                ours.append(harness.median_ms(call, args.repeats, args.warmup))
                floors.append(harness.recorded_floor_ms(call, args.repeats, args.warmup))
        else:
            frames = harness.video_frames(data / src, args.frames)
            warm = _make(sol, kw, args.threads)
            harness.warm_up(warm, frames, args.warmup)
            ours = harness.per_frame_ms(_make(sol, kw, args.threads), frames)
            # Floor: the invocations of a tracked frame (replayed for a few mid-video frames).
            for img, ms in frames[len(frames) // 2 : len(frames) // 2 + 3]:
                with harness.InvocationRecorder() as rec:
                    warm.process(img, timestamp_ms=ms + 1e6)  # a later time: keep warm's clock increasing
                floors.append(harness.median_ms(rec.replay(), args.repeats, args.warmup))
        rows.append(harness.Row(label, statistics.median(ref[label]) if ref else None, statistics.median(ours),
                                statistics.median(floors)))

    print(f"legacy hands / pose / holistic, median ms per image (per frame for tracking), {args.repeats} repeats"
          f" after {args.warmup} warm-up; interpreter threads per model: MediaPipe 1, facepipe"
          f" {args.threads or default_num_threads()}")
    harness.print_table(rows, case_width=28)
    return 0


if __name__ == "__main__":
    sys.exit(main())
