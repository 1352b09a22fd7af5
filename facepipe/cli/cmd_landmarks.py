"""`facepipe landmarks INPUT`: 478 face landmarks (+ blendshapes, head pose) of an image or a video as JSON/CSV.

Images run in IMAGE mode; videos in VIDEO mode (tracking, and smoothing when
--num-faces is 1) with the frames' own timestamps.

CSV: one row per (frame, face); a frame without a face still gets one row
(empty face fields), so with --num-faces 1 there is exactly one row per frame.
Columns: frame, timestamp_ms, face, presence, then x0,y0,z0..x477,y477,z477
(normalized, unless --no-landmarks), the 52 blendshape names (--blendshapes),
m00..m33, yaw_deg, pitch_deg, roll_deg, tx_cm, ty_cm, tz_cm (--matrix).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from facepipe._fsutil import refuse_overwrite
from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import PROBABILITY, add_confidences, add_max_frames, add_max_num_faces, add_num_threads
from facepipe.cli._output import add_output_arguments, write_output
from facepipe.errors import InputError, UsageError

log = logging.getLogger(__name__)

_FORMATS = ("json", "csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "landmarks",
        help="478 face landmarks, blendshapes and head pose (Tasks FaceLandmarker) as JSON/CSV",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument("input", type=Path, help="image or video file")
    add_output_arguments(p, _FORMATS)
    p.add_argument("--blendshapes", action="store_true", help="add the 52 blendshape scores")
    p.add_argument("--matrix", action="store_true",
                   help="add the facial transformation matrix and head pose (yaw/pitch/roll deg, translation cm)")
    p.add_argument("--no-landmarks", action="store_true", help="leave the 478 landmarks out")
    add_max_num_faces(p, 1, old=("--num-faces",))
    add_confidences(p, 0.5, 0.5, tracking_help="video: IoU above which a new detection replaces a tracked face")
    p.add_argument("--min-presence-confidence", type=PROBABILITY, default=0.5, help="landmark presence threshold")
    add_max_frames(p)
    add_num_threads(p)
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output is not None and args.output.suffix.lower() == ".csv":
        return "csv"
    return "json"


def run(args: argparse.Namespace) -> int:
    from facepipe.io.video import is_video_file
    from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions, RunningMode

    src: Path = args.input
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if args.output is not None:
        refuse_overwrite(args.output, src)
    video = is_video_file(src)
    try:
        options = FaceLandmarkerOptions(
            num_faces=args.max_num_faces,
            min_face_detection_confidence=args.min_detection_confidence,
            min_face_presence_confidence=args.min_presence_confidence,
            min_tracking_confidence=args.min_tracking_confidence,
            output_face_blendshapes=args.blendshapes,
            output_facial_transformation_matrixes=args.matrix,
            running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    landmarker = FaceLandmarker(options)
    frames = _video_results(landmarker, src, args.max_frames) if video else _image_results(landmarker, src)
    fmt = _format(args)
    text = _to_csv(frames, args) if fmt == "csv" else _to_json(frames, args, src, video)
    write_output(args.output, text)
    return 0


def _image_results(landmarker: Any, src: Path) -> Iterator[tuple[int, int | None, Any]]:
    from facepipe.io.image import read_image

    yield 0, None, landmarker.detect(read_image(src))


def _video_results(landmarker: Any, src: Path, max_frames: int | None) -> Iterator[tuple[int, int | None, Any]]:
    from facepipe.io.video import VideoReader

    last_ms: int | None = None
    with VideoReader(src) as reader:
        for frame in reader:
            if max_frames is not None and frame.index >= max_frames:
                break
            ms = int(round(frame.time * 1000.0))
            if last_ms is not None and ms <= last_ms:  # >1000 fps: keep timestamps strictly increasing
                ms = last_ms + 1
            last_ms = ms
            yield frame.index, ms, landmarker.detect_for_video(frame.image, ms)


def _to_json(frames: Iterator[tuple[int, int | None, Any]], args: argparse.Namespace, src: Path, video: bool) -> str:
    def face_dicts(result: Any) -> list[dict[str, Any]]:
        faces = result.to_dict()["faces"]
        if args.no_landmarks:
            for f in faces:
                f.pop("landmarks", None)
        return faces

    if not video:
        _, _, result = next(iter(frames))
        doc: dict[str, Any] = {"input": str(src), "image_size": list(result.image_size), "faces": face_dicts(result)}
    else:
        out, size = [], None
        for index, ms, result in frames:
            size = list(result.image_size)
            out.append({"frame": index, "timestamp_ms": ms, "faces": face_dicts(result)})
        doc = {"input": str(src), "image_size": size, "frames": out}
    return json.dumps(doc, separators=(",", ":")) + "\n"


def _csv_header(args: argparse.Namespace) -> list[str]:
    from facepipe.solutions.blendshapes import BLENDSHAPE_NAMES
    from facepipe.solutions.face_landmarker import NUM_LANDMARKS

    cols = ["frame", "timestamp_ms", "face", "presence"]
    if not args.no_landmarks:
        cols += [f"{a}{i}" for i in range(NUM_LANDMARKS) for a in "xyz"]
    if args.blendshapes:
        cols += list(BLENDSHAPE_NAMES)
    if args.matrix:
        cols += [f"m{r}{c}" for r in range(4) for c in range(4)]
        cols += ["yaw_deg", "pitch_deg", "roll_deg", "tx_cm", "ty_cm", "tz_cm"]
    return cols


def _to_csv(frames: Iterator[tuple[int, int | None, Any]], args: argparse.Namespace) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = _csv_header(args)
    writer.writerow(header)
    for index, ms, result in frames:
        ts = "" if ms is None else ms
        if len(result) == 0:
            writer.writerow([index, ts] + [""] * (len(header) - 2))
            continue
        pose = result.head_pose() if args.matrix else None
        for i in range(len(result)):
            row: list[Any] = [index, ts, i, f"{result.presence[i]:.6g}"]
            if not args.no_landmarks:
                row += [f"{v:.6g}" for v in result.landmarks[i].reshape(-1)]
            if args.blendshapes:
                row += [f"{v:.6g}" for v in result.blendshapes[i]]
            if pose is not None:
                row += [f"{v:.6g}" for v in result.transformation_matrices[i].reshape(-1)]
                row += [f"{v:.6g}" for v in (pose.yaw[i], pose.pitch[i], pose.roll[i], *pose.translation_cm[i])]
            writer.writerow(row)
    return buf.getvalue()
