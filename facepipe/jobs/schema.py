"""The one JSON layout of per-frame results, shared by every command (documented in
docs/json-schema.md; version in SCHEMA).

    {"schema": "facepipe.frames/1", "command": "mesh", "input": "clip.mp4", "image_size": [W, H],
     "frames": [{"frame": 0, "timestamp_ms": 0, "faces": [{"box": [x1, y1, x2, y2], "score": 0.98,
                                                           ...command-specific keys}]}, ...]}

A photo is one frame: frame 0 at timestamp_ms 0. Boxes are pixels of the upright image. Commands
that find other things put them beside "faces" in the frame ("hands", "poses", ...). A command
over several inputs writes {"schema", "command", "inputs": [one document per input, without the
"schema" and "command" keys]}.

`validate(doc)` lists what does not follow the layout (empty: valid); the tests run every
command's output through it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["SCHEMA", "document", "face", "landmark_box", "validate"]

SCHEMA = "facepipe.frames/1"


def face(box: Sequence[float], score: float, **extra: Any) -> dict[str, Any]:
    """One face: box [x1, y1, x2, y2] in pixels (3 decimals), score, then the command's own keys."""
    return {"box": [round(float(v), 3) for v in box], "score": round(float(score), 6), **extra}


def landmark_box(points_px: np.ndarray) -> list[float]:
    """[x1, y1, x2, y2] around (P, 2+) pixel landmarks."""
    p = np.asarray(points_px, np.float64)[:, :2]
    return [*p.min(0).tolist(), *p.max(0).tolist()]


def document(command: str, source: str, image_size: Sequence[int], frames: list[dict[str, Any]],
             **extra: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "command": command, "input": source, "image_size": [int(v) for v in image_size],
            **extra, "frames": frames}


def validate(doc: Any, *, faces: bool = True) -> list[str]:
    """Problems with `doc` as a facepipe.frames/1 document (faces: frames must carry "faces")."""
    if not isinstance(doc, dict):
        return ["the document is not an object"]
    problems = []
    if doc.get("schema") != SCHEMA:
        problems.append(f"schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    if not isinstance(doc.get("command"), str):
        problems.append("command is missing")
    if "inputs" in doc:
        for i, part in enumerate(doc["inputs"]):
            problems += [f"inputs[{i}]: {p}" for p in _validate_media(part, faces)]
        return problems
    return problems + _validate_media(doc, faces)


def _validate_media(doc: dict[str, Any], faces: bool) -> list[str]:
    problems = []
    if not isinstance(doc.get("input"), str):
        problems.append("input is missing")
    size = doc.get("image_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        problems.append(f"image_size must be [W, H], got {size!r}")
    frames = doc.get("frames")
    if not isinstance(frames, list):
        return [*problems, "frames is missing"]
    last = None
    for i, frame in enumerate(frames):
        where = f"frames[{i}]"
        if frame.get("frame") != i and not (isinstance(frame.get("frame"), int) and frame["frame"] >= i):
            problems.append(f"{where}: frame is {frame.get('frame')!r}")
        ts = frame.get("timestamp_ms")
        if not isinstance(ts, int) or (last is not None and ts <= last):
            problems.append(f"{where}: timestamp_ms {ts!r} is not an integer after {last}")
        last = ts if isinstance(ts, int) else last
        if faces or "faces" in frame:
            if not isinstance(frame.get("faces"), list):
                problems.append(f"{where}: faces is missing")
                continue
            for j, f in enumerate(frame["faces"]):
                box, score = f.get("box"), f.get("score")
                if not (isinstance(box, list) and len(box) == 4 and all(_finite(v) for v in box)
                        and box[0] <= box[2] and box[1] <= box[3]):
                    problems.append(f"{where}.faces[{j}]: box must be [x1, y1, x2, y2], got {box!r}")
                if not (_finite(score) and 0.0 <= score <= 1.0):
                    problems.append(f"{where}.faces[{j}]: score must be in 0..1, got {score!r}")
    return problems


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
