"""Painting over faces: blur, mosaic, solid colour or a replacement image, in a box,
an ellipse or the hull of the face's landmarks.

Strength is relative to each face's size, so a 20 px face in the background
and a 400 px face in front are equally unrecognisable: the blur kernel and
the mosaic block are fractions of the face box's larger side (before
`mask_scale`). A blurred or mosaicked face also gets a fixed grain, so that a
dark, flat face (which a blur barely changes) is changed all the same. Work is
done on the face's own region only, never the whole frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from facepipe.apps.anonymize.regions import Source, region_sources
from facepipe.results import Detections
from facepipe.runtime.options import RuntimeOptions

__all__ = ["METHODS", "SHAPES", "RedactOptions", "Redactor", "mask_boxes"]

METHODS = ("blur", "mosaic", "solid", "image", "none")
# Blur sigma per unit of `blur`, as a fraction of the face size: the least that left no dark,
# low-contrast face recognisable in the leak test (benchmarks/RESULTS.md).
_BLUR_SIGMA = 0.6
_BOX_AT_SCALE = 7  # box blurs wider than this run on a shrunken copy
# The grain: a fixed pattern of +-1 (seeded, so outputs are reproducible), tiled on the frame's grid.
_GRAIN_TILE = np.where(np.random.default_rng(0x6A41).random((256, 256)) < 0.5, -1, 1).astype(np.float32)
# Its signs as two uint8 masks, 255 where the grain lightens and where it darkens: the fast path's grain.
_GRAIN_SIGNS = (np.stack([_GRAIN_TILE > 0, _GRAIN_TILE < 0]) * 255).astype(np.uint8)
# Each tile repeated k x k (grown on demand by `_tiled`): a face's grain is a view of it (tiling per region
# copied 0.25-1 MB each, and a 720p close-up's 350-400 px grain did not fit a 2x2 tiling).
_TILINGS: dict[str, np.ndarray] = {}
SHAPES = ("ellipse", "box", "hull")
# Per channel the lowest and the highest level of an image.
Levels = tuple[list[int], list[int]]

# Outline colours for --draw-boxes, by region source (RGB).
_SOURCE_COLOURS = {
    Source.DETECTED: (0, 255, 0),
    Source.HELD: (255, 200, 0),
    Source.BACKFILLED: (255, 120, 0),
    Source.INTERPOLATED: (0, 200, 255),
}


# The box scale of each shape: ellipses and boxes must cover hair, ears and chin around the
# detector's box; the hull follows the face outline itself and only needs a margin.
DEFAULT_MASK_SCALES = {"ellipse": 1.5, "box": 1.5, "hull": 1.1}


@dataclass(frozen=True)
class RedactOptions:
    """method: "blur", "mosaic", "solid", "image" or "none" (outlines only, for tuning).
    shape: "ellipse", "box", or "hull" (convex hull of face landmarks; needs `polygons`).
    mask_scale: the shape is the face box scaled by this about its centre (covers hair, ears, chin);
        None: the shape's default (`DEFAULT_MASK_SCALES`: 1.5 for ellipse and box, 1.1 for the hull,
        which follows the face itself). `effective_mask_scale` is the one in use.
    blur: blur strength: a Gaussian of sigma 0.6 x blur x the face size (three box passes).
    mosaic: mosaic block size as a fraction of the face size.
    grain: levels (0..255 scale) of a fixed +-grain laid over the blurred or mosaicked face (0: off).
        A blur or a mosaic leaves a dark, flat face's pixels almost where they were (the dark faces
        of the hamilton clip: under half of the face moved by more than 6 levels, whatever the blur
        strength); the grain moves every pixel of the face by this much (lightening only near
        black, darkening only near white), which also defeats deblurring. Full strength over the
        face box's inscribed ellipse, fading out before the region's edge (benchmarks/RESULTS.md).
    color: RGB fill for "solid".
    replacement: RGB or RGBA uint8 image pasted by "image" (alpha blends).
    draw_boxes / draw_scores: outline each region (colour by source) / print its score.
    runtime: threads, model files, delegate of the face mesh that outlines shape "hull".
    """

    method: str = "blur"
    shape: str = "ellipse"
    mask_scale: float | None = None
    blur: float = 1.0
    mosaic: float = 0.15
    grain: float = 12.0
    color: tuple[int, int, int] = (0, 0, 0)
    replacement: np.ndarray | None = None
    draw_boxes: bool = False
    draw_scores: bool = False
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; choose one of {', '.join(SHAPES)}")
        if not 0.5 <= self.effective_mask_scale <= 5.0:
            raise ValueError(f"mask_scale must be in [0.5, 5], got {self.mask_scale}")
        if not 0.0 < self.blur <= 4.0:
            raise ValueError(f"blur must be in (0, 4], got {self.blur}")
        if not 0.0 <= self.grain <= 64.0:
            raise ValueError(f"grain must be in [0, 64] levels, got {self.grain}")
        if not 0.0 < self.mosaic <= 1.0:
            raise ValueError(f"mosaic must be in (0, 1], got {self.mosaic}")
        if len(self.color) != 3 or not all(0 <= int(c) <= 255 for c in self.color):
            raise ValueError(f"color must be three values in 0..255, got {self.color}")
        if self.method == "image":
            r = self.replacement
            if r is None:
                raise ValueError("method 'image' needs a replacement image")
            if r.dtype != np.uint8 or r.ndim != 3 or r.shape[2] not in (3, 4) or 0 in r.shape[:2]:
                raise ValueError(f"replacement must be an RGB/RGBA uint8 image, got {r.dtype} {r.shape}")

    @property
    def effective_mask_scale(self) -> float:
        """`mask_scale`, or the shape's default when it is None."""
        return DEFAULT_MASK_SCALES[self.shape] if self.mask_scale is None else float(self.mask_scale)


def mask_boxes(xyxy: np.ndarray, mask_scale: float) -> np.ndarray:
    """(N,4) float boxes scaled about their centres by `mask_scale`."""
    c = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2 * mask_scale
    return np.concatenate([c - half, c + half], axis=1)


class Redactor:
    """Applies `RedactOptions` to frames. Stateless apart from its options; thread-safe."""

    def __init__(self, options: RedactOptions | None = None) -> None:
        self.options = options or RedactOptions()

    def __call__(self, rgb: np.ndarray, regions: Detections, polygons: Sequence[np.ndarray] | None = None,
                 *, inplace: bool = False) -> np.ndarray:
        return self.redact(rgb, regions, polygons, inplace=inplace)

    def redact(self, rgb: np.ndarray, regions: Detections, polygons: Sequence[np.ndarray] | None = None,
               *, inplace: bool = False) -> np.ndarray:
        """The frame with every region redacted (a copy unless `inplace`).

        polygons: per region, a (P,2) array of face landmark pixels, for shape "hull"
        (a region whose entry is None or empty falls back to the ellipse).
        """
        o = self.options
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {rgb.dtype} {rgb.shape}")
        out = rgb if inplace else rgb.copy()
        if len(regions) == 0:
            return out
        if o.shape == "hull" and polygons is None:
            raise ValueError("shape 'hull' needs face landmarks (polygons) for each region")
        H, W = out.shape[:2]
        boxes = mask_boxes(regions.xyxy, o.effective_mask_scale)
        sizes = regions.wh.max(1)
        if o.method != "none":
            hull = o.shape == "hull" and polygons is not None
            for i in range(len(regions)) if hull else _not_covered(boxes):
                poly = None
                if o.shape == "hull" and polygons is not None and polygons[i] is not None and len(polygons[i]) >= 3:
                    poly = _scaled_hull(np.asarray(polygons[i], np.float32)[:, :2], o.effective_mask_scale)
                self._redact_one(out, boxes[i], float(sizes[i]), poly, W, H, regions.xyxy[i])
        if o.draw_boxes or o.draw_scores:
            self._draw(out, regions, boxes)
        return out

    def _redact_one(self, out: np.ndarray, box: np.ndarray, face: float, poly: np.ndarray | None,
                    W: int, H: int, face_box: np.ndarray | None = None) -> None:
        o = self.options
        if poly is not None:
            lo, hi = poly.min(0), poly.max(0)
            box = np.array([min(box[0], lo[0]), min(box[1], lo[1]), max(box[2], hi[0]), max(box[3], hi[1])])
        x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        x1, y1 = min(W, math.ceil(box[2])), min(H, math.ceil(box[3]))
        if x1 <= x0 or y1 <= y0:
            return
        roi = out[y0:y1, x0:x1]
        h, w = roi.shape[:2]
        mask = self._mask(box, poly, x0, y0, w, h)
        if mask is not None and not cv2.hasNonZero(mask):
            return
        face = max(face, 1.0)
        levels = None  # per channel the range of `new`'s levels, where known cheaply
        if o.method == "blur":
            new, levels = _blur_in_range(roi, face * o.blur * _BLUR_SIGMA)
        elif o.method == "mosaic":
            block = max(2.0, face * o.mosaic)
            bw, bh = max(1, round(w / block)), max(1, round(h / block))
            small = cv2.resize(roi, (bw, bh), interpolation=cv2.INTER_AREA)
            if o.grain > 0 and face_box is not None:
                # One grain value per block: the mosaic stays a mosaic.
                scale = np.array([bw / w, bh / h, bw / w, bh / h])
                small = _grained(small, (face_box - [x0, y0, x0, y0]) * scale, 0, 0, o.grain)
            new = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        elif o.method == "solid":
            new = np.empty_like(roi)
            new[:] = np.asarray(o.color, np.uint8)
        else:  # image
            new, alpha = self._replacement(box, x0, y0, w, h)
            if alpha is not None:
                mask = alpha if mask is None else (alpha * (mask > 0)).astype(np.float32)
        if o.method == "blur" and o.grain > 0 and face_box is not None:
            new = _grained(new, face_box, x0, y0, o.grain, levels)
        if mask is None:
            roi[:] = new
        elif mask.dtype == np.uint8:
            # OpenCV's masked copy: several hundred times faster than np.copyto(where=) with a
            # broadcast (H, W, 1) mask (7 ms for a 384 px face).
            done = cv2.copyTo(new, mask, roi)
            if done is not roi and not np.shares_memory(done, roi):
                roi[:] = done
        else:  # fractional alpha
            a = mask[..., None]
            roi[:] = (new.astype(np.float32) * a + roi.astype(np.float32) * (1 - a) + 0.5).astype(np.uint8)

    def _mask(self, box: np.ndarray, poly: np.ndarray | None, x0: int, y0: int, w: int, h: int):
        """uint8 (h,w) mask (1 inside) of the shape inside the ROI, or None for "the whole ROI"."""
        shape = self.options.shape
        if shape == "box" and poly is None:
            return None
        mask = np.zeros((h, w), np.uint8)
        if poly is not None:
            pts = np.round((poly - [x0, y0]) * 16).astype(np.int32)  # 4 fractional bits
            cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
        else:
            # The ellipse inscribed in the box, rasterised with 4 fractional bits.
            cx, cy = (box[0] + box[2]) / 2 - x0 - 0.5, (box[1] + box[3]) / 2 - y0 - 0.5
            ax, ay = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
            # round(float(v)): round(v) of a numpy float32, without numpy's slower scalar rounding
            cv2.ellipse(mask, (round(float(cx * 16)), round(float(cy * 16))),
                        (max(1, round(float(ax * 16))), max(1, round(float(ay * 16)))), 0, 0, 360, 1, -1, cv2.LINE_8, 4)
        return mask

    def _replacement(self, box: np.ndarray, x0: int, y0: int, w: int, h: int):
        """The replacement image resized to the (unclipped) box, cut to the ROI; and its alpha (or None)."""
        rep = self.options.replacement
        assert rep is not None  # checked in RedactOptions
        bw, bh = max(1, round(box[2] - box[0])), max(1, round(box[3] - box[1]))
        big = cv2.resize(rep, (bw, bh), interpolation=cv2.INTER_AREA if bw < rep.shape[1] else cv2.INTER_LINEAR)
        ox, oy = x0 - round(box[0]), y0 - round(box[1])
        canvas = np.zeros((h, w, big.shape[2]), np.uint8)
        sx0, sy0 = max(0, ox), max(0, oy)
        sx1, sy1 = min(bw, ox + w), min(bh, oy + h)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox] = big[sy0:sy1, sx0:sx1]
        if canvas.shape[2] == 4:
            return np.ascontiguousarray(canvas[..., :3]), canvas[..., 3].astype(np.float32) / 255.0
        covered = np.zeros((h, w), bool)
        covered[max(0, sy0 - oy) : max(0, sy1 - oy), max(0, sx0 - ox) : max(0, sx1 - ox)] = True
        return canvas, covered.astype(np.float32)

    def _draw(self, out: np.ndarray, regions: Detections, boxes: np.ndarray) -> None:
        o = self.options
        H = out.shape[0]
        thick = max(1, round(H / 400))
        for box, score, src in zip(boxes, regions.scores, region_sources(regions)):
            colour = _SOURCE_COLOURS.get(int(src), (255, 255, 255))
            p0 = (int(round(box[0])), int(round(box[1])))
            p1 = (int(round(box[2])), int(round(box[3])))
            if o.draw_boxes:
                if o.shape == "ellipse":
                    centre = ((p0[0] + p1[0]) // 2, (p0[1] + p1[1]) // 2)
                    axes = (max(1, (p1[0] - p0[0]) // 2), max(1, (p1[1] - p0[1]) // 2))
                    cv2.ellipse(out, centre, axes, 0, 0, 360, colour, thick, cv2.LINE_AA)
                else:
                    cv2.rectangle(out, p0, p1, colour, thick, cv2.LINE_AA)
            if o.draw_scores:
                cv2.putText(out, f"{score:.2f}", (p0[0], max(10, p0[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4 * thick, colour, thick, cv2.LINE_AA)


def _not_covered(boxes: np.ndarray) -> np.ndarray:
    """Indices of boxes, largest first, skipping each one lying wholly inside one before it.

    A tracked face often has several regions in one frame (detected, held, backfilled);
    redacting the inner ones again changes nothing visible but costs time. "Inside" means
    inside the box inscribed in the outer region's ellipse (half sides / sqrt(2)), so the
    skipped region is covered whatever the shape. Comparing with every earlier box, skipped or
    not, skips the same ones as comparing with the kept ones only: a box inside a skipped box
    is inside the box that one lies in.
    """
    n = len(boxes)
    order = np.argsort(-((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])), kind="stable")
    if n < 2:
        return order
    b = boxes[order]
    c = (b[:, :2] + b[:, 2:]) / 2
    half = (b[:, 2:] - b[:, :2]) / 2 / np.sqrt(2)
    lo, hi = c - half, c + half  # the box inscribed in each ellipse
    inside = ((b[:, None, :2] >= lo[None]) & (b[:, None, 2:] <= hi[None])).all(-1)  # [i, j]: i inside j's
    earlier = np.tri(n, k=-1, dtype=bool)  # [i, j]: j comes before i
    return order[~(inside & earlier).any(1)]


def _blur(roi: np.ndarray, sigma: float) -> np.ndarray:
    """`roi` blurred about as much as a Gaussian of standard deviation `sigma` px (`_blur_in_range`)."""
    return _blur_in_range(roi, sigma)[0]


def _blur_in_range(roi: np.ndarray, sigma: float) -> tuple[np.ndarray, Levels | None]:
    """`roi` blurred about as much as a Gaussian of standard deviation `sigma` px, and per channel the
    lowest and highest level the blurred pixels can have (None when unknown).

    Three passes of a box filter (close to a Gaussian; cost independent of the width). Box
    filters on uint8 sum integers, so the result is bit-identical however OpenCV splits the
    work across threads; cv2.stackBlur is not (it differs by 1-2 levels between thread counts),
    which made outputs irreproducible. The range comes from the shrunken copy, which a linear
    enlargement cannot leave: it lets the grain skip its near-black/near-white check (`_grained`).
    """
    h, w = roi.shape[:2]
    m = math.sqrt(4 * sigma * sigma + 1)  # 3 boxes of width m: variance 3 (m^2 - 1) / 12 = sigma^2
    if m > _BOX_AT_SCALE and min(h, w) > 8:
        # A kernel this wide leaves no detail finer than it: blur a shrunken copy with a kernel
        # of the same relative size and enlarge it (several times cheaper on HD).
        f = _BOX_AT_SCALE / m
        small = _box3(_shrunk(roi, max(2, round(w * f)), max(2, round(h * f))), _BOX_AT_SCALE)
        flat = small.reshape(-1, small.shape[2] if small.ndim == 3 else 1)
        levels = (flat.min(0).tolist(), flat.max(0).tolist())
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), levels
    return _box3(roi, max(3, int(round(m)) | 1)), None


def _grained(img: np.ndarray, face_box: np.ndarray, x0: int, y0: int, amplitude: float,
             levels: Levels | None = None) -> np.ndarray:
    """`img` (the redacted ROI at x0, y0 of the frame, changed in place) with a fixed +-`amplitude`
    grain over the face.

    Full strength inside the ellipse inscribed in `face_box`, fading linearly to nothing at the
    ellipse through its corners; near black it only lightens and near white it only darkens, so
    every pixel of the face moves by the full amplitude in at least one channel, however dark or
    flat the face is. The pattern lies on the frame's own pixel grid, so a still face gets the same
    grain in every frame (cheap to encode, no flicker).
    levels: per channel the lowest and highest level in `img` (as `_blur_in_range` gives; None:
    unknown). Where they show that no pixel can be near black or near white, the check for
    those is skipped (the same result: on a 720p or 1080p face it cost more than the grain itself).
    """
    h, w = img.shape[:2]
    cx, cy = (face_box[0] + face_box[2]) / 2 - x0 - 0.5, (face_box[1] + face_box[3]) / 2 - y0 - 0.5
    ax, ay = max(1.0, (face_box[2] - face_box[0]) / 2), max(1.0, (face_box[3] - face_box[1]) / 2)
    reach = math.sqrt(2)
    r0, r1 = max(0, math.floor(cy - ay * reach)), min(h, math.ceil(cy + ay * reach) + 1)
    c0, c1 = max(0, math.floor(cx - ax * reach)), min(w, math.ceil(cx + ax * reach) + 1)
    if r1 - r0 < 1 or c1 - c0 < 1:
        return img
    # The fall-off, computed on a coarse grid and enlarged (it is smooth).
    gh, gw = min(r1 - r0, 24), min(c1 - c0, 24)
    ys = (r0 + (np.arange(gh, dtype=np.float32) + 0.5) * ((r1 - r0) / gh) - 0.5 - cy) / ay
    xs = (c0 + (np.arange(gw, dtype=np.float32) + 0.5) * ((c1 - c0) / gw) - 0.5 - cx) / ax
    r = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    full = 1.05  # a little past the inscribed ellipse: the coarse grid's interpolation stays outside it
    # (np.minimum/np.maximum: np.clip's values at a third of its call overhead, per face of a crowd)
    weight = np.minimum(np.maximum((reach - r) * (amplitude / (reach - full)), 0), amplitude)
    weight = weight.astype(np.float32, copy=False)
    weight = cv2.resize(weight, (c1 - c0, r1 - r0), interpolation=cv2.INTER_LINEAR)
    part = img[r0:r1, c0:c1]
    a = int(math.ceil(amplitude))
    if levels is not None and not _may_be_extreme(levels, a):
        _add_grain(part, *_grain_signs(r0 + y0, c0 + x0, r1 - r0, c1 - c0), weight)
        return img
    n = cv2.multiply(_grain_window(r0 + y0, c0 + x0, r1 - r0, c1 - c0), weight, dtype=cv2.CV_16S)
    _force_away_from_extremes(n, part, gw, gh, a)
    _into(part, cv2.add(part, cv2.merge([n] * part.shape[2]), dst=part, dtype=cv2.CV_8U))
    return img


def _add_grain(part: np.ndarray, lighten: np.ndarray, darken: np.ndarray, weight: np.ndarray) -> None:
    """`part` (uint8, changed in place) plus the grain `weight` rounded, where `lighten` (a `_grain_signs`
    mask), minus it where `darken`, saturated: what adding the int16 grain (the pattern times the
    weight) does, level for level, in uint8 arithmetic, which OpenCV runs several times faster than
    adding int16 to uint8 (0.08 instead of 0.2 ms for a 720p face)."""
    size = cv2.convertScaleAbs(weight)  # the weight (>= 0) rounded as cv2.multiply rounds the grain
    c = part.shape[2]
    up, down = cv2.bitwise_and(size, lighten), cv2.bitwise_and(size, darken)
    _into(part, cv2.add(part, cv2.merge([up] * c), dst=part))
    _into(part, cv2.subtract(part, cv2.merge([down] * c), dst=part))


def _into(view: np.ndarray, done: np.ndarray) -> None:
    """Make sure `view` holds `done`, the result of an OpenCV call given dst=view (OpenCV writes into
    a view of a frame when it can, else returns a new array)."""
    if done is not view and not np.shares_memory(done, view):
        view[:] = done


def _may_be_extreme(levels: Levels, a: int) -> bool:
    """Whether a pixel with channels in `levels` may be near black (every channel below a + 2) or near
    white (every channel above 253 - a), as `_force_away_from_extremes` decides: an area average of
    such pixels stays inside the range."""
    lo, hi = levels
    return all(v < a + 2 for v in lo) or all(v > 253 - a for v in hi)


def _force_away_from_extremes(n: np.ndarray, part: np.ndarray, gw: int, gh: int, a: int) -> None:
    """Turn the grain `n` (int16, changed in place) of `part` up where `part` is near black and down
    where it is near white."""
    # Near black the grain may only lighten, near white only darken: the brightest channel of a dark
    # pixel (or the darkest of a light one) then moves by the full amplitude. Decided on the coarse
    # grid too: the blurred face is smooth there.
    h, w = part.shape[:2]
    coarse = cv2.resize(part, (gw, gh), interpolation=cv2.INTER_AREA).reshape(gh, gw, -1).astype(np.int16)
    force = (coarse.max(2) < a + 2).astype(np.int16) - (coarse.min(2) > 253 - a)
    if force.any():
        force = cv2.resize(force, (w, h), interpolation=cv2.INTER_NEAREST)
        mag = np.abs(n)
        np.copyto(n, mag * force, where=force != 0)


def _grain_window(y: int, x: int, h: int, w: int) -> np.ndarray:
    """The grain of the h x w pixels at (x, y) of the frame's grid (the tile repeated over the frame): a
    read-only view, no copy."""
    T = _GRAIN_TILE.shape[0]
    oy, ox = y % T, x % T
    return _tiled("grain", _GRAIN_TILE, max(h, w))[oy : oy + h, ox : ox + w]


def _grain_signs(y: int, x: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the grain of `_grain_window` lightens and where it darkens (uint8 masks, 255 there):
    read-only views."""
    T = _GRAIN_TILE.shape[0]
    oy, ox = y % T, x % T
    signs = _tiled("signs", _GRAIN_SIGNS, max(h, w))[:, oy : oy + h, ox : ox + w]
    return signs[0], signs[1]


def _tiled(name: str, tile: np.ndarray, side: int) -> np.ndarray:
    """`tile` (its last two axes square, T x T) repeated k x k, with k such that every window of up
    to `side` px starting in the first tile lies inside it. The largest built so far is kept under
    `name` (a thread that grows it replaces it whole), so a video's faces tile once; a 1080p
    close-up's float grain needs about 13 MB."""
    T = tile.shape[-1]
    tiling = _TILINGS.get(name)
    if tiling is None or tiling.shape[-1] - T + 1 < side:
        k = max(2, -(-(side + T - 1) // T))
        tiling = np.tile(tile, (1,) * (tile.ndim - 2) + (k, k))
        tiling.flags.writeable = False
        _TILINGS[name] = tiling
    return tiling


def _shrunk(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """`img` area-averaged down to w x h, halving first while at least twice the target: OpenCV's
    exact-halving path is several times faster than a general area resize (a 384 px region to 9 px:
    0.4 ms instead of 2.9)."""
    while img.shape[1] >= 2 * w and img.shape[0] >= 2 * h and img.shape[1] >= 4 and img.shape[0] >= 4:
        # An odd last row or column is dropped: only exact halving takes the fast path.
        img = cv2.resize(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2], (img.shape[1] // 2, img.shape[0] // 2),
                         interpolation=cv2.INTER_AREA)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _box3(img: np.ndarray, k: int) -> np.ndarray:
    """Three box-filter passes of odd width `k` (odd: centred, no half-pixel shift)."""
    for _ in range(3):
        img = cv2.blur(img, (k, k), borderType=cv2.BORDER_REPLICATE)
    return img


def _scaled_hull(points: np.ndarray, scale: float) -> np.ndarray:
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)
    c = hull.mean(0)
    return (hull - c) * scale + c
