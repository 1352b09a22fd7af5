"""How `FaceFinder` frames a picture for BlazeFace: the model's reliable face sizes,
the pyramid of tiles that makes small faces big enough, and the views' resizing.

BlazeFace sees a 192² (full range) or 128² (short range) tensor, so a 20 px face
in a 1080p frame shrinks to 2 px when the whole frame is letterboxed into it.
Finer pyramid levels cut the frame into square tiles shown at a larger scale,
down to the scale at which a face of `min_face` pixels is still detectable. Each
level's tiles overlap by the largest face that level is responsible for (faces
bigger than that are found whole at the coarser level), and a detection touching
an inner tile edge is dropped because its face lies whole in the neighbouring tile.
Tiles shrunk 2x or more are area-averaged before the detector sees them (its own
bilinear warp would alias 5-10x reductions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["MIRRORED_KEYPOINTS", "MODEL_RANGES", "ModelRange", "Tile", "off_inner_edges", "plan_tiles", "resized",
           "tile_phases", "tiles_near", "zoomed_out"]


@dataclass(frozen=True)
class ModelRange:
    """Face sizes (box width, in tensor pixels) a detector model finds reliably.

    `lo` is about the smallest size found in >= 75 % of single-face photos pasted into the
    tensor, `hi` the largest found in >= 90 % (benchmarks/bench_anonymize.py --measure-ranges;
    the numbers are in benchmarks/RESULTS.md). The sparse full-range model is planned like
    the dense one.
    """

    size: int
    lo: float
    hi: float
    max_zoom: float = 3.0  # tiles are never enlarged more than this (enlarged tiles respond to textures)


MODEL_RANGES = {
    "full": ModelRange(192, 14.0, 90.0),  # sparse full range (mp.solutions)
    "full_dense": ModelRange(192, 14.0, 90.0),
    # On enlarged tiles the short-range model fires on hair and fabric, so it only ever sees
    # tiles at or below full size.
    "short": ModelRange(128, 12.0, 60.0, max_zoom=1.0),
    "short_tasks": ModelRange(128, 12.0, 60.0, max_zoom=1.0),
}



@dataclass(frozen=True)
class Tile:
    """A square-ish region x0:x1, y0:y1 of the frame shown to the detector at `k` tensor px per frame px.

    inner: (left, top, right, bottom) flags, True where the edge borders another tile.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    k: float
    inner: tuple[bool, bool, bool, bool] = (False, False, False, False)
    overlap: float = 0.0


def _axis_starts(length: int, tile: int, overlap: float) -> list[int]:
    if tile >= length:
        return [0]
    stride = max(1.0, tile - overlap)
    n = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def plan_tiles(width: int, height: int, min_face: float | None, rng: ModelRange, margin: float = 1.3,
               tensor: int | None = None) -> list[Tile]:
    """Tiles of the finer pyramid levels (the whole-frame level is not included).

    Levels step by at most hi/(lo·margin) in scale so that the size ranges of
    neighbouring levels overlap by `margin`; tiles of a level overlap by the
    largest face it must find whole (what the coarser level cannot see).
    tensor: the largest side of a tile in tensor pixels (None: the model's own `rng.size`; more
    for a model run on views of any size, `wide.py`: a level then needs fewer, larger tiles, and
    one tile when the whole frame fits).
    """
    if not min_face:
        return []
    long_side = max(width, height)
    k_prev = rng.size / long_side  # whole-frame level
    k_final = min(rng.lo / min_face, rng.max_zoom)
    if k_final <= k_prev * 1.05:
        return []
    # As few levels as the allowed step permits, spaced evenly in log-scale between the
    # whole frame and the finest level (the finest level's tile count dominates the cost).
    max_step = rng.hi / (rng.lo * margin)
    n_levels = max(1, math.ceil(math.log(k_final / k_prev) / math.log(max_step) - 1e-9))
    step = (k_final / k_prev) ** (1.0 / n_levels)
    tiles: list[Tile] = []
    for level in range(1, n_levels + 1):
        k = k_prev * step if level < n_levels else k_final
        side = (tensor or rng.size) / k
        tw, th = min(width, round(side)), min(height, round(side))
        overlap = min(margin * rng.lo / k_prev, side / 2)
        xs, ys = _axis_starts(width, tw, overlap), _axis_starts(height, th, overlap)
        for y in ys:
            for x in xs:
                inner = (x > 0, y > 0, x + tw < width, y + th < height)
                tiles.append(Tile(x, y, x + tw, y + th, k, inner, overlap))
        k_prev = k
    return tiles


def tile_phases(tiles: Sequence[Tile], period: int) -> np.ndarray:
    """The frame (0..period-1) of each tile's scan in a stream that scans every tile once per `period` frames.

    A face of a tile level lies in up to 2x2 neighbouring tiles (they overlap by the largest face
    of the level), so what matters for recall is how the scans of each 2x2 block spread over the
    period. Per level, the tile at grid row r, column c is scanned at (a·r + b·c + offset) % period,
    with (a, b) chosen so that the frames get as equal a number of tiles as possible (the most
    tiles one frame scans is the cost) and, among those, every block's scans are as evenly spread
    as possible (the largest smallest gap between them, then the smallest largest gap: the
    longest a face waits for its next scan). The row-major order (a = columns, b = 1), the
    schedule this replaced, wins ties: for periods it already spreads well (5 at 720p: a block's
    four scans on four of five frames) nothing changes; at others it puts a block's tiles on
    fewer frames (period 8 with 8 columns: the four scans of a block on two frames; 1080p at
    period 5: on three), which this avoids.
    """
    phases = np.zeros(len(tiles), np.int64)
    if period <= 1 or not tiles:
        return phases
    offset = 0
    levels: dict[float, list[int]] = {}
    for i, t in enumerate(tiles):
        levels.setdefault(round(t.k, 6), []).append(i)
    for idx in levels.values():
        xs = sorted({tiles[i].x0 for i in idx})
        ys = sorted({tiles[i].y0 for i in idx})
        cols = np.array([xs.index(tiles[i].x0) for i in idx])
        rows = np.array([ys.index(tiles[i].y0) for i in idx])
        ncols, nrows = len(xs), len(ys)
        best: tuple | None = None
        for a in range(period):
            for b in range(period):
                steps = [0] + ([b] if ncols > 1 else []) + ([a] if nrows > 1 else []) + (
                    [a + b] if ncols > 1 and nrows > 1 else [])
                block = sorted({s % period for s in steps})
                gaps = [block[j + 1] - block[j] for j in range(len(block) - 1)] + [block[0] + period - block[-1]]
                spread = min(gaps) if len(block) == len(steps) else 0
                ph = (a * rows + b * cols + offset) % period
                load = int(np.bincount(ph, minlength=period).max())
                key = (load, -spread, max(gaps), (a, b) != (ncols % period, 1 % period), a, b)
                if best is None or key < best[0]:
                    best = (key, ph)
        phases[idx] = best[1]
        offset += len(idx)
    return phases


# BlazeFace keypoints: right eye, left eye, nose, mouth, right ear, left ear; a mirror swaps sides.
MIRRORED_KEYPOINTS = [1, 0, 2, 3, 5, 4]


def zoomed_out(img: np.ndarray, factor: float, tensor: int) -> tuple[np.ndarray, float, float, float]:
    """The image shrunk to fit the tensor, centred on a black canvas `factor` times its size."""
    H, W = img.shape[:2]
    side = max(W, H) * factor
    k = tensor / side
    w, h = max(1, round(W * k)), max(1, round(H * k))
    small = resized(img, w, h)
    canvas = np.zeros((tensor, tensor, 3), np.uint8)
    ox, oy = (tensor - w) // 2, (tensor - h) // 2
    canvas[oy : oy + h, ox : ox + w] = small
    s = W / w
    # Canvas pixel (u, v) -> frame pixel ((u - ox) * s, (v - oy) * s).
    return canvas, -ox * s, -oy * s, s


def resized(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """`img` at w x h for a detector view. Enlarged or shrunk less than 2x: bilinear. Shrunk
    more: area averaging (bilinear would alias), halving first while at least twice the
    target, as OpenCV's exact-halving path is several times faster than a general area
    resize (benchmarks/RESULTS.md)."""
    while img.shape[1] >= 2 * w and img.shape[0] >= 2 * h and img.shape[1] % 2 == 0 and img.shape[0] % 2 == 0:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if img.shape[1] < 2 * w and img.shape[0] < 2 * h:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)



def tiles_near(tiles: Sequence[Tile], anchors: np.ndarray, min_faces: int, radius: float) -> list[Tile]:
    """The tiles where a detection could have `min_faces` anchors in reach (see `_in_crowd`): an
    anchor of side a counts for detections of side >= a/2 within `radius` of their side, so
    within 2·radius·a of the tile."""
    if len(anchors) < min_faces or not tiles:
        return []
    c = (anchors[:, :2] + anchors[:, 2:]) / 2
    reach = 2 * radius * (anchors[:, 2:] - anchors[:, :2]).max(1)
    t = np.array([[tl.x0, tl.y0, tl.x1, tl.y1] for tl in tiles], np.float32)
    dx = np.maximum(np.maximum(t[:, None, 0] - c[None, :, 0], c[None, :, 0] - t[:, None, 2]), 0)
    dy = np.maximum(np.maximum(t[:, None, 1] - c[None, :, 1], c[None, :, 1] - t[:, None, 3]), 0)
    near = np.hypot(dx, dy) <= reach[None, :]
    return [tl for tl, n in zip(tiles, near.sum(1), strict=True) if n >= min_faces]



def off_inner_edges(boxes: np.ndarray, t: Tile, tol: float = 2.0) -> np.ndarray:
    """Boxes to keep: those not touching an edge shared with another tile, unless too big to
    fit whole in the overlap (only faces that fit are sure to be whole in the neighbour)."""
    keep = (boxes[:, 2:] - boxes[:, :2]).max(1) > 0.8 * t.overlap
    left, top, right, bottom = t.inner
    inside = np.ones(len(boxes), bool)
    if left:
        inside &= boxes[:, 0] > t.x0 + tol
    if top:
        inside &= boxes[:, 1] > t.y0 + tol
    if right:
        inside &= boxes[:, 2] < t.x1 - tol
    if bottom:
        inside &= boxes[:, 3] < t.y1 - tol
    return keep | inside
