"""ROI crop/rotate/letterbox into a model input tensor (MediaPipe's ImageToTensor, OpenCV path).

The warp runs on the uint8 image with MediaPipe's geometry (boxPoints ->
getPerspectiveTransform) and OpenCV 4.x's warpPerspective sampling (see
`warp_perspective_mp`), so crops match to the pixel whatever the installed
OpenCV; the tensor is then scaled to the model's value range.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from facepipe.stages.libm32 import cosf, sinf

__all__ = [
    "TensorCrop", "CropGeometry", "BORDER_ZERO", "BORDER_REPLICATE", "crop_to_tensor", "crops_to_tensor",
    "crop_geometry", "warp_to_tensor", "FullImageCropper", "full_image_roi", "warp_perspective_mp",
]

BORDER_ZERO = cv2.BORDER_CONSTANT
BORDER_REPLICATE = cv2.BORDER_REPLICATE


@dataclass(frozen=True)
class TensorCrop:
    """One ROI as a model input.

    tensor: (H_t, W_t, 3) float32 in the requested range.
    roi: (5,) the ROI actually sampled (after keep-aspect padding), normalized
         x_center, y_center, width, height, rotation.
    padding: (4,) letterbox fractions of the tensor: left, top, right, bottom.
    matrix: (4,4) maps (u, v) in [0,1]^2 of the padded ROI to image-normalized
            coordinates (MediaPipe's MATRIX output).
    """

    tensor: np.ndarray
    roi: np.ndarray
    padding: np.ndarray
    matrix: np.ndarray


@dataclass(frozen=True)
class CropGeometry:
    """Where one ROI lands in a tensor, without the pixels (see `crop_geometry`).

    warp: (3,3) float64 perspective matrix, image pixels -> tensor pixels.
    roi, padding, matrix: as in TensorCrop.
    """

    warp: np.ndarray
    roi: np.ndarray
    padding: np.ndarray
    matrix: np.ndarray


def full_image_roi() -> np.ndarray:
    return np.array([0.5, 0.5, 1.0, 1.0, 0.0], np.float32)


def _padded_roi_px(roi: np.ndarray, W: int, H: int, out_w: int, out_h: int, keep_aspect: bool):
    # float32 throughout, as MediaPipe's GetRoi/PadRoi: the last bits reach the crop via boxPoints.
    f32 = np.float32
    r = np.asarray(roi, np.float32)
    cx, cy, w, h, theta = r[0] * f32(W), r[1] * f32(H), r[2] * f32(W), r[3] * f32(H), r[4]
    pad = np.zeros(4, np.float32)
    if keep_aspect:
        if not (w > 0 and h > 0):
            raise ValueError(f"ROI must have a positive size for keep_aspect_ratio, got {w}x{h} px")
        a_t, a_r = f32(out_h) / f32(out_w), h / w
        if a_t > a_r:
            h = w * a_t
            pad[1] = pad[3] = (f32(1.0) - a_r / a_t) / f32(2.0)
        else:
            w = h / a_t
            pad[0] = pad[2] = (f32(1.0) - a_t / a_r) / f32(2.0)
    return float(cx), float(cy), float(w), float(h), float(theta), pad


def _roi_matrix(cx: float, cy: float, w: float, h: float, theta: float, W: int, H: int) -> np.ndarray:
    # MediaPipe's GetRotatedSubRectToRectTransformMatrix, float32 as there (cosf/sinf, times 1/W):
    # detections and landmarks projected with it then match MediaPipe's bit for bit.
    f = np.float32
    a, b, e, fy, half = f(w), f(h), f(cx), f(cy), f(0.5)
    c, d = cosf(f(theta))[()], sinf(f(theta))[()]
    g, k = f(1) / f(W), f(1) / f(H)
    m = np.zeros((4, 4), np.float32)
    m[0, 0], m[0, 1], m[0, 3] = a * c * g, -b * d * g, (-half * a * c + half * b * d + e) * g
    m[1, 0], m[1, 1], m[1, 3] = a * d * k, b * c * k, (-half * b * c - half * a * d + fy) * k
    m[2, 2] = a * g
    m[3, 3] = 1.0
    return m


def _box_points(cx: float, cy: float, w: float, h: float, angle_deg: float) -> np.ndarray:
    """cv::RotatedRect::points as OpenCV <= 4.11 (and MediaPipe) compute it, in float32.

    Newer OpenCV (checked: 4.14) gives different last bits in ~70% of cases, which
    changes a few crop pixels by up to 4 levels.
    """
    f32 = np.float32
    cx, cy, w, h = f32(cx), f32(cy), f32(w), f32(h)
    rad = float(f32(angle_deg)) * np.pi / 180.0
    b = f32(np.cos(rad)) * f32(0.5)
    a = f32(np.sin(rad)) * f32(0.5)
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    two = f32(2.0)
    return np.array([p0, p1, (two * cx - p0[0], two * cy - p0[1]), (two * cx - p1[0], two * cy - p1[1])],
                    np.float32)


def _warp_matrix(cx: float, cy: float, w: float, h: float, theta: float, out_w: int, out_h: int) -> np.ndarray:
    # MediaPipe: angle = rotation * 180.f / M_PI (float, then double division, stored as float).
    angle = float(np.float32(float(np.float32(theta) * np.float32(180.0)) / np.pi))
    src = _box_points(cx, cy, w, h, angle)
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], np.float32)
    return cv2.getPerspectiveTransform(src, dst)


# OpenCV 4.x's own warpPerspective is exactly MediaPipe's sampling and ~5x faster
# than the emulation below (0.43 vs 2.4 ms for a 256² crop); measured identical on
# 60 random rotated ROIs with opencv-python-headless 4.11 and 4.14. The emulation
# only runs on OpenCV 5, whose rewritten warp rounds differently.
_NATIVE_WARP_MATCHES = int(cv2.__version__.split(".")[0]) < 5

_INTER_BITS = 5
_INTER_TAB_SIZE = 1 << _INTER_BITS
_BLOCK_SZ = 32


def _invert3x3_like_opencv(pm: np.ndarray) -> list[float]:
    """cv::invert of a 3x3 (DECOMP_LU takes the cofactor formula): same float64 ops, same order.

    The exact last bits matter: they decide which way ties round in the fixed-point maps.
    """
    S = [[float(v) for v in row] for row in np.asarray(pm, np.float64)]
    det = (S[0][0] * (S[1][1] * S[2][2] - S[1][2] * S[2][1])
           - S[0][1] * (S[1][0] * S[2][2] - S[1][2] * S[2][0])
           + S[0][2] * (S[1][0] * S[2][1] - S[1][1] * S[2][0]))
    d = 1.0 / det
    return [
        (S[1][1] * S[2][2] - S[1][2] * S[2][1]) * d, (S[0][2] * S[2][1] - S[0][1] * S[2][2]) * d,
        (S[0][1] * S[1][2] - S[0][2] * S[1][1]) * d, (S[1][2] * S[2][0] - S[1][0] * S[2][2]) * d,
        (S[0][0] * S[2][2] - S[0][2] * S[2][0]) * d, (S[0][2] * S[1][0] - S[0][0] * S[1][2]) * d,
        (S[1][0] * S[2][1] - S[1][1] * S[2][0]) * d, (S[0][1] * S[2][0] - S[0][0] * S[2][1]) * d,
        (S[0][0] * S[1][1] - S[0][1] * S[1][0]) * d,
    ]


def _fixed_point_maps(pm: np.ndarray, out_w: int, out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """The sampling maps OpenCV 4.x's warpPerspective builds for `pm` (src -> dst).

    Reproduces its arithmetic: inverse matrix by cofactors, per-row origin taken at
    the start of each 64-pixel-wide block, source position rounded to 1/32 px
    (half to even), split into an integer pixel (map1, int16 x/y) and an index into
    the bilinear weight table (map2).
    """
    M = _invert3x3_like_opencv(pm)
    bh0 = min(_BLOCK_SZ // 2, out_h)
    bw0 = min(_BLOCK_SZ * _BLOCK_SZ // bh0, out_w)
    cols = np.arange(out_w)
    block_x = (cols // bw0 * bw0).astype(np.float64)
    x1 = (cols % bw0).astype(np.float64)
    rows = np.arange(out_h, dtype=np.float64)
    affine = M[6] == 0.0 and M[7] == 0.0 and M[8] == 1.0
    if not affine:
        W = (M[6] * block_x)[None, :] + (M[7] * rows)[:, None]
        W += M[8]
        W += M[6] * x1
        nz = W != 0
        W = np.where(nz, _INTER_TAB_SIZE / np.where(nz, W, 1.0), 0.0)
    fixed = []
    for a, b, c in ((M[0], M[1], M[2]), (M[3], M[4], M[5])):
        # ((a*x + b*y) + c + a*x1) * W, in OpenCV's order (float64 addition is commutative, not associative).
        v = (b * rows)[:, None] + (a * block_x)[None, :]
        v += c
        v += a * x1
        v *= _INTER_TAB_SIZE if affine else W
        np.rint(v, out=v)
        np.clip(v, np.iinfo(np.int32).min, np.iinfo(np.int32).max, out=v)
        fixed.append(v.astype(np.int32))
    Xi, Yi = fixed
    map1 = np.empty((out_h, out_w, 2), np.int16)
    for k, v in enumerate(fixed):
        map1[..., k] = np.clip(v >> _INTER_BITS, -32768, 32767)
    map2 = ((Yi & (_INTER_TAB_SIZE - 1)) << _INTER_BITS) | (Xi & (_INTER_TAB_SIZE - 1))
    return map1, map2.astype(np.uint16)


# OpenCV 5 rewrote warpPerspective; up to 4.x (checked: 4.11, 4.14) it is MediaPipe's own.
_IDENTITY = np.eye(3)
_NATIVE_WARP_MATCHES_MP = int(cv2.__version__.split(".")[0]) < 5


def warp_perspective_mp(image: np.ndarray, pm: np.ndarray, out_w: int, out_h: int, border: int) -> np.ndarray:
    """cv2.warpPerspective(INTER_LINEAR) with MediaPipe's (OpenCV 4.x) sampling on any OpenCV.

    OpenCV 5's warpPerspective gives uint8 results up to 4 levels away from 4.x,
    enough to move palm detections by ~0.5 px. There, remapping with 4.x's own
    fixed-point maps reproduces MediaPipe's crops (measured: identical to OpenCV
    4.11's warpPerspective on 90 random rotated/letterboxed ROIs of 3 images; palm
    detections then equal MediaPipe's to 1e-7). On OpenCV 4.x the native call is
    used (it is the same and faster).
    """
    if _NATIVE_WARP_MATCHES_MP:
        return cv2.warpPerspective(image, pm, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=border,
                                   borderValue=0)
    map1, map2 = _fixed_point_maps(pm, out_w, out_h)
    return cv2.remap(image, map1, map2, cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def crop_geometry(
    image_size: tuple[int, int], roi: np.ndarray, out_w: int, out_h: int, *, keep_aspect: bool = False
) -> CropGeometry:
    """The geometry `crop_to_tensor` uses for `roi` of a (W, H) image, without warping anything.

    Lets a caller validate every ROI first and then warp straight into a model's
    input buffer (`warp_to_tensor`), with numbers identical to `crop_to_tensor`.
    """
    W, H = image_size
    cx, cy, w, h, theta, pad = _padded_roi_px(np.asarray(roi), W, H, out_w, out_h, keep_aspect)
    pm = _warp_matrix(cx, cy, w, h, theta, out_w, out_h)
    padded = np.array([cx / W, cy / H, w / W, h / H, theta], np.float32)
    return CropGeometry(pm, padded, pad, _roi_matrix(cx, cy, w, h, theta, W, H))


@functools.lru_cache(maxsize=8)
def _range_lut(lo: float, hi: float) -> np.ndarray:
    """(256,1) float32: round(v * scale + lo) once, scale = (hi - lo) / 255 in float32 (MediaPipe's)."""
    scale = np.float32(np.float32(hi) - np.float32(lo)) / np.float32(255.0)
    lut = (np.arange(256, dtype=np.float64) * np.float64(scale) + np.float64(np.float32(lo))).astype(np.float32)
    lut.setflags(write=False)
    return lut.reshape(256, 1)


def warp_to_tensor(
    image: np.ndarray,
    warp: np.ndarray,
    out: np.ndarray,
    *,
    border: int = BORDER_REPLICATE,
    value_range: tuple[float, float] = (0.0, 1.0),
    maps: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Warp `image` with a `CropGeometry.warp` into the float32 (h, w, 3) array `out`, scaled to `value_range`.

    maps: the warp's fixed-point sampling maps (`_fixed_point_maps`), when the
    caller caches them; remapping with them is what warpPerspective does inside,
    minus building the maps (measured bit-identical, ~2x faster).
    """
    out_h, out_w = out.shape[:2]
    if maps is not None:
        warped = cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    else:
        warped = warp_perspective_mp(image, warp, out_w, out_h, border)
    _write_range(warped, out, value_range)


def _write_range(warped: np.ndarray, out: np.ndarray, value_range: tuple[float, float]) -> None:
    """uint8 pixels -> `out`, scaled to `value_range` as MediaPipe's convertTo does."""
    lo, hi = value_range
    if lo:
        # MediaPipe's convertTo(scale, offset) runs as one fused multiply-add per value (OpenCV's
        # SIMD path): a single float32 rounding of v * scale + lo, which a 256-entry table gives
        # exactly (multiply-then-add rounds twice; the [-1, 1] detectors' outputs then differ).
        res = cv2.LUT(warped, _range_lut(lo, hi), dst=out)
        if res is not out:  # OpenCV wrote elsewhere (e.g. `out` not contiguous)
            out[...] = res
    else:
        # out = v * (hi - lo) / 255, computed in float32 as MediaPipe does.
        np.multiply(warped, np.float32((hi - lo) / 255.0), out=out, casting="unsafe")


def crop_to_tensor(
    image: np.ndarray,
    roi: np.ndarray,
    out_w: int,
    out_h: int,
    *,
    keep_aspect: bool = False,
    border: int = BORDER_REPLICATE,
    value_range: tuple[float, float] = (0.0, 1.0),
    out: np.ndarray | None = None,
) -> TensorCrop:
    """Crop `roi` (normalized x_c, y_c, w, h, rotation) of an RGB uint8 image into a tensor.

    `out`, if given, is a float32 (out_h, out_w, 3) buffer the tensor is written into
    (lets batch callers fill one preallocated array without copies).
    """
    H, W = image.shape[:2]
    geo = crop_geometry((W, H), roi, out_w, out_h, keep_aspect=keep_aspect)
    if out is None:
        out = np.empty((out_h, out_w, 3), np.float32)
    warp_to_tensor(image, geo.warp, out, border=border, value_range=value_range)
    return TensorCrop(out, geo.roi, geo.padding, geo.matrix)


def crops_to_tensor(
    image: np.ndarray,
    rois: np.ndarray,
    out_w: int,
    out_h: int,
    **kwargs,
) -> tuple[np.ndarray, list[TensorCrop]]:
    """Crop many ROIs of one image into a (N, out_h, out_w, 3) batch tensor."""
    rois = np.asarray(rois, np.float32).reshape(-1, 5)
    batch = np.empty((len(rois), out_h, out_w, 3), np.float32)
    crops = [crop_to_tensor(image, r, out_w, out_h, out=batch[i], **kwargs) for i, r in enumerate(rois)]
    return batch, crops


class _SizeEntry:
    __slots__ = ("geometry", "maps", "uses")

    def __init__(self, geometry: CropGeometry) -> None:
        self.geometry = geometry
        self.maps: tuple[np.ndarray, np.ndarray] | None = None
        self.uses = 0


class FullImageCropper:
    """Whole-image crops (detectors, segmentation) with the warp cached per image size.

    A whole-image ROI's geometry depends only on the image size, so for sizes
    that recur (video frames, same-size photos) the geometry and warpPerspective's
    sampling maps are kept and the warp becomes a plain remap (bit-identical,
    ~2x faster: 0.03 vs 0.07 ms at 128x128, 0.12 vs 0.27 ms at 256x256). Maps
    are built on a size's second image: building them in numpy costs more than
    one native warp, so a one-off size never pays for them. Thread-safe; keeps
    the `cache_size` most recent sizes (8: room for the anonymizer's whole-frame,
    zoomed-out and tile views; at most ~1.8 MB of maps at 192x192). Cached arrays
    are read-only.
    """

    def __init__(
        self,
        out_w: int,
        out_h: int,
        *,
        keep_aspect: bool,
        border: int,
        value_range: tuple[float, float],
        cache_size: int = 8,
    ) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.out_w, self.out_h = out_w, out_h
        self.keep_aspect, self.border, self.value_range = keep_aspect, border, value_range
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[int, int], _SizeEntry] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, image_size: tuple[int, int]) -> _SizeEntry:
        key = (int(image_size[0]), int(image_size[1]))
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
                return entry
        geo = crop_geometry(key, full_image_roi(), self.out_w, self.out_h, keep_aspect=self.keep_aspect)
        for a in (geo.warp, geo.roi, geo.padding, geo.matrix):
            a.flags.writeable = False
        entry = _SizeEntry(geo)
        with self._lock:
            entry = self._cache.setdefault(key, entry)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return entry

    def geometry(self, image_size: tuple[int, int]) -> CropGeometry:
        """The whole-image crop geometry of a (W, H) image (cached)."""
        return self._entry(image_size).geometry

    def warp_into(self, image: np.ndarray, out: np.ndarray) -> None:
        """Write the whole-image crop of `image` into the float32 (out_h, out_w, 3) array `out`."""
        entry = self._entry((image.shape[1], image.shape[0]))
        entry.uses += 1
        if image.shape[1] == self.out_w and image.shape[0] == self.out_h and np.array_equal(entry.geometry.warp,
                                                                                          _IDENTITY):
            # An image of the tensor's size (a detector's tile or zoomed-out view): the warp samples
            # every pixel where it is (integer positions: bilinear weights 1 and 0), so it is a copy.
            _write_range(image, out, self.value_range)
            return
        maps = entry.maps
        # OpenCV 5 builds the maps on every warp anyway (warp_perspective_mp): keep them at once.
        if maps is None and (entry.uses > 1 or not _NATIVE_WARP_MATCHES_MP):
            maps = _fixed_point_maps(entry.geometry.warp, self.out_w, self.out_h)
            for m in maps:
                m.flags.writeable = False
            entry.maps = maps
        warp_to_tensor(image, entry.geometry.warp, out, border=self.border, value_range=self.value_range, maps=maps)
