"""MediaPipe's landmark connection sets as read-only (E, 2) int32 arrays.

The edges are MediaPipe's exact sets (mediapipe 0.10.21, Apache-2.0), dumped
as data by tools/extract_connections.py into facepipe/data/mediapipe_connections.json.
Each array lists the edges in the order Python iterated MediaPipe's object
(mostly frozensets): drawing the edges in that order reproduces which colour
ends up on top where MediaPipe's lines overlap. Set semantics (e.g. "is this
edge in the contours") are available through `edge_membership`.

Face sets use the subject's sides (FACEMESH_LEFT_EYE is the eye around
263-362, on the image right in a non-mirrored frontal photo), like MediaPipe.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np

__all__ = [
    "FACEMESH_TESSELATION", "FACEMESH_CONTOURS", "FACEMESH_LIPS", "FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE",
    "FACEMESH_LEFT_EYEBROW", "FACEMESH_RIGHT_EYEBROW", "FACEMESH_FACE_OVAL", "FACEMESH_NOSE",
    "FACEMESH_LEFT_IRIS", "FACEMESH_RIGHT_IRIS", "FACEMESH_IRISES",
    "HAND_CONNECTIONS", "HAND_PALM_CONNECTIONS", "HAND_THUMB_CONNECTIONS", "HAND_INDEX_FINGER_CONNECTIONS",
    "HAND_MIDDLE_FINGER_CONNECTIONS", "HAND_RING_FINGER_CONNECTIONS", "HAND_PINKY_FINGER_CONNECTIONS",
    "POSE_CONNECTIONS", "CONNECTION_SETS", "TASKS_FACE_CONNECTIONS", "SOURCE", "edge_membership", "as_edges",
]

_DATA_FILE = "mediapipe_connections.json"


def _load() -> dict[str, Any]:
    text = resources.files("facepipe").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _frozen(edges: list[list[int]]) -> np.ndarray:
    arr = np.asarray(edges, dtype=np.int32).reshape(-1, 2)
    arr.setflags(write=False)  # shared constants: nobody may edit them in place
    return arr


_DATA = _load()
SOURCE: str = _DATA["source"]

#: name -> (E, 2) int32 edges, in MediaPipe's iteration order.
CONNECTION_SETS: dict[str, np.ndarray] = {name: _frozen(v["edges"]) for name, v in _DATA["sets"].items()}
#: The Tasks API's FaceLandmarksConnections lists (same edges, in list order).
TASKS_FACE_CONNECTIONS: dict[str, np.ndarray] = {name: _frozen(v) for name, v in _DATA["tasks"].items()}
del _DATA

FACEMESH_TESSELATION = CONNECTION_SETS["FACEMESH_TESSELATION"]
FACEMESH_CONTOURS = CONNECTION_SETS["FACEMESH_CONTOURS"]
FACEMESH_LIPS = CONNECTION_SETS["FACEMESH_LIPS"]
FACEMESH_LEFT_EYE = CONNECTION_SETS["FACEMESH_LEFT_EYE"]
FACEMESH_RIGHT_EYE = CONNECTION_SETS["FACEMESH_RIGHT_EYE"]
FACEMESH_LEFT_EYEBROW = CONNECTION_SETS["FACEMESH_LEFT_EYEBROW"]
FACEMESH_RIGHT_EYEBROW = CONNECTION_SETS["FACEMESH_RIGHT_EYEBROW"]
FACEMESH_FACE_OVAL = CONNECTION_SETS["FACEMESH_FACE_OVAL"]
FACEMESH_NOSE = CONNECTION_SETS["FACEMESH_NOSE"]
FACEMESH_LEFT_IRIS = CONNECTION_SETS["FACEMESH_LEFT_IRIS"]
FACEMESH_RIGHT_IRIS = CONNECTION_SETS["FACEMESH_RIGHT_IRIS"]
FACEMESH_IRISES = CONNECTION_SETS["FACEMESH_IRISES"]

HAND_CONNECTIONS = CONNECTION_SETS["HAND_CONNECTIONS"]
HAND_PALM_CONNECTIONS = CONNECTION_SETS["HAND_PALM_CONNECTIONS"]
HAND_THUMB_CONNECTIONS = CONNECTION_SETS["HAND_THUMB_CONNECTIONS"]
HAND_INDEX_FINGER_CONNECTIONS = CONNECTION_SETS["HAND_INDEX_FINGER_CONNECTIONS"]
HAND_MIDDLE_FINGER_CONNECTIONS = CONNECTION_SETS["HAND_MIDDLE_FINGER_CONNECTIONS"]
HAND_RING_FINGER_CONNECTIONS = CONNECTION_SETS["HAND_RING_FINGER_CONNECTIONS"]
HAND_PINKY_FINGER_CONNECTIONS = CONNECTION_SETS["HAND_PINKY_FINGER_CONNECTIONS"]

POSE_CONNECTIONS = CONNECTION_SETS["POSE_CONNECTIONS"]


def as_edges(connections: Any) -> np.ndarray:
    """Any iterable of (start, end) index pairs as an (E, 2) int32 array, order kept."""
    if isinstance(connections, np.ndarray):
        arr = connections
    else:
        arr = np.asarray(list(connections) if not isinstance(connections, (list, tuple)) else connections)
    if arr.size == 0:
        return np.zeros((0, 2), np.int32)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"connections must be (E, 2) index pairs, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"connection indices must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int32, copy=False)


def edge_membership(edges: np.ndarray, part: np.ndarray) -> np.ndarray:
    """(E,) bool: which rows of `edges` appear (same direction) in `part`."""
    edges = as_edges(edges)
    part = as_edges(part)
    if len(part) == 0 or len(edges) == 0:
        return np.zeros(len(edges), bool)
    # Pack each pair into one int64 key so membership is a single np.isin.
    key = edges[:, 0].astype(np.int64) << 32 | edges[:, 1].astype(np.int64)
    part_key = part[:, 0].astype(np.int64) << 32 | part[:, 1].astype(np.int64)
    return np.isin(key, part_key)
