"""ROI association for detect-then-track pipelines (MediaPipe's AssociationNormRect)."""

from __future__ import annotations

import numpy as np

from facepipe.stages.rects import rect_iou

__all__ = ["associate_rects", "associate_rect_indices"]


def associate_rect_indices(detected: np.ndarray, tracked: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Like `associate_rects`, but returns which inputs survive, as indices into
    the concatenation [detected; tracked] in list order (lets callers carry
    per-ROI data such as track ids along)."""
    items = np.concatenate(
        [np.asarray(detected, np.float32).reshape(-1, 5), np.asarray(tracked, np.float32).reshape(-1, 5)]
    )
    out: list[int] = []
    for i in range(len(items)):
        if out:
            iou = rect_iou(items[i][None], items[out])[0]
            out = [o for o, v in zip(out, iou) if v <= threshold]
        out.append(i)
    return np.asarray(out, np.int64)


def associate_rects(detected: np.ndarray, tracked: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Merge detection ROIs and tracked ROIs, tracked ones winning on overlap.

    Builds one list: each element added (detections first, then tracked rects)
    first removes every entry already in the list whose IoU with it is
    > threshold, then is appended. Returns (M,5) rects in list order.
    """
    items = np.concatenate(
        [np.asarray(detected, np.float32).reshape(-1, 5), np.asarray(tracked, np.float32).reshape(-1, 5)]
    )
    return items[associate_rect_indices(detected, tracked, threshold)]
