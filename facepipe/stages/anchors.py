"""SSD anchor centres (MediaPipe's SsdAnchorsCalculator, fixed-size anchors).

All MediaPipe detectors used here set fixed_anchor_size, so an anchor is just a
centre; width and height are 1 and drop out of the decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = ["AnchorSpec", "FACE_SHORT_RANGE", "FACE_FULL_RANGE", "PALM", "POSE", "anchor_centers"]


@dataclass(frozen=True)
class AnchorSpec:
    input_w: int
    input_h: int
    strides: tuple[int, ...]
    interpolated_scale_aspect_ratio: float = 1.0
    aspect_ratios: tuple[float, ...] = (1.0,)
    offset: float = 0.5


FACE_SHORT_RANGE = AnchorSpec(128, 128, (8, 16, 16, 16))
FACE_FULL_RANGE = AnchorSpec(192, 192, (4,), interpolated_scale_aspect_ratio=0.0)
PALM = AnchorSpec(192, 192, (8, 16, 16, 16))
POSE = AnchorSpec(224, 224, (8, 16, 32, 32, 32))


@cache
def _centers(spec: AnchorSpec) -> np.ndarray:
    out = []
    i = 0
    n = len(spec.strides)
    while i < n:
        # Consecutive layers with the same stride share one feature map.
        per_cell = 0
        j = i
        while j < n and spec.strides[j] == spec.strides[i]:
            per_cell += len(spec.aspect_ratios) + (1 if spec.interpolated_scale_aspect_ratio > 0 else 0)
            j += 1
        stride = spec.strides[i]
        fh = -(-spec.input_h // stride)
        fw = -(-spec.input_w // stride)
        ys, xs = np.meshgrid((np.arange(fh) + spec.offset) / fh, (np.arange(fw) + spec.offset) / fw, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, per_cell, axis=0))
        i = j
    centers = np.concatenate(out).astype(np.float32)
    centers.setflags(write=False)
    return centers


def anchor_centers(spec: AnchorSpec) -> np.ndarray:
    """(N,2) float32 anchor centres (x, y) in [0,1], in MediaPipe's emission order."""
    return _centers(spec)
