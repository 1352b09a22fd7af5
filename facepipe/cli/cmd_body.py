"""`facepipe hands|pose|holistic|segment IMAGE|VIDEO`: MediaPipe's hands, pose, holistic and
selfie segmentation as JSON or NPZ, with optional drawing or background replacement.

Images run in static mode; videos are tracked frame to frame with the frames' own
timestamps (unless --static). Landmarks are normalized like MediaPipe's (x/W, y/H,
z in x's scale). --draw FILE writes the input with the results drawn on it (an
image for an image, a video for a video, audio copied).

Hands handedness follows MediaPipe (it assumes a mirrored, selfie-style image);
--flip-handedness reports the subject's own hand for ordinary photos and videos.

JSON (docs/json-schema.md): {"schema", "command", "input", "image_size", "frames": [{"frame",
"timestamp_ms", ...result}]} (images: one frame, frame 0 at 0 ms).
NPZ (one row per frame F unless noted): timestamps_ms (F,), image_size (2,), and
  hands: landmarks/world_landmarks (K,21,3), handedness (K,) 0=Left 1=Right,
    handedness_score, presence, track_ids, frame_index (K,) for K hands in all frames;
  pose: present (F,), landmarks/world_landmarks (F,33,3), visibility (F,33)
    (zeros where absent), segmentation_u8 (F,H,W) with --segmentation;
  holistic: {pose,face,left_hand,right_hand}_present (F,) and _landmarks (F,P,3);
  segment: mask_u8 (F,H,W), round(probability * 255).
segment --background blur|color|image writes the edited image/video to -o instead.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from facepipe._fsutil import refuse_overwrite
from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    POSITIVE,
    PROBABILITY,
    add_confidences,
    add_max_frames,
    add_media_input,
    add_num_threads,
    int_range,
    old_spelling,
    open_input,
    solution_options,
)
from facepipe.cli._output import add_output_arguments, check_output, json_text, npz_bytes, output_format, write_output
from facepipe.errors import InputError, UsageError
from facepipe.jobs import schema

log = logging.getLogger(__name__)

_FORMATS = ("json", "npz")


def _common(p: argparse.ArgumentParser, *, draw: bool = True) -> None:
    add_media_input(p)
    add_output_arguments(p, _FORMATS)
    p.add_argument("--static", action="store_true", help="video: treat every frame as an unrelated image")
    add_max_frames(p)
    add_num_threads(p)
    if draw:
        p.add_argument("--draw", type=Path, default=None, metavar="FILE",
                       help="also write the input with the results drawn on it")


def register(subparsers: argparse._SubParsersAction) -> None:
    kw = dict(description=__doc__, formatter_class=HelpFormatter)
    p = subparsers.add_parser("hands", help="21 hand landmarks, handedness, world landmarks", **kw)
    _common(p)
    p.add_argument("--max-num-hands", type=int_range(1), default=2, help="most hands the palm detector adds")
    old_spelling(p, "--max-hands", new="--max-num-hands", dest="max_num_hands", type=int_range(1))
    p.add_argument("--model-complexity", type=int, choices=(0, 1), default=1, help="0 lite, 1 full")
    add_confidences(p, 0.5, 0.5, detection_help="palm score threshold", tracking_help="hand presence threshold")
    p.add_argument("--flip-handedness", action="store_true", help="input is not mirrored: report the real hand")
    p.add_argument("--smooth", action="store_true", help="video: One-Euro smoothing per tracked hand")
    p.set_defaults(func=_run_hands)

    p = subparsers.add_parser("pose", help="33 body landmarks, world landmarks, optional person mask", **kw)
    _common(p)
    _pose_args(p)
    p.set_defaults(func=_run_pose)

    p = subparsers.add_parser("holistic", help="pose + face mesh + both hands of one person", **kw)
    _common(p)
    _pose_args(p)
    p.add_argument("--refine-face", action="store_true", help="478 face points (irises)")
    p.set_defaults(func=_run_holistic)

    p = subparsers.add_parser("segment", help="person mask (selfie segmentation); blur/replace the background",
                              **kw)
    _common(p)
    p.add_argument("--landscape", action="store_true", help="the landscape model (256x144, faster)")
    p.add_argument("--background", choices=("blur", "color", "image"), default=None,
                   help="write the input with its background replaced to -o (image or video)")
    p.add_argument("--background-image", type=Path, default=None, help="replacement image for --background image")
    p.add_argument("--color", default="0,177,64", help="R,G,B for --background color")
    p.add_argument("--blur-sigma", type=POSITIVE, default=0.01, help="blur sigma as a fraction of the image diagonal")
    p.add_argument("--threshold", type=PROBABILITY, default=None, help="hard mask edge at this probability")
    p.add_argument("--temporal-smoothing", type=PROBABILITY, default=0.7,
                   help="video --background: weight of the previous mask on uncertain pixels (0 = off)")
    p.set_defaults(func=_run_segment)


def _pose_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=1, help="0 lite, 1 full, 2 heavy")
    add_confidences(p, 0.5, 0.5, detection_help="person detector threshold", tracking_help="pose presence threshold")
    p.add_argument("--no-smooth", action="store_true", help="video: no landmark filtering (MediaPipe filters)")
    p.add_argument("--segmentation", action="store_true", help="also compute the person mask")
    p.add_argument("--smooth-segmentation", action="store_true", help="video: blend masks over time")


# --------------------------------------------------------------------------- frames in, drawings out




def _process(args: argparse.Namespace, process: Callable[[np.ndarray, float | None], Any],
             draw: Callable[[np.ndarray, Any], np.ndarray] | None = None,
             edit_output: Path | None = None) -> tuple[list[tuple[int, float | None, Any]], tuple[int, int]]:
    """Run `process` over every frame; draw/edit into --draw (or edit_output). Returns results and size."""
    out = edit_output if edit_output is not None else getattr(args, "draw", None)
    if out is not None:
        if args.input is not None:
            refuse_overwrite(out, args.input)
        if not out.parent.is_dir():
            raise InputError(f"{out}: output folder {out.parent} does not exist")
    results, size = [], (0, 0)
    with open_input(args) as media, ExitStack() as stack:
        drawing = out is not None and draw is not None
        # A video's writer exists before the first frame is read: it takes the audio from there on.
        writer = _writer(media, out, stack) if drawing and media.reader is not None else None
        for f in media:
            size = (f.image.shape[1], f.image.shape[0])
            ms = f.timestamp_ms if media.is_video else None
            res = process(f.image, ms)
            if drawing:
                if writer is None and media.is_camera:
                    writer = _writer(media, out, stack, size)
                _write(writer, out, draw(f.image, res), f)
            results.append((f.index, ms, res if edit_output is None else None))
    return results, size


def _writer(media: Any, out: Path, stack: ExitStack, size: tuple[int, int] = (0, 0)) -> Any:
    """A video writer like the input (its audio copied), or one in wall-clock ms for a camera
    (size: its frames')."""
    from fractions import Fraction

    from facepipe.io.video import VideoWriter

    if media.reader is not None:
        return stack.enter_context(VideoWriter.like(media.reader, out))
    return stack.enter_context(VideoWriter(out, width=size[0], height=size[1], fps=media.fps,
                                           time_base=Fraction(1, 1000)))


def _write(writer: Any, out: Path, image: np.ndarray, frame: Any) -> None:
    if writer is None:
        from facepipe.io.image import write_image

        write_image(out, image)
    else:
        writer.write(image, frame.source if frame.source is not None else frame.timestamp_ms)


def _emit(args: argparse.Namespace, command: str, results: list, size: tuple[int, int],
          to_json: Callable[[Any], dict], to_arrays: Callable[[list], dict[str, np.ndarray]]) -> int:
    fmt = output_format(args.format, args.output)
    if fmt == "json":
        frames = [{"frame": i, "timestamp_ms": ms or 0, **to_json(r)} for i, ms, r in results]
        name = str(args.input) if args.input is not None else f"camera {args.camera}"
        write_output(args.output, json_text(schema.document(command, name, size, frames)))
    else:
        arrays = to_arrays([r for _, _, r in results])
        arrays["timestamps_ms"] = np.asarray([np.nan if ms is None else ms for _, ms, _ in results], np.float64)
        arrays["image_size"] = np.asarray(size, np.int32)
        write_output(args.output, npz_bytes(arrays))
    return 0


def _check(args: argparse.Namespace) -> None:
    fmt = output_format(args.format, args.output)
    check_output(args.output, [args.input] if args.input else [], fmt)
    draw = getattr(args, "draw", None)
    if draw is not None and args.output is not None and draw.resolve() == args.output.resolve():
        raise UsageError(f"{draw}: --draw and -o name the same file")


def _annotate(image: np.ndarray, *results: Any) -> np.ndarray:
    from facepipe.draw.annotate import annotate

    return annotate(image, *results)


def _is_static(args: argparse.Namespace) -> bool:
    from facepipe.io.video import is_video_file

    return args.static or (args.camera is None and not is_video_file(args.input or ""))


# --------------------------------------------------------------------------- commands


def _run_hands(args: argparse.Namespace) -> int:
    from facepipe.solutions.hands import Hands, HandsOptions

    _check(args)
    hands = Hands(solution_options(
        HandsOptions, args, static_image_mode=_is_static(args), max_num_hands=args.max_num_hands,
        model_complexity=args.model_complexity, min_detection_confidence=args.min_detection_confidence,
        min_tracking_confidence=args.min_tracking_confidence, flip_handedness=args.flip_handedness,
        smooth_landmarks=args.smooth,
    ))
    results, size = _process(args, lambda im, ms: hands.process(im, ms), _annotate)

    def arrays(res: list) -> dict[str, np.ndarray]:
        def cat(name: str, tail: tuple[int, ...], dtype: Any) -> np.ndarray:
            parts = [getattr(r, name) for r in res]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros((0, *tail), dtype)

        return {
            "landmarks": cat("landmarks", (21, 3), np.float32),
            "world_landmarks": cat("world_landmarks", (21, 3), np.float32),
            "handedness": cat("handedness", (), np.int8),
            "handedness_score": cat("handedness_score", (), np.float32),
            "presence": cat("presence", (), np.float32),
            "track_ids": cat("track_ids", (), np.int64),
            "rois": cat("rois", (5,), np.float32),
            "frame_index": np.concatenate([np.full(len(r), i, np.int32) for i, r in enumerate(res)])
            if res else np.zeros(0, np.int32),
        }

    return _emit(args, "hands", results, size, lambda r: {"hands": r.to_dict()["hands"]}, arrays)


def _pose_options(args: argparse.Namespace) -> dict[str, Any]:
    return dict(static_image_mode=_is_static(args), model_complexity=args.model_complexity,
                smooth_landmarks=not args.no_smooth, enable_segmentation=args.segmentation,
                smooth_segmentation=args.smooth_segmentation,
                min_detection_confidence=args.min_detection_confidence,
                min_tracking_confidence=args.min_tracking_confidence)


def _stack_present(items: list, tail: tuple[int, ...]) -> np.ndarray:
    """(F, *tail) float32: each item's first row, zeros where it is empty."""
    out = np.zeros((len(items), *tail), np.float32)
    for i, a in enumerate(items):
        if len(a):
            out[i] = a[0]
    return out


def _run_pose(args: argparse.Namespace) -> int:
    from facepipe.solutions.pose import Pose, PoseOptions

    _check(args)
    pose = Pose(solution_options(PoseOptions, args, **_pose_options(args)))
    results, size = _process(args, lambda im, ms: pose.process(im, ms), _annotate)

    def arrays(res: list) -> dict[str, np.ndarray]:
        out = {
            "present": np.asarray([len(r) == 1 for r in res], bool),
            "landmarks": _stack_present([r.landmarks for r in res], (33, 3)),
            "visibility": _stack_present([r.visibility for r in res], (33,)),
            "world_landmarks": _stack_present([r.world_landmarks for r in res], (33, 3)),
            "world_visibility": _stack_present([r.world_visibility for r in res], (33,)),
        }
        if args.segmentation:
            W, H = size
            masks = np.zeros((len(res), H, W), np.uint8)
            for i, r in enumerate(res):
                if len(r.segmentation_mask):
                    masks[i] = np.clip(np.rint(r.segmentation_mask[0] * 255), 0, 255)
            out["segmentation_u8"] = masks
        return out

    return _emit(args, "pose", results, size, lambda r: {"poses": r.to_dict()["poses"]}, arrays)


def _run_holistic(args: argparse.Namespace) -> int:
    from facepipe.solutions.holistic import Holistic, HolisticOptions

    _check(args)
    holistic = Holistic(solution_options(HolisticOptions, args, refine_face_landmarks=args.refine_face,
                                         **_pose_options(args)))
    results, size = _process(args, lambda im, ms: holistic.process(im, ms),
                             lambda im, r: _annotate(im, (r.pose, r.face, r.left_hand, r.right_hand)))
    face_points = 478 if args.refine_face else 468

    def arrays(res: list) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for part, points in (("pose", 33), ("face", face_points), ("left_hand", 21), ("right_hand", 21)):
            items = [getattr(r, part) for r in res]
            out[f"{part}_present"] = np.asarray([len(x) == 1 for x in items], bool)
            out[f"{part}_landmarks"] = _stack_present([x.landmarks for x in items], (points, 3))
        out["pose_visibility"] = _stack_present([r.pose.visibility for r in res], (33,))
        out["pose_world_landmarks"] = _stack_present([r.pose.world_landmarks for r in res], (33, 3))
        return out

    def as_json(r: Any) -> dict:
        d = r.to_dict()
        return {k: d[k] for k in ("pose", "face", "left_hand", "right_hand")}

    return _emit(args, "holistic", results, size, as_json, arrays)


def _parse_color(text: str) -> tuple[int, int, int]:
    try:
        rgb = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise UsageError(f"--color must be R,G,B integers, got {text!r}") from exc
    if len(rgb) != 3:
        raise UsageError(f"--color must be R,G,B, got {text!r}")
    return rgb  # type: ignore[return-value]


def _run_segment(args: argparse.Namespace) -> int:
    if args.background is not None:
        return _run_background(args)
    from facepipe.solutions.selfie_segmentation import SelfieSegmentation, SelfieSegmentationOptions

    _check(args)
    seg = SelfieSegmentation(solution_options(SelfieSegmentationOptions, args,
                                              model_selection=1 if args.landscape else 0))
    results, size = _process(args, lambda im, ms: seg.process(im), lambda im, r: _annotate(im, r.mask))

    def stats(r: Any) -> dict:
        person = r.binary()
        ys, xs = np.nonzero(person)
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None
        return {"person_fraction": round(float(person.mean()), 6), "person_box_xyxy": box}

    def arrays(res: list) -> dict[str, np.ndarray]:
        W, H = size
        masks = np.zeros((len(res), H, W), np.uint8)
        for i, r in enumerate(res):
            masks[i] = np.clip(np.rint(r.mask * 255), 0, 255)
        return {"mask_u8": masks}

    return _emit(args, "segment", results, size, stats, arrays)


def _run_background(args: argparse.Namespace) -> int:
    from facepipe.apps.background import BackgroundEditor, BackgroundOptions
    from facepipe.io.image import read_image

    if args.output is None:
        raise UsageError("--background needs an output file (-o FILE, an image or a video like the input)")
    background = None
    if args.background == "image":
        if args.background_image is None:
            raise UsageError("--background image needs --background-image FILE")
        background = read_image(args.background_image)
    editor = BackgroundEditor(solution_options(
        BackgroundOptions, args, mode=args.background, blur_sigma=args.blur_sigma, color=_parse_color(args.color),
        background=background, threshold=args.threshold, model_selection=1 if args.landscape else 0,
        temporal_smoothing=args.temporal_smoothing,
    ))
    video = not _is_static(args)
    _process(args, lambda im, ms: editor.process(im, video=video), lambda im, edited: edited,
             edit_output=args.output)
    log.info("wrote %s", args.output)
    return 0
