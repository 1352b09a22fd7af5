"""`facepipe detect IMAGE|DIR`: face boxes, 6 keypoints and scores (BlazeFace) as JSON, CSV or NPZ.

Coordinates are pixels of the upright image (EXIF orientation applied).

JSON (docs/json-schema.md): {"schema", "command", "model", "min_detection_confidence", "keypoint_names",
"inputs": [{"input", "image_size": [W, H], "frames": [{"frame": 0, "timestamp_ms": 0,
"faces": [{"box": [x1, y1, x2, y2], "score", "keypoints": [[x, y] x 6]}]}]}]}.
CSV: one row per face: path, face, score, x1, y1, x2, y2, then x/y of each keypoint;
an image without faces gets one row with empty face fields.
NPZ: paths (M,), image_sizes (M, 2), image_index (N,), boxes_xyxy (N, 4), keypoints (N, 6, 2),
scores (N,), keypoint_names (6,), for N faces in M images.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    add_camera,
    add_confidences,
    add_max_frames,
    add_num_threads,
    add_recursive,
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
from facepipe.errors import InputError, UsageError
from facepipe.io.image import READABLE_EXTENSIONS
from facepipe.jobs import schema

log = logging.getLogger(__name__)

_BATCH = 16  # images per detector call when reading a folder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detect",
        help="detect faces (boxes, 6 keypoints, scores) in an image or a folder of images",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument("input", type=Path, nargs="?", help="image file, or a folder of images (or --camera N)")
    add_camera(p)
    add_max_frames(p)
    add_output_arguments(p, FORMATS)
    p.add_argument("--model", choices=("short", "full"), default="short",
                   help="short: faces within ~2 m (128 px model); full: small and distant faces (192 px)")
    add_confidences(p, detection=None, old_detection=("--min-score",),
                    detection_help="drop faces scoring below (default: 0.5 short range, 0.6 full range, as MediaPipe)")
    add_recursive(p)
    add_num_threads(p)
    p.add_argument("--skip-bad", action="store_true",
                   help="folder: skip unreadable images with a warning instead of failing")
    p.set_defaults(func=run)


def _image_files(src: Path, recursive: bool) -> list[Path]:
    if not src.exists():
        raise InputError(f"{src}: no such file or folder")
    if src.is_file():
        return [src]
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in src.glob(pattern) if p.is_file() and p.suffix.lower() in READABLE_EXTENSIONS)
    if not files:
        raise InputError(f"{src}: no image files ({', '.join(sorted(READABLE_EXTENSIONS))}) in this folder")
    return files


def _detect_all(detector, files: list[Path], skip_bad: bool) -> Iterator[tuple[Path, object]]:
    from facepipe.io.image import read_image

    for start in range(0, len(files), _BATCH):
        chunk, images = [], []
        for path in files[start : start + _BATCH]:
            try:
                images.append(read_image(path))
                chunk.append(path)
            except InputError as exc:
                if not skip_bad:
                    raise
                log.warning("skipping %s", exc)
        yield from zip(chunk, detector.detect_batch(images))


def run(args: argparse.Namespace) -> int:
    from facepipe.solutions.face_detection import FACE_KEYPOINT_NAMES, FaceDetector, FaceDetectorOptions

    fmt = output_format(args.format, args.output)
    if (args.camera is None) == (args.input is None):
        raise UsageError("give an image or a folder, or --camera N (not both)")
    if args.camera is not None and fmt != "json":
        raise UsageError("--camera writes JSON (frames with their timestamps): -f json")
    files = _image_files(args.input, args.recursive) if args.input is not None else []
    check_output(args.output, files, fmt)
    detector = FaceDetector(solution_options(FaceDetectorOptions, args, model=args.model,
                                             min_score=args.min_detection_confidence))
    if args.camera is not None:
        inputs = [_camera_json(detector, args.camera, args.max_frames)]
    else:
        results = list(_detect_all(detector, files, args.skip_bad))
        inputs = [{"input": str(path), "image_size": list(det.image_size),
                   "frames": [{"frame": 0, "timestamp_ms": 0, "faces": _faces(det)}]} for path, det in results]
    if fmt == "json":
        doc = {"schema": schema.SCHEMA, "command": "detect", "model": args.model,
               "min_detection_confidence": detector.min_score, "keypoint_names": list(FACE_KEYPOINT_NAMES),
               "inputs": inputs}
        write_output(args.output, json_text(doc))
    elif fmt == "csv":
        write_output(args.output, _csv(results, FACE_KEYPOINT_NAMES))
    else:
        write_output(args.output, npz_bytes(_arrays(results, FACE_KEYPOINT_NAMES)))
    return 0


def _faces(det) -> list[dict]:
    return [schema.face(b, s, keypoints=np.round(k.astype(np.float64), 3).tolist())
            for b, k, s in zip(det.xyxy, det.keypoints, det.scores)]


def _camera_json(detector, device: int, max_frames: int | None) -> dict:
    """Every frame of camera `device` until Ctrl-C or max_frames, as one input of the document."""
    from facepipe.jobs import open_camera

    frames, size = [], [0, 0]
    with open_camera(device, max_frames=max_frames) as camera:
        try:
            for f in camera:
                det = detector.detect(f.image)
                size = list(det.image_size)
                frames.append({"frame": f.index, "timestamp_ms": f.timestamp_ms, "faces": _faces(det)})
        except KeyboardInterrupt:
            pass  # the normal end of a live stream: what was seen is written
    return {"input": f"camera {device}", "image_size": size, "frames": frames}


def _csv(results: list, names: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["path", "face", "score", "x1", "y1", "x2", "y2"] + [f"{n}_{a}" for n in names for a in "xy"]
    writer.writerow(header)
    for path, det in results:
        if len(det) == 0:
            writer.writerow([str(path)] + [""] * (len(header) - 1))
        for i in range(len(det)):
            writer.writerow([str(path), i, f"{det.scores[i]:.6g}"]
                            + [f"{v:.3f}" for v in det.xyxy[i]] + [f"{v:.3f}" for v in det.keypoints[i].reshape(-1)])
    return buf.getvalue()


def _arrays(results: list, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    dets = [d for _, d in results]
    return {
        "paths": np.array([str(p) for p, _ in results]),
        "image_sizes": np.array([d.image_size for d in dets], np.int32).reshape(-1, 2),
        "image_index": np.concatenate(
            [np.full(len(d), i, np.int32) for i, d in enumerate(dets)] or [np.zeros(0, np.int32)]
        ),
        "boxes_xyxy": np.concatenate([d.xyxy for d in dets] or [np.zeros((0, 4), np.float32)]),
        "keypoints": np.concatenate([d.keypoints for d in dets] or [np.zeros((0, 6, 2), np.float32)]),
        "scores": np.concatenate([d.scores for d in dets] or [np.zeros(0, np.float32)]),
        "keypoint_names": np.array(names),
    }
