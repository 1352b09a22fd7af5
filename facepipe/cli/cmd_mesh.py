"""`facepipe mesh IMAGE|VIDEO`: MediaPipe's 468-point face mesh (478 with --refine) as JSON, CSV or NPZ.

Images run in static mode. Videos are tracked from frame to frame (the
detector only runs when a face is missing) with the frames' own timestamps,
unless --static; --smooth adds One-Euro smoothing (MediaPipe's legacy face
mesh has none). Landmarks are normalized like MediaPipe's (x/W, y/H, z in x's
scale) unless --pixels.

JSON: image {"input", "image_size", "num_landmarks", "faces": [...]}, video
{..., "frames": [{"frame", "timestamp_ms", "faces": [...]}]}; a face is
{"track_id", "presence", "roi": [x_c, y_c, w, h, rotation], "landmarks"}.
CSV: one row per (frame, face): frame, timestamp_ms, face (track id), presence,
x0, y0, z0, ...; a frame without a face gets one row with empty face fields.
NPZ: landmarks (K, P, 3), frame_index (K,), track_ids (K,), presence (K,),
rois (K, 5) for K faces in all frames; timestamps_ms (F,) (NaN for an image),
image_size (2,), pixels (bool).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    add_confidences,
    add_max_frames,
    add_max_num_faces,
    add_media_input,
    add_num_threads,
    open_input,
    solution_options,
)
from facepipe.cli._output import (
    FORMATS,
    add_output_arguments,
    check_output,
    json_text,
    npz_bytes,
    output_format,
    write_output,
)
from facepipe.jobs import schema

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "mesh",
        help="468/478-point face mesh (legacy MediaPipe FaceMesh) of an image or a video",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    add_media_input(p)
    add_output_arguments(p, FORMATS)
    add_max_num_faces(p, 1, "most faces the detector adds", old=("--max-faces",))
    p.add_argument("--refine", action="store_true", help="478 points: refined lips, eyes and irises (attention mesh)")
    add_confidences(p, 0.5, 0.5)
    p.add_argument("--static", action="store_true", help="video: treat every frame as an unrelated image")
    p.add_argument("--smooth", action="store_true", help="video: One-Euro smoothing of tracked landmarks")
    p.add_argument("--pixels", action="store_true", help="landmarks in pixels instead of normalized")
    add_max_frames(p)
    add_num_threads(p)
    p.set_defaults(func=run)


Frames = Iterator[tuple[int, float | None, Any]]


def run(args: argparse.Namespace) -> int:
    from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

    fmt = output_format(args.format, args.output)
    check_output(args.output, [args.input] if args.input else [], fmt)
    with open_input(args) as media:  # a bad file fails here, before any model loads
        video = media.is_video
        options = solution_options(
            FaceMeshOptions, args,
            static_image_mode=args.static or not video,
            max_num_faces=args.max_num_faces,
            refine_landmarks=args.refine,
            min_detection_confidence=args.min_detection_confidence,
            min_tracking_confidence=args.min_tracking_confidence,
            smooth_landmarks=args.smooth,
        )
        mesh = FaceMesh(options)
        frames: Frames = media.results(mesh.process, lambda image, ms: mesh.process(image, timestamp_ms=ms))
        name = media.name
        if fmt == "json":
            write_output(args.output, _json(frames, name, video, args.pixels, options.num_landmarks))
        elif fmt == "csv":
            write_output(args.output, _csv(frames, args.pixels, options.num_landmarks))
        else:
            write_output(args.output, npz_bytes(_arrays(frames, args.pixels, options.num_landmarks)))
    return 0


def _faces(result: Any, pixels: bool) -> list[dict[str, Any]]:
    return [schema.face(schema.landmark_box(result.pixels[i]), result.presence[i], **d)
            for i, d in enumerate(result.to_dict(pixels=pixels)["faces"])]


def _json(frames: Frames, src: str, video: bool, pixels: bool, points: int) -> str:
    out, size = [], None
    for index, ms, result in frames:
        size = result.image_size
        out.append({"frame": index, "timestamp_ms": ms or 0, "faces": _faces(result, pixels)})
    return json_text(schema.document("mesh", src, size or (0, 0), out, num_landmarks=points,
                                     coordinates="pixels" if pixels else "normalized"))


def _csv(frames: Frames, pixels: bool, points: int) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["frame", "timestamp_ms", "face", "presence"] + [f"{a}{i}" for i in range(points) for a in "xyz"]
    writer.writerow(header)
    for index, ms, result in frames:
        ts = "" if ms is None else ms
        if len(result) == 0:
            writer.writerow([index, ts] + [""] * (len(header) - 2))
        lms = result.pixels if pixels else result.landmarks
        for i in range(len(result)):
            writer.writerow([index, ts, int(result.track_ids[i]), f"{result.presence[i]:.6g}"]
                            + [f"{v:.6g}" for v in lms[i].reshape(-1)])
    return buf.getvalue()


def _arrays(frames: Frames, pixels: bool, points: int) -> dict[str, np.ndarray]:
    lms, idx, ids, pres, rois, stamps = [], [], [], [], [], []
    size = (0, 0)
    for index, ms, result in frames:
        size = result.image_size
        stamps.append(np.nan if ms is None else ms)
        lms.append(result.pixels if pixels else result.landmarks)
        idx.append(np.full(len(result), index, np.int32))
        ids.append(result.track_ids)
        pres.append(result.presence)
        rois.append(result.rois)
    return {
        "landmarks": np.concatenate(lms) if lms else np.zeros((0, points, 3), np.float32),
        "frame_index": np.concatenate(idx) if idx else np.zeros(0, np.int32),
        "track_ids": np.concatenate(ids) if ids else np.zeros(0, np.int64),
        "presence": np.concatenate(pres) if pres else np.zeros(0, np.float32),
        "rois": np.concatenate(rois) if rois else np.zeros((0, 5), np.float32),
        "timestamps_ms": np.asarray(stamps, np.float64),
        "image_size": np.asarray(size, np.int32),
        "pixels": np.asarray(pixels),
    }
