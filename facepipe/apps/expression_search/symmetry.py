"""Left-right symmetry of the expression features: the descriptor v3 change.

A face and its mirror image make the same expression (a left wink is a wink), and camera previews are often
mirrored, yet the v2 geometry features are not symmetric: a mirrored photo swaps its left and right measures
and flips the sign of its asymmetries. On the tuning split (11 Yale people; docs/expression-search.md) a
query given as its mirror image found its label 0.70 of the time with v2 instead of 0.88.
`symmetric_geometry` averages the features with those of the mirrored face (each left/right pair becomes its
mean, in both slots, so a pair keeps its weight) and keeps the asymmetries' magnitudes, so a wink stays a
wink whichever eye closes. It is an exact function of the 14 features (no second landmarker run, no learned
parameter), and the mirrored photo of a face gets the same vector up to the landmarker's own noise.

`mirror_geometry` / `mirror_blendshapes` give the features of the mirrored face; the benchmark uses them (and
`symmetric_blendshapes`) for the alternatives it measures.
"""

from __future__ import annotations

import numpy as np

from facepipe.solutions.blendshapes import BLENDSHAPE_NAMES

__all__ = [
    "GEOMETRY_FEATURES",
    "mirror_geometry",
    "mirror_blendshapes",
    "symmetric_geometry",
    "symmetric_blendshapes",
]

GEOMETRY_FEATURES = (
    "right_eye_open", "left_eye_open", "right_brow_height", "left_brow_height", "brow_gap",
    "mouth_width", "mouth_open", "right_corner_height", "left_corner_height", "nose_to_lip", "lip_to_chin",
    "eye_open_asymmetry", "brow_asymmetry", "corner_asymmetry",
)


def _swap_sides(names: tuple[str, ...], right: str, left: str) -> np.ndarray:
    """Index permutation that swaps every name containing `right` with its `left` twin (and back)."""
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[n.replace(right, "\0").replace(left, right).replace("\0", left)] for n in names])


_GEO_MIRROR = _swap_sides(GEOMETRY_FEATURES, "right_", "left_")
_GEO_ASYMMETRY = np.array([n.endswith("_asymmetry") for n in GEOMETRY_FEATURES])  # right minus left
_BLEND_MIRROR = _swap_sides(tuple(BLENDSHAPE_NAMES), "Right", "Left")


def mirror_geometry(x: np.ndarray) -> np.ndarray:
    """(N,14) geometry features -> those of the mirrored faces (left/right swapped, asymmetries negated)."""
    y = np.asarray(x, np.float64)[:, _GEO_MIRROR]
    y[:, _GEO_ASYMMETRY] *= -1
    return y


def mirror_blendshapes(b: np.ndarray) -> np.ndarray:
    """(N,52) blendshape scores (Tasks order) -> those of the mirrored faces (Left/Right scores swapped)."""
    return np.asarray(b, np.float64)[:, _BLEND_MIRROR]


def symmetric_geometry(x: np.ndarray) -> np.ndarray:
    """(N,14): the mean of the features and their mirror's; asymmetries as magnitudes (a wink of either eye)."""
    x = np.asarray(x, np.float64)
    y = (x + mirror_geometry(x)) / 2
    y[:, _GEO_ASYMMETRY] = np.abs(x[:, _GEO_ASYMMETRY])
    return y


def symmetric_blendshapes(b: np.ndarray) -> np.ndarray:
    """(N,52): the mean of the scores and their mirror's (each Left/Right pair becomes its mean)."""
    b = np.asarray(b, np.float64)
    return (b + mirror_blendshapes(b)) / 2
