"""Mirror images of face-mesh landmarks: the face flipped left-right, as the landmark model would see it.

Flipping an image swaps the two sides of a face, so a flipped face's landmark i sits where its mirror
partner's landmark would: the left mouth corner becomes the right one. `mirror_order` finds each
vertex's partner in the face-geometry canonical model (symmetric about its x = 0 plane to the last
digit: every vertex's mirror image is a vertex) and pairs the two irises' points by their place
in the iris ring (centre, then the image-right, top, image-left and bottom edges).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mirror_order", "mirrored_landmarks"]

NUM_LANDMARKS = 478
# Iris points 468-472 (subject's right) and 473-477 (left): centre, image-right, top, image-left, bottom.
# Flipped, the centre stays the centre, top and bottom stay, and image-right and image-left swap.
_IRIS_MIRROR = (473, 476, 475, 474, 477, 468, 471, 470, 469, 472)


def mirror_order(canonical: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
    """(478,) permutation p: landmark i of a flipped face is landmark p[i] of the face, flipped.

    canonical: (468, 3) canonical face model vertices; `tolerance` (model units) is how far a vertex's
    mirror image may lie from its partner before the model is taken as not symmetric (ValueError)."""
    v = np.asarray(canonical, np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 468:
        raise ValueError(f"canonical face model must be (468, 3), got {v.shape}")
    v = v[:468]
    flipped = v * np.array([-1.0, 1.0, 1.0])
    dist = np.sqrt(((flipped[:, None] - v[None]) ** 2).sum(-1))
    partner = dist.argmin(1)
    worst = float(dist[np.arange(468), partner].max())
    if worst > tolerance or not np.array_equal(partner[partner], np.arange(468)):
        raise ValueError(f"canonical face model is not left-right symmetric (a vertex's mirror image is {worst:.4g}"
                         f" from the nearest vertex)")
    return np.concatenate([partner, _IRIS_MIRROR]).astype(np.intp)


def mirrored_landmarks(landmarks: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(..., 478, 3) normalized landmarks (x in [0, 1] of the image width) of the image flipped left-right."""
    lm = np.asarray(landmarks)
    if lm.shape[-2:] != (NUM_LANDMARKS, 3):
        raise ValueError(f"expected (..., {NUM_LANDMARKS}, 3) landmarks, got {lm.shape}")
    out = lm[..., order, :].copy()
    out[..., 0] = 1.0 - out[..., 0]
    return out
