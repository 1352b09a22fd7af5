"""Temporal filters (MediaPipe's LowPass, OneEuro, landmark/visibility/segmentation smoothing).

Each filter is vectorized over an array of values (e.g. all 478x3 landmark
coordinates at once) and keeps its own state; one instance per tracked object.
Timestamps are real times in seconds (not a fixed 30 fps clock).

Precision follows MediaPipe's C++ exactly: the One-Euro filter works in double
on integer-nanosecond timestamps, while its two low-pass filters store float32
(values, alphas and derivatives are rounded to float32 where the C++ passes
them as float). Pose tracking feeds the filtered landmarks into the next
frame's ROI, so the last bits matter.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = [
    "LowPassFilter",
    "OneEuroFilter",
    "LandmarksSmoother",
    "VisibilitySmoother",
    "roi_object_scale",
    "smooth_segmentation",
]


class LowPassFilter:
    """out = alpha * v + (1 - alpha) * prev_out; the first value passes through.

    float32 state, as MediaPipe's: alpha * v in float32, (1 - alpha) * prev in double,
    the sum rounded to float32.
    """

    def __init__(self) -> None:
        self.last_raw: np.ndarray | None = None
        self.last_out: np.ndarray | None = None

    def reset(self) -> None:
        self.last_raw = self.last_out = None

    def __call__(self, value: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
        v = np.asarray(value, np.float32)
        if self.last_out is None or self.last_out.shape != v.shape:
            out = v.copy()
        else:
            a = np.asarray(alpha, np.float32)
            # Every operand explicitly float64: numpy 1 would keep a 0-d alpha times a float32
            # array in float32 (value-based casting), numpy 2 goes to float64 as the C++ does.
            keep = (1.0 - a.astype(np.float64)) * self.last_out.astype(np.float64)
            out = ((a * v).astype(np.float64) + keep).astype(np.float32)
        self.last_raw, self.last_out = v.copy(), out
        return out


def _alpha(cutoff: np.ndarray | float, freq: float) -> np.ndarray:
    """1 / (1 + tau / te) in double, rounded to float32 (LowPassFilter takes a float alpha)."""
    te = 1.0 / freq
    tau = 1.0 / (2 * np.pi * np.asarray(cutoff, np.float64))
    return (1.0 / (1.0 + tau / te)).astype(np.float32)


class OneEuroFilter:
    """One-Euro filter with MediaPipe's conventions (raw derivative, frequency from timestamps)."""

    def __init__(
        self, min_cutoff: float = 1.0, beta: float = 0.0, derivate_cutoff: float = 1.0, frequency: float = 30.0
    ) -> None:
        if min_cutoff <= 0 or derivate_cutoff <= 0 or frequency <= 0:
            raise ValueError("OneEuroFilter: min_cutoff, derivate_cutoff and frequency must be > 0")
        # MediaPipe's options are float proto fields (0.01 arrives as 0.009999999776...), used in double.
        self.min_cutoff, self.beta, self.derivate_cutoff = (float(np.float32(v)) for v in (min_cutoff, beta,
                                                                                            derivate_cutoff))
        self._frequency0 = float(np.float32(frequency))
        self.reset()

    def reset(self) -> None:
        self.frequency = self._frequency0
        self.last_time: float | None = None
        self._last_ns: int | None = None
        self._x = LowPassFilter()
        self._dx = LowPassFilter()

    def __call__(self, value: np.ndarray, timestamp_s: float, value_scale: float = 1.0) -> np.ndarray:
        v = np.asarray(value, np.float32)
        # MediaPipe's timestamps are integer microseconds, seen here as integer nanoseconds: the
        # frequency is then exactly its 1 / (dt_ns * 1e-9) (a float seconds difference is not).
        t_ns = round(timestamp_s * 1e9)
        if self._last_ns is not None and t_ns <= self._last_ns:
            return v
        # MediaPipe treats a timestamp of exactly 0 as "unset": a stream starting at t=0
        # (Tasks VIDEO mode) keeps the initial frequency for its second sample too.
        if self._last_ns is not None and self._last_ns != 0 and t_ns != 0:
            self.frequency = 1.0 / ((t_ns - self._last_ns) * 1e-9)
        self._last_ns, self.last_time = t_ns, timestamp_s
        if self._x.last_raw is None or self._x.last_raw.shape != v.shape:
            dv = np.zeros_like(v)
        else:
            # double: (v - last_raw) * value_scale * frequency; the low-pass filter takes it as float.
            dv = ((v.astype(np.float64) - self._x.last_raw) * float(value_scale) * self.frequency).astype(np.float32)
        edv = self._dx(dv, _alpha(self.derivate_cutoff, self.frequency))
        cutoff = self.min_cutoff + self.beta * np.abs(edv.astype(np.float64))
        return self._x(v, _alpha(cutoff, self.frequency))


class LandmarksSmoother:
    """LandmarksSmoothingCalculator with a One-Euro filter, for one tracked object.

    Normalized landmarks are filtered in pixels (x*W, y*H, z*W). The value scale
    is 1/object_scale, where object_scale is given (e.g. from an ROI) or the
    mean of the landmark bounding box's width and height in pixels.
    `reset()` on a frame where the object is missing, as MediaPipe does.
    """

    MIN_OBJECT_SCALE = 1e-6

    def __init__(
        self,
        min_cutoff: float,
        beta: float,
        derivate_cutoff: float = 1.0,
        *,
        disable_value_scaling: bool = False,
        normalized: bool = True,
    ) -> None:
        self._filter = OneEuroFilter(min_cutoff, beta, derivate_cutoff)
        self.disable_value_scaling = disable_value_scaling
        self.normalized = normalized
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._filter.reset()

    def __call__(
        self,
        landmarks: np.ndarray,
        timestamp_s: float,
        image_size: tuple[int, int] = (1, 1),
        object_scale: float | None = None,
    ) -> np.ndarray:
        lm = np.asarray(landmarks, np.float32)
        W, H = image_size
        scale_vec = np.array([W, H, W], np.float32)[: lm.shape[-1]] if self.normalized else np.float32(1.0)
        px = lm[..., :3] * scale_vec
        if self.disable_value_scaling:
            value_scale = 1.0
        else:
            if object_scale is None:
                mn, mx = px[..., 0:2].reshape(-1, 2).min(0), px[..., 0:2].reshape(-1, 2).max(0)
                object_scale = ((mx - mn)[0] + (mx - mn)[1]) / np.float32(2)
            if object_scale < self.MIN_OBJECT_SCALE:
                return lm
            value_scale = float(np.float32(1) / np.float32(object_scale))  # 1.0f / object_scale
        with self._lock:
            out_px = self._filter(px, timestamp_s, value_scale)
        out = lm.copy()
        out[..., :3] = out_px / scale_vec
        return out


def roi_object_scale(roi: np.ndarray, image_size: tuple[int, int]) -> float:
    """LandmarksSmoothing's OBJECT_SCALE_ROI: (width * W + height * H) / 2 of a normalized ROI, in float32."""
    r = np.asarray(roi, np.float32).reshape(-1)
    return float((r[2] * np.float32(image_size[0]) + r[3] * np.float32(image_size[1])) / np.float32(2))


class VisibilitySmoother:
    """Low-pass filter on a visibility array (alpha fixed, e.g. 0.1 for pose)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self._f = LowPassFilter()

    def reset(self) -> None:
        self._f.reset()

    def __call__(self, visibility: np.ndarray) -> np.ndarray:
        return self._f(visibility, self.alpha)


_SEG_C = (5.68842, -0.748699, -57.8051, 291.309, -624.717)


def smooth_segmentation(current: np.ndarray, previous: np.ndarray | None, ratio: float) -> np.ndarray:
    """SegmentationSmoothingCalculator: blend with the previous mask where the new one is uncertain."""
    if previous is None or previous.shape != current.shape:
        return current
    p = current.astype(np.float32)
    t = p - np.float32(0.5)
    x = t * t
    c1, c2, c3, c4, c5 = (np.float32(c) for c in _SEG_C)
    u = np.float32(1.0) - np.minimum(np.float32(1.0), x * (c1 + x * (c2 + x * (c3 + x * (c4 + x * c5)))))
    return p + (previous - p) * u * np.float32(ratio)
