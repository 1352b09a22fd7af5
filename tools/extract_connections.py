"""Dump MediaPipe's landmark connection sets as data into facepipe/data/mediapipe_connections.json.

Run in the side venv that has the official wheel (never from facepipe itself):

    .venv-ref/bin/python tools/extract_connections.py

Only index pairs are written (data, not code). Each set is stored in the order
Python iterates it in the side venv: for the frozensets that order decides
which colour ends on top where MediaPipe's drawing overlaps, so pixel-exact
drawing has to replay it. The Tasks API's connection lists (ordered lists) are
dumped too, so tests can check that both APIs hold the same edges.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "facepipe" / "data" / "mediapipe_connections.json"

FACE_SETS = (
    "FACEMESH_TESSELATION", "FACEMESH_CONTOURS", "FACEMESH_LIPS", "FACEMESH_LEFT_EYE",
    "FACEMESH_RIGHT_EYE", "FACEMESH_LEFT_EYEBROW", "FACEMESH_RIGHT_EYEBROW", "FACEMESH_FACE_OVAL",
    "FACEMESH_NOSE", "FACEMESH_LEFT_IRIS", "FACEMESH_RIGHT_IRIS", "FACEMESH_IRISES",
)
HAND_SETS = (
    "HAND_CONNECTIONS", "HAND_PALM_CONNECTIONS", "HAND_THUMB_CONNECTIONS", "HAND_INDEX_FINGER_CONNECTIONS",
    "HAND_MIDDLE_FINGER_CONNECTIONS", "HAND_RING_FINGER_CONNECTIONS", "HAND_PINKY_FINGER_CONNECTIONS",
)
TASKS_FACE = (
    "FACE_LANDMARKS_TESSELATION", "FACE_LANDMARKS_CONTOURS", "FACE_LANDMARKS_LIPS", "FACE_LANDMARKS_LEFT_EYE",
    "FACE_LANDMARKS_RIGHT_EYE", "FACE_LANDMARKS_LEFT_EYEBROW", "FACE_LANDMARKS_RIGHT_EYEBROW",
    "FACE_LANDMARKS_FACE_OVAL", "FACE_LANDMARKS_LEFT_IRIS", "FACE_LANDMARKS_RIGHT_IRIS",
)


def _pairs(collection) -> list[list[int]]:
    return [[int(a), int(b)] for a, b in collection]


def extract() -> dict:
    import mediapipe as mp
    from mediapipe.python.solutions import face_mesh_connections, hands_connections, pose_connections

    sets: dict[str, dict] = {}
    for name in FACE_SETS:
        obj = getattr(face_mesh_connections, name)
        sets[name] = {"type": type(obj).__name__, "edges": _pairs(obj)}
    for name in HAND_SETS:
        obj = getattr(hands_connections, name)
        sets[name] = {"type": type(obj).__name__, "edges": _pairs(obj)}
    obj = pose_connections.POSE_CONNECTIONS
    sets["POSE_CONNECTIONS"] = {"type": type(obj).__name__, "edges": _pairs(obj)}

    tasks: dict[str, list[list[int]]] = {}
    try:
        from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections
    except ImportError:  # older wheels have no Tasks connection lists
        FaceLandmarksConnections = None
    if FaceLandmarksConnections is not None:
        for name in TASKS_FACE:
            tasks[name] = [[c.start, c.end] for c in getattr(FaceLandmarksConnections, name)]

    return {
        "source": (
            f"mediapipe {mp.__version__} (Apache-2.0): python/solutions/face_mesh_connections.py, "
            "hands_connections.py, pose_connections.py; tasks FaceLandmarksConnections"
        ),
        "note": "edges are listed in the iteration order of the Python object in the generating interpreter",
        "python": platform.python_version(),
        "sets": sets,
        "tasks": tasks,
    }


def _edge_lines(edges: list[list[int]], indent: str) -> str:
    """Edges as a JSON array, 16 pairs per line: compact yet diffable."""
    rows = [", ".join(json.dumps(e) for e in edges[i:i + 16]) for i in range(0, len(edges), 16)]
    return "[\n" + ",\n".join(indent + "  " + r for r in rows) + "\n" + indent + "]" if rows else "[]"


def _format(data: dict) -> str:
    head = {k: v for k, v in data.items() if k not in ("sets", "tasks")}
    out = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    out.append('  "sets": {')
    items = list(data["sets"].items())
    for i, (name, entry) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        out.append(f'    {json.dumps(name)}: {{"type": {json.dumps(entry["type"])}, "edges": '
                   f'{_edge_lines(entry["edges"], "    ")}}}{sep}')
    out.append("  },")
    out.append('  "tasks": {')
    titems = list(data["tasks"].items())
    for i, (name, edges) in enumerate(titems):
        sep = "," if i < len(titems) - 1 else ""
        out.append(f"    {json.dumps(name)}: {_edge_lines(edges, '    ')}{sep}")
    out.append("  }")
    out.append("}")
    text = "\n".join(out)
    if json.loads(text) != data:  # the hand formatting must not change the content
        raise RuntimeError("formatted JSON does not round-trip")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    data = extract()
    text = _format(data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, args.out)
    counts = {k: len(v["edges"]) for k, v in data["sets"].items()}
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
