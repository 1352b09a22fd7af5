"""The drawing machinery under drawing.py's public functions: colours and visibility, pixel
conversion (MediaPipe's integer pixels or anti-aliased sub-pixels), grouped cv2 primitives, and
the per-instance drawing of connections and dots in both modes (see drawing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import cv2
import numpy as np

from facepipe.draw import styles as st
from facepipe.draw.styles import ConnectionStyle, DrawingSpec, LandmarkStyle

__all__ = ["ColorOrder", "auto_thickness_scale", "split_landmarks"]

ColorOrder = Literal["rgb", "bgr"]

# (connections, landmark dots) drawn one after the other for each instance.
_Layers = Sequence[tuple[ConnectionStyle | None, LandmarkStyle | None]]

_SHIFT = 4  # sub-pixel bits for anti-aliased drawing
_ONE = 1 << _SHIFT
_THRESHOLD = 0.5  # MediaPipe's _VISIBILITY_THRESHOLD and _PRESENCE_THRESHOLD
_REFERENCE_SIDE = 480.0  # image side (short edge) at which MediaPipe's thicknesses are used as is
# Instance extents (px) at which MediaPipe's widths look right: a face ~350 px tall, a hand ~200 px.
_FACE_REFERENCE_PX = 350.0
_HAND_REFERENCE_PX = 200.0


# --- input handling ---------------------------------------------------------------------------------

def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {got}")
    if not image.flags.c_contiguous or not image.flags.writeable:
        raise ValueError("image must be C-contiguous and writeable (draw on np.ascontiguousarray(image))")
    return image


def _color(color: Sequence[int] | np.ndarray, order: ColorOrder) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in color)
    if order == "rgb":
        return (r, g, b)
    if order == "bgr":
        return (b, g, r)
    raise ValueError(f"color_order must be 'rgb' or 'bgr', got {order!r}")


def split_landmarks(landmarks: Any, visibility: Any = None, presence: Any = None
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Normalise landmark input to (N,P,3) float64 plus optional (N,P) visibility and presence.

    Accepts a Landmarks result, or an array (P,C) / (N,P,C) with C = 2, 3, 4 or 5:
    columns x, y, [z, [visibility, [presence]]]. Explicit `visibility` /
    `presence` arrays ((P,) or (N,P)) win over the extra columns.
    """
    arr = getattr(landmarks, "landmarks", landmarks)  # a Landmarks result, or any object holding them
    arr = np.asarray(arr, dtype=np.float64)  # MediaPipe's pixel rounding is done in double precision
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or not 2 <= arr.shape[2] <= 5:
        raise ValueError(f"landmarks must be (P,C) or (N,P,C) with C in 2..5, got shape {arr.shape}")
    n, p = arr.shape[:2]

    def column(explicit: Any, col: int, name: str) -> np.ndarray | None:
        if explicit is not None:
            v = np.asarray(explicit, np.float64)
            if v.size != n * p:
                raise ValueError(f"{name} must have one value per landmark ({n}x{p}), got shape {v.shape}")
            return v.reshape(n, p)
        return arr[:, :, col] if arr.shape[2] > col else None

    vis = column(visibility, 3, "visibility")
    pres = column(presence, 4, "presence")
    xyz = arr[:, :, :3] if arr.shape[2] >= 3 else np.concatenate([arr, np.zeros((n, p, 1))], axis=2)
    return xyz, vis, pres


def _visible(vis: np.ndarray | None, pres: np.ndarray | None, threshold: float) -> np.ndarray | None:
    ok = None
    for v in (vis, pres):
        if v is not None:
            # NaN < thr is False, but a NaN score is no evidence of visibility either.
            m = ~(v < threshold) & np.isfinite(v)
            ok = m if ok is None else ok & m
    return ok


def auto_thickness_scale(image_shape: Sequence[int]) -> float:
    """Line-width factor for an image: 1 up to a 480-pixel short side, growing linearly above."""
    h, w = image_shape[:2]
    return max(1.0, min(h, w) / _REFERENCE_SIDE)


def _scaled(t: np.ndarray | int, scale: float) -> np.ndarray:
    return np.maximum(1, np.rint(np.asarray(t, np.float64) * scale)).astype(np.int32)


# --- pixel conversion -------------------------------------------------------------------------------

def _mp_pixels(xy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's _normalized_to_pixel_coordinates, vectorised: (P,2) int pixels and (P,) valid."""
    x, y = xy[..., 0], xy[..., 1]
    # math.isclose(0, v) is only true for v == 0 and isclose(1, v) admits at most
    # 1 + 1e-9, which a float32 landmark cannot hold; so the test is 0 <= v <= 1.
    valid = (x >= 0) & (x <= 1 + 1e-9) & (y >= 0) & (y <= 1 + 1e-9)
    with np.errstate(invalid="ignore"):
        px = np.minimum(np.floor(np.where(valid, x, 0) * width), width - 1)
        py = np.minimum(np.floor(np.where(valid, y, 0) * height), height - 1)
    return np.stack([px, py], -1).astype(np.int32), valid


def _inside(px: np.ndarray, width: int, height: int) -> np.ndarray:
    """(P,) bool: pixel points MediaPipe would accept (normalized value within [0, 1])."""
    return (px[:, 0] >= 0) & (px[:, 0] <= width) & (px[:, 1] >= 0) & (px[:, 1] <= height)


def _subpixels(xy_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Continuous pixel coordinates (pixel i spans [i, i+1)) as cv2 fixed point with _SHIFT bits."""
    # cv2 puts integer coordinate i at the centre of pixel i, hence the -0.5. Clipping far-away
    # points keeps the fixed-point values inside int32 while the visible part of a line is unchanged
    # for any sane input.
    lim = 8.0 * max(width, height)
    p = np.clip(xy_px - 0.5, -lim, lim)
    return np.rint(p * _ONE).astype(np.int32)


# --- primitives -------------------------------------------------------------------------------------

def _runs(keys: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) ranges of consecutive equal rows of `keys`."""
    if len(keys) == 0:
        return []
    change = np.any(keys[1:] != keys[:-1], axis=1)
    bounds = np.concatenate([[0], np.flatnonzero(change) + 1, [len(keys)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _groups(keys: np.ndarray) -> list[np.ndarray]:
    """Row indices of each distinct key, groups in order of first appearance."""
    if len(keys) == 0:
        return []
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == g) for g in np.argsort(first)]


def _style_keys(colors: np.ndarray, thickness: np.ndarray) -> np.ndarray:
    return np.concatenate([colors.astype(np.int32), thickness.reshape(-1, 1).astype(np.int32)], axis=1)


def _polylines(image: np.ndarray, segments: np.ndarray, color: tuple[int, int, int], thickness: int,
               antialiased: bool) -> None:
    if len(segments) == 0:
        return
    if antialiased:
        cv2.polylines(image, segments, False, color, int(thickness), cv2.LINE_AA, _SHIFT)
    else:
        cv2.polylines(image, segments, False, color, int(thickness), cv2.LINE_8)


def _dots(image: np.ndarray, centers_fixed: np.ndarray, radius: float, color: tuple[int, int, int]) -> None:
    """Filled anti-aliased discs, all in one call: a zero-length thick line is drawn as its round caps."""
    if len(centers_fixed) == 0:
        return
    thickness = max(1, int(round(2 * radius)))
    segments = np.repeat(centers_fixed[:, None, :], 2, axis=1)
    cv2.polylines(image, segments, False, color, thickness, cv2.LINE_AA, _SHIFT)


def _as_connection_style(connections: Any, spec: DrawingSpec | None) -> ConnectionStyle | None:
    if connections is None or spec is None and not isinstance(connections, ConnectionStyle):
        return None
    if isinstance(connections, ConnectionStyle):
        return connections
    return ConnectionStyle.uniform(connections, spec)


def _as_landmark_style(spec: DrawingSpec | LandmarkStyle | None, num_points: int) -> LandmarkStyle | None:
    if spec is None:
        return None
    if isinstance(spec, LandmarkStyle):
        if len(spec) != num_points:
            raise ValueError(f"landmark style has {len(spec)} entries for {num_points} landmarks")
        return spec
    return LandmarkStyle.uniform(num_points, spec)


def _check_edges(edges: np.ndarray, num_points: int) -> None:
    if len(edges) and (edges.min() < 0 or edges.max() >= num_points):
        bad = edges[(edges < 0).any(1) | (edges >= num_points).any(1)][0].tolist()
        raise ValueError(f"connection {bad[0]}->{bad[1]} is out of range for {num_points} landmarks")


def _draw_compatible(image: np.ndarray, xyz: np.ndarray, ok: np.ndarray | None,
                     layers: _Layers, order: ColorOrder) -> None:
    """MediaPipe's calls in MediaPipe's order: per instance, per layer, edges then dots."""
    h, w = image.shape[:2]
    white = _color(st.WHITE, order)
    for i in range(len(xyz)):
        pix, drawable = _mp_pixels(xyz[i, :, :2], w, h)
        if ok is not None:
            drawable &= ok[i]
        for cstyle, lstyle in layers:
            if cstyle is not None and len(cstyle):
                edges = cstyle.edges
                keep = drawable[edges[:, 0]] & drawable[edges[:, 1]]
                segs = pix[edges[keep]]  # (E', 2, 2)
                colors, thick = cstyle.colors[keep], cstyle.thickness[keep]
                # Non-AA polylines put exactly cv2.line's pixels, curve after curve, so a run of
                # consecutive same-style edges is one call and later edges still overwrite earlier ones.
                for a, b in _runs(_style_keys(colors, thick)):
                    _polylines(image, segs[a:b], _color(colors[a], order), int(thick[a]), False)
            if lstyle is not None:
                for j in np.flatnonzero(drawable).tolist():
                    r, t = int(lstyle.radius[j]), int(lstyle.thickness[j])
                    center = (int(pix[j, 0]), int(pix[j, 1]))
                    cv2.circle(image, center, max(r + 1, int(r * 1.2)), white, t)
                    cv2.circle(image, center, r, _color(lstyle.colors[j], order), t)


def _instance_scales(image_shape: Sequence[int], xyz: np.ndarray, drawable: np.ndarray,
                     thickness_scale: float | None, reference_px: float | None) -> np.ndarray:
    """(N,) width factor per instance: the image's, or smaller for instances small next to `reference_px`."""
    n = len(xyz)
    if thickness_scale is not None:
        return np.full(n, float(thickness_scale))
    image_scale = auto_thickness_scale(image_shape)
    if reference_px is None or n == 0:
        return np.full(n, image_scale)
    # A 130-px face in a 1080p photo would drown under image-scaled tessellation lines.
    h, w = image_shape[:2]
    px = xyz[:, :, :2] * (w, h)
    m = drawable[:, :, None]
    hi = np.where(m, px, -np.inf).max(axis=1, initial=-np.inf)
    lo = np.where(m, px, np.inf).min(axis=1, initial=np.inf)
    extent = np.where(np.isfinite(hi - lo), hi - lo, 0.0).max(axis=1)  # no drawable point: extent 0
    return np.clip(extent / reference_px, 0.5, image_scale)


def _draw_default(image: np.ndarray, xyz: np.ndarray, ok: np.ndarray | None, layers: _Layers,
                  order: ColorOrder, thickness_scale: float | None, reference_px: float | None) -> None:
    """Layer by layer over all instances at once: one polylines call per (colour, thickness)."""
    h, w = image.shape[:2]
    n, p = xyz.shape[:2]
    drawable = np.isfinite(xyz[:, :, :2]).all(axis=2)
    if ok is not None:
        drawable &= ok
    scales = _instance_scales(image.shape, xyz, drawable, thickness_scale, reference_px)
    pix = _subpixels(xyz[:, :, :2] * (w, h), w, h)  # (N, P, 2) fixed point
    for cstyle, lstyle in layers:
        if cstyle is not None and len(cstyle):
            edges = cstyle.edges
            keep = drawable[:, edges[:, 0]] & drawable[:, edges[:, 1]]  # (N, E)
            segs = pix[:, edges][keep]  # (K, 2, 2) for all instances together
            edge_id = np.broadcast_to(np.arange(len(edges)), keep.shape)[keep]
            inst_id = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
            colors = cstyle.colors[edge_id]
            thick = _scaled(cstyle.thickness[edge_id] * scales[inst_id], 1.0)
            for idx in _groups(_style_keys(colors, thick)):
                _polylines(image, segs[idx], _color(colors[idx[0]], order), int(thick[idx[0]]), True)
        if lstyle is not None:
            point_id = np.broadcast_to(np.arange(p), (n, p))[drawable]
            inst_id = np.broadcast_to(np.arange(n)[:, None], (n, p))[drawable]
            _styled_dots(image, pix[drawable], lstyle.colors[point_id], lstyle.radius[point_id],
                         lstyle.thickness[point_id], order, scales[inst_id])


def _draw_instances(image: np.ndarray, xyz: np.ndarray, ok: np.ndarray | None,
                    layers: _Layers, order: ColorOrder,
                    compatible: bool, thickness_scale: float | None, reference_px: float | None = None) -> None:
    _check_image(image)
    _color((0, 0, 0), order)  # reject a bad color_order before drawing anything
    for cstyle, _ in layers:
        if cstyle is not None:
            _check_edges(cstyle.edges, xyz.shape[1])
    if compatible:
        _draw_compatible(image, xyz, ok, layers, order)
    else:
        _draw_default(image, xyz, ok, layers, order, thickness_scale, reference_px)


def _styled_dots(image: np.ndarray, centers: np.ndarray, colors: np.ndarray, radius: np.ndarray,
                 thickness: np.ndarray, order: ColorOrder, scale: float | np.ndarray) -> None:
    """MediaPipe-looking dots (white rim, coloured centre), all rims first, then the centres."""
    if len(centers) == 0:
        return
    # A ring of radius r and thickness t covers out to r + t/2; filled (t < 0) covers r.
    half = np.where(thickness > 0, thickness / 2.0, 0.0)
    outer = (radius + half) * scale
    rim = (np.maximum(radius + 1, np.floor(radius * 1.2)) + half) * scale
    rim_keys = np.rint(rim * 2).astype(np.int32).reshape(-1, 1)
    for g in _groups(rim_keys):
        _dots(image, centers[g], float(rim[g[0]]), _color(st.WHITE, order))
    keys = np.concatenate([colors.astype(np.int32), np.rint(outer * 2).astype(np.int32).reshape(-1, 1)], 1)
    for g in _groups(keys):
        _dots(image, centers[g], float(outer[g[0]]), _color(colors[g[0]], order))
