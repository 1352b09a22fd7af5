"""`facepipe landmarks INPUT`: 478 face landmarks (+ blendshapes, head pose) of an image or a video as JSON/CSV.

Images run in IMAGE mode; videos in VIDEO mode (tracking, and smoothing when
--max-num-faces is 1) with the frames' own timestamps.

CSV: one row per (frame, face); a frame without a face still gets one row
(empty face fields), so with --max-num-faces 1 there is exactly one row per frame.
Columns: frame, timestamp_ms, face, presence, then x0,y0,z0..x477,y477,z477
(normalized, unless --no-landmarks), the 52 blendshape names (--blendshapes),
m00..m33, yaw_deg, pitch_deg, roll_deg, tx_cm, ty_cm, tz_cm (--matrix).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    PROBABILITY,
    add_confidences,
    add_max_frames,
    add_max_num_faces,
    add_media_input,
    add_num_threads,
    open_input,
    solution_options,
)
from facepipe.cli._output import add_output_arguments, check_output, json_text, output_format, write_output
from facepipe.jobs import schema

log = logging.getLogger(__name__)

_FORMATS = ("json", "csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "landmarks",
        help="478 face landmarks, blendshapes and head pose (Tasks FaceLandmarker) as JSON/CSV",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    add_media_input(p)
    add_output_arguments(p, _FORMATS)
    p.add_argument("--blendshapes", nargs="?", const=True, default=False, type=Path, metavar="MODEL.onnx",
                   help="add the 52 blendshape scores (Tasks model order); with a model from `facepipe train "
                   "blendshapes`, from that regressor (its `_neutral` is 0)")
    p.add_argument("--matrix", action="store_true",
                   help="add the facial transformation matrix and head pose (yaw/pitch/roll deg, translation cm)")
    p.add_argument("--no-landmarks", action="store_true", help="leave the 478 landmarks out")
    add_max_num_faces(p, 1, old=("--num-faces",))
    add_confidences(p, 0.5, 0.5, tracking_help="video: IoU above which a new detection replaces a tracked face")
    p.add_argument("--min-presence-confidence", type=PROBABILITY, default=0.5, help="landmark presence threshold")
    add_max_frames(p)
    add_num_threads(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions, RunningMode

    fmt = output_format(args.format, args.output, _FORMATS)
    check_output(args.output, [args.input] if args.input else [], fmt)
    with open_input(args) as media:  # a bad file fails here, before any model loads
        video = media.is_video
        regressor = None
        if isinstance(args.blendshapes, Path):
            from facepipe.solutions.blendshape_regressor import BlendshapeRegressor

            regressor = BlendshapeRegressor(args.blendshapes).tasks_order
        landmarker = FaceLandmarker(solution_options(
            FaceLandmarkerOptions, args,
            num_faces=args.max_num_faces,
            min_face_detection_confidence=args.min_detection_confidence,
            min_face_presence_confidence=args.min_presence_confidence,
            min_tracking_confidence=args.min_tracking_confidence,
            output_face_blendshapes=bool(args.blendshapes),
            output_facial_transformation_matrixes=args.matrix,
            running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE,
        ), blendshape_model=regressor)
        frames = media.results(landmarker.detect, landmarker.detect_for_video)
        text = _to_csv(frames, args) if fmt == "csv" else _to_json(frames, args, media.name, video)
    write_output(args.output, text)
    return 0


def _to_json(frames: Iterator[tuple[int, int | None, Any]], args: argparse.Namespace, src: str, video: bool) -> str:
    out, size = [], None
    for index, ms, result in frames:
        size = result.image_size
        corners = np.asarray(result.image_size, np.float64)
        faces = []
        for i, f in enumerate(result.to_dict()["faces"]):
            if args.no_landmarks:
                f.pop("landmarks", None)
            box = schema.landmark_box(result.landmarks[i][:, :2] * corners)
            faces.append(schema.face(box, result.presence[i], **f))
        out.append({"frame": index, "timestamp_ms": ms or 0, "faces": faces})
    return json_text(schema.document("landmarks", src, size or (0, 0), out))


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
