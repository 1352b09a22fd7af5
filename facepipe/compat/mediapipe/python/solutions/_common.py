"""Shared pieces of the legacy-solution facade: outputs object, input checks, conversions, edge sets."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from facepipe.compat.mediapipe._messages import (
    Classification,
    ClassificationList,
    LandmarkList,
    NormalizedLandmarkList,
)

XYZ = ("x", "y", "z")
XYZV = ("x", "y", "z", "visibility")


def index_enum(name: str, constants: type) -> type[enum.IntEnum]:
    """An IntEnum (MediaPipe's type) with the upper-case int constants of one of facepipe's index classes."""
    members = {k: v for k, v in vars(constants).items() if k.isupper() and isinstance(v, int)}
    return enum.IntEnum(name, sorted(members.items(), key=lambda kv: kv[1]))


class SolutionOutputs:
    """What a legacy `process()` returns: one attribute per output stream, None where MediaPipe gives None."""

    def __init__(self, **outputs: Any) -> None:
        self.__dict__.update(outputs)
        self._fields = tuple(outputs)

    def __repr__(self) -> str:
        return "SolutionOutputs(" + ", ".join(f"{k}=..." for k in self._fields) + ")"


def check_rgb(image: Any) -> np.ndarray:
    """MediaPipe's check in SolutionBase.process: an (H, W, 3) RGB uint8 array."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("Input image must contain three channel rgb data.")
    if image.dtype != np.uint8:
        raise ValueError(f"Input image must be uint8 (facepipe.compat), got {image.dtype}")
    return image if image.flags.c_contiguous else np.ascontiguousarray(image)


def normalized_lists(points: np.ndarray, columns: tuple[str, ...] = XYZ) -> list[NormalizedLandmarkList] | None:
    """(N,P,C) float32 -> N NormalizedLandmarkList, or None when N == 0 (MediaPipe's "no output")."""
    if len(points) == 0:
        return None
    return [NormalizedLandmarkList._from_array(p, columns) for p in points]


def normalized_list(points: np.ndarray, columns: tuple[str, ...] = XYZ) -> NormalizedLandmarkList:
    return NormalizedLandmarkList._from_array(points, columns)


def world_list(points: np.ndarray, columns: tuple[str, ...] = XYZ) -> LandmarkList:
    return LandmarkList._from_array(points, columns)


def handedness_lists(index: np.ndarray, score: np.ndarray) -> list[ClassificationList]:
    labels = ("Left", "Right")
    return [ClassificationList(classification=[Classification(index=int(i), score=float(s), label=labels[int(i)])])
            for i, s in zip(index.tolist(), score.astype(np.float32).tolist())]


class EdgeSet(frozenset):
    """A frozenset of (start, end) pairs that iterates in MediaPipe's order.

    drawing_utils draws connections in iteration order (it decides which colour
    lies on top); rebuilding MediaPipe's frozensets from their elements would
    not keep that order, so the order is stored with the set.
    """

    def __new__(cls, edges: np.ndarray) -> EdgeSet:
        pairs = [tuple(e) for e in np.asarray(edges).tolist()]
        obj = super().__new__(cls, pairs)
        obj._order = tuple(pairs)
        return obj

    def __iter__(self):
        return iter(self._order)

    def __repr__(self) -> str:
        return "frozenset({" + ", ".join(map(repr, self._order)) + "})"


def edge_set(name: str) -> EdgeSet:
    from facepipe.draw.connections import CONNECTION_SETS

    return EdgeSet(CONNECTION_SETS[name])


def unimplemented(module: str, name: str, hint: str) -> AttributeError:
    return AttributeError(
        f"module {module!r} has no attribute {name!r}: not implemented in facepipe.compat. {hint}"
    )
