"""Tasks result containers (mediapipe.tasks.python.components.containers), as plain dataclasses.

Same classes, fields and defaults as MediaPipe's, so results print the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass
class Category:
    index: int | None = None
    score: float | None = None
    display_name: str | None = None
    category_name: str | None = None


@dataclasses.dataclass
class _Point:
    x: float | None = None
    y: float | None = None
    z: float | None = None
    visibility: float | None = None
    presence: float | None = None


@dataclasses.dataclass
class NormalizedLandmark(_Point):
    """x, y normalized to the image; z in x's scale."""


@dataclasses.dataclass
class Landmark(_Point):
    """World coordinates in metres."""


@dataclasses.dataclass
class BoundingBox:
    origin_x: int
    origin_y: int
    width: int
    height: int


@dataclasses.dataclass
class NormalizedKeypoint:
    x: float | None = None
    y: float | None = None
    label: str | None = None
    score: float | None = None


@dataclasses.dataclass
class Detection:
    bounding_box: BoundingBox
    categories: list[Category]
    keypoints: list[NormalizedKeypoint] | None = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class DetectionResult:
    detections: list[Detection]


class LazyList(Sequence):
    """A list whose items are built on first use (478 landmark objects per face cost time nobody may need).

    Behaves as a read-only list: len, indexing, slicing, iteration, ==, and prints like one.
    """

    __slots__ = ("_build", "_items")

    def __init__(self, build: Callable[[], list[Any]]) -> None:
        self._build = build
        self._items: list[Any] | None = None

    def _list(self) -> list[Any]:
        if self._items is None:
            self._items = self._build()
            self._build = None  # type: ignore[assignment]
        return self._items

    def __len__(self) -> int:
        return len(self._list())

    def __getitem__(self, i):  # noqa: ANN001, ANN204
        return self._list()[i]

    def __iter__(self):
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return self._list() == (list(other) if isinstance(other, (LazyList, list)) else other)

    def __repr__(self) -> str:
        return repr(self._list())

    __hash__ = None  # type: ignore[assignment]


def landmark_rows(points, cls: type, columns: tuple[str, ...]) -> LazyList:  # noqa: ANN001 - (P,C) array
    """A LazyList of `cls` objects from a (P, len(columns)) float32 array (fields not in columns stay None)."""

    def build() -> list[Any]:
        new = cls.__new__
        base = dict.fromkeys(("x", "y", "z", "visibility", "presence"))
        out = []
        for row in points.tolist():
            obj = new(cls)
            d = dict(base)
            d.update(zip(columns, row))
            obj.__dict__ = d
            out.append(obj)
        return out

    return LazyList(build)
