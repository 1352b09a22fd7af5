"""Drawing specs and MediaPipe's default styles, as per-edge / per-landmark arrays.

Colour convention: every colour in facepipe is an **RGB** tuple, because
facepipe images are RGB. MediaPipe writes its colours as BGR (it draws on BGR
images with cv2); the constants below are built with `from_bgr(...)` from
MediaPipe's numbers so they can be checked against drawing_styles.py, and the
drawing functions flip them when asked to draw on a BGR image.

A style is stored as arrays (one row per edge or landmark) rather than a dict
of specs so drawing can group edges by (colour, thickness) without a Python
loop per edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facepipe.draw import connections as conn

__all__ = [
    "Color", "DrawingSpec", "ConnectionStyle", "LandmarkStyle", "from_bgr",
    "WHITE", "BLACK", "RED", "GREEN", "BLUE",
    "face_mesh_tesselation_style", "face_mesh_contours_style", "face_mesh_iris_style",
    "hand_landmarks_style", "hand_connections_style", "pose_landmarks_style", "pose_connections_style",
]

Color = tuple[int, int, int]  # RGB, 0..255


def from_bgr(b: int, g: int, r: int) -> Color:
    """An RGB colour from MediaPipe's BGR numbers."""
    return (r, g, b)


# drawing_utils colour constants (reference 11.1).
WHITE = from_bgr(224, 224, 224)
BLACK = from_bgr(0, 0, 0)
RED = from_bgr(0, 0, 255)
GREEN = from_bgr(0, 128, 0)
BLUE = from_bgr(255, 0, 0)

# drawing_styles palette (reference 11.2).
_RED = from_bgr(48, 48, 255)
_GREEN = from_bgr(48, 255, 48)
_BLUE = from_bgr(192, 101, 21)
_YELLOW = from_bgr(0, 204, 255)
_GRAY = from_bgr(128, 128, 128)
_PURPLE = from_bgr(128, 64, 128)
_PEACH = from_bgr(180, 229, 255)
_WHITE = from_bgr(224, 224, 224)
_CYAN = from_bgr(192, 255, 48)
_MAGENTA = from_bgr(192, 48, 255)
_POSE_LEFT = from_bgr(0, 138, 255)
_POSE_RIGHT = from_bgr(231, 217, 0)
_RADIUS = 5


@dataclass(frozen=True)
class DrawingSpec:
    """One colour (RGB), line thickness (-1 = filled circle) and circle radius, as MediaPipe's."""

    color: Color = WHITE
    thickness: int = 2
    circle_radius: int = 2


#: drawing_utils defaults: landmarks DrawingSpec(color=RED), connections DrawingSpec().
LANDMARK_SPEC = DrawingSpec(color=RED)
CONNECTION_SPEC = DrawingSpec()


def _rows(k: int, spec: DrawingSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.tile(np.asarray(spec.color, np.uint8), (k, 1)), np.full(k, spec.thickness, np.int32),
            np.full(k, spec.circle_radius, np.int32))


def _freeze(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


@dataclass(frozen=True, eq=False)
class ConnectionStyle:
    """Edges to draw, in drawing order, each with an RGB colour and a thickness.

    edges: (E,2) int32; colors: (E,3) uint8 RGB; thickness: (E,) int32.
    """

    edges: np.ndarray
    colors: np.ndarray
    thickness: np.ndarray

    def __post_init__(self) -> None:
        edges = conn.as_edges(self.edges)
        colors = np.asarray(self.colors, np.uint8).reshape(-1, 3)
        thickness = np.asarray(self.thickness, np.int32).reshape(-1)
        if not len(edges) == len(colors) == len(thickness):
            raise ValueError(f"ConnectionStyle rows disagree: {len(edges)} edges, {len(colors)} colours,"
                             f" {len(thickness)} thicknesses")
        if np.any(thickness < 1):
            raise ValueError("line thickness must be >= 1")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "thickness", thickness)
        _freeze(self.edges, self.colors, self.thickness)

    def __len__(self) -> int:
        return len(self.edges)

    @classmethod
    def uniform(cls, edges: Iterable[Sequence[int]] | np.ndarray, spec: DrawingSpec = CONNECTION_SPEC
                ) -> ConnectionStyle:
        e = conn.as_edges(edges)
        colors, thickness, _ = _rows(len(e), spec)
        return cls(e, colors, thickness)

    @classmethod
    def from_parts(cls, edges: np.ndarray, parts: Sequence[tuple[np.ndarray, DrawingSpec]],
                   default: DrawingSpec | None = None) -> ConnectionStyle:
        """Style `edges` (drawing order kept) by the part each edge belongs to.

        Like MediaPipe's spec mappings, a later part wins when an edge is in two.
        An edge in no part gets `default`, or raises if there is none (MediaPipe
        raises KeyError there too).
        """
        e = conn.as_edges(edges)
        colors, thickness, _ = _rows(len(e), default or DrawingSpec())
        assigned = np.zeros(len(e), bool)
        for part, spec in parts:
            m = conn.edge_membership(e, part)
            colors[m] = spec.color
            thickness[m] = spec.thickness
            assigned |= m
        if default is None and not assigned.all():
            missing = e[~assigned][:5].tolist()
            raise ValueError(f"{int((~assigned).sum())} edges have no style, e.g. {missing}")
        return cls(e, colors, thickness)

    @classmethod
    def from_mapping(cls, edges: Iterable[Sequence[int]] | np.ndarray,
                     mapping: Mapping[tuple[int, int], DrawingSpec]) -> ConnectionStyle:
        """From a MediaPipe-style {(start, end): DrawingSpec} mapping (colours must already be RGB)."""
        e = conn.as_edges(edges)
        specs = [mapping[(int(a), int(b))] for a, b in e]
        return cls(e, np.array([s.color for s in specs], np.uint8).reshape(-1, 3),
                   np.array([s.thickness for s in specs], np.int32))


@dataclass(frozen=True, eq=False)
class LandmarkStyle:
    """Per-landmark dot style: colors (P,3) uint8 RGB, thickness (P,) (-1 = filled), radius (P,)."""

    colors: np.ndarray
    thickness: np.ndarray
    radius: np.ndarray

    def __post_init__(self) -> None:
        colors = np.asarray(self.colors, np.uint8).reshape(-1, 3)
        thickness = np.asarray(self.thickness, np.int32).reshape(-1)
        radius = np.asarray(self.radius, np.int32).reshape(-1)
        if not len(colors) == len(thickness) == len(radius):
            raise ValueError("LandmarkStyle rows disagree")
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "thickness", thickness)
        object.__setattr__(self, "radius", radius)
        _freeze(self.colors, self.thickness, self.radius)

    def __len__(self) -> int:
        return len(self.colors)

    @classmethod
    def uniform(cls, num_points: int, spec: DrawingSpec = LANDMARK_SPEC) -> LandmarkStyle:
        return cls(*_rows(num_points, spec))

    @classmethod
    def from_groups(cls, num_points: int, groups: Sequence[tuple[Sequence[int], DrawingSpec]],
                    default: DrawingSpec = LANDMARK_SPEC) -> LandmarkStyle:
        colors, thickness, radius = _rows(num_points, default)
        for idx, spec in groups:
            idx = np.asarray(idx, np.intp)
            colors[idx] = spec.color
            thickness[idx] = spec.thickness
            radius[idx] = spec.circle_radius
        return cls(colors, thickness, radius)


# --- MediaPipe's default styles (drawing_styles.py, reference 11.2) ---------------------------------

def face_mesh_tesselation_style() -> ConnectionStyle:
    """GRAY, thickness 1 over FACEMESH_TESSELATION."""
    return ConnectionStyle.uniform(conn.FACEMESH_TESSELATION, DrawingSpec(color=_GRAY, thickness=1))


def face_mesh_contours_style(variant: int = 0, include_nose: bool = False) -> ConnectionStyle:
    """MediaPipe's contour palettes 0 and 1 over FACEMESH_CONTOURS (all thickness 2).

    Palette 1 has a colour for the nose, but FACEMESH_CONTOURS holds no nose edge,
    so MediaPipe never draws it; `include_nose=True` appends FACEMESH_NOSE.
    """
    if variant not in (0, 1):
        raise ValueError(f"contour style variant must be 0 or 1, got {variant}")
    palette = {  # lips, left eye, left brow, right eye, right brow, oval, nose
        0: (_WHITE, _GREEN, _GREEN, _RED, _RED, _WHITE, _WHITE),
        1: (_BLUE, _CYAN, _GREEN, _MAGENTA, _RED, _WHITE, _YELLOW),
    }[variant]
    regions = (conn.FACEMESH_LIPS, conn.FACEMESH_LEFT_EYE, conn.FACEMESH_LEFT_EYEBROW,
               conn.FACEMESH_RIGHT_EYE, conn.FACEMESH_RIGHT_EYEBROW, conn.FACEMESH_FACE_OVAL,
               conn.FACEMESH_NOSE)
    parts = [(edges, DrawingSpec(color, 2)) for edges, color in zip(regions, palette, strict=True)]
    edges = conn.FACEMESH_CONTOURS
    if include_nose:
        edges = np.concatenate([edges, conn.FACEMESH_NOSE])
    return ConnectionStyle.from_parts(edges, parts)


def face_mesh_iris_style() -> ConnectionStyle:
    """LEFT_IRIS GREEN, RIGHT_IRIS RED, thickness 2, over FACEMESH_IRISES."""
    return ConnectionStyle.from_parts(conn.FACEMESH_IRISES, [
        (conn.FACEMESH_LEFT_IRIS, DrawingSpec(_GREEN, 2)), (conn.FACEMESH_RIGHT_IRIS, DrawingSpec(_RED, 2))])


_HAND_GROUPS = (  # (landmarks, connections, colour): palm, thumb, index, middle, ring, pinky
    ((0, 1, 5, 9, 13, 17), conn.HAND_PALM_CONNECTIONS, _RED, _GRAY),
    ((2, 3, 4), conn.HAND_THUMB_CONNECTIONS, _PEACH, _PEACH),
    ((6, 7, 8), conn.HAND_INDEX_FINGER_CONNECTIONS, _PURPLE, _PURPLE),
    ((10, 11, 12), conn.HAND_MIDDLE_FINGER_CONNECTIONS, _YELLOW, _YELLOW),
    ((14, 15, 16), conn.HAND_RING_FINGER_CONNECTIONS, _GREEN, _GREEN),
    ((18, 19, 20), conn.HAND_PINKY_FINGER_CONNECTIONS, _BLUE, _BLUE),
)


def hand_landmarks_style() -> LandmarkStyle:
    """Filled dots of radius 5, coloured by finger (palm RED)."""
    return LandmarkStyle.from_groups(21, [
        (idx, DrawingSpec(dot, thickness=-1, circle_radius=_RADIUS)) for idx, _, dot, _ in _HAND_GROUPS])


def hand_connections_style() -> ConnectionStyle:
    """Palm GRAY thickness 3, fingers in their colour thickness 2, over HAND_CONNECTIONS."""
    return ConnectionStyle.from_parts(conn.HAND_CONNECTIONS, [
        (edges, DrawingSpec(line, 3 if i == 0 else 2)) for i, (_, edges, _, line) in enumerate(_HAND_GROUPS)])


_POSE_LEFT_IDS = (1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
_POSE_RIGHT_IDS = (4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32)


def pose_landmarks_style() -> LandmarkStyle:
    """Subject-left orange, subject-right cyan, nose white; radius 2, thickness 2."""
    return LandmarkStyle.from_groups(33, [
        (_POSE_LEFT_IDS, DrawingSpec(_POSE_LEFT, 2)), (_POSE_RIGHT_IDS, DrawingSpec(_POSE_RIGHT, 2)),
        ((0,), DrawingSpec(_WHITE, 2))])


def pose_connections_style() -> ConnectionStyle:
    """MediaPipe has no pose connection style: DrawingSpec() (WHITE, 2) over POSE_CONNECTIONS."""
    return ConnectionStyle.uniform(conn.POSE_CONNECTIONS, DrawingSpec())
