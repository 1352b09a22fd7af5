"""ROI association for detect-then-track pipelines (MediaPipe's AssociationNormRect)."""

from __future__ import annotations

import numpy as np

from facepipe.stages.rects import rect_iou

__all__ = ["associate_rects"]


def associate_rects(detected: np.ndarray, tracked: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Merge detection ROIs and tracked ROIs, tracked ones winning on overlap.

    Builds one list: each element added (detections first, then tracked rects)
    first removes every entry already in the list whose IoU with it is
    > threshold, then is appended. Returns (M,5) rects in list order.
    """
    items = [r for r in np.asarray(detected, np.float32).reshape(-1, 5)]
    items += [r for r in np.asarray(tracked, np.float32).reshape(-1, 5)]
    out: list[np.ndarray] = []
    for r in items:
        if out:
            iou = rect_iou(r[None], np.stack(out))[0]
            out = [o for o, v in zip(out, iou) if v <= threshold]
        out.append(r)
    return np.stack(out) if out else np.zeros((0, 5), np.float32)
