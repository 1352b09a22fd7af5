"""Landmark refinement from a heatmap (MediaPipe's RefineLandmarksFromHeatmapCalculator).

For each landmark, the sigmoid heatmap values in a kernel x kernel window
around the landmark's cell are averaged into a confidence-weighted centre; the
landmark moves there when the window's peak confidence is high enough.
Vectorized over landmarks: all windows are gathered with one fancy index.
"""

from __future__ import annotations

import numpy as np

from facepipe.stages.libm32 import sigmoidf

__all__ = ["refine_landmarks_from_heatmap"]


def refine_landmarks_from_heatmap(
    landmarks: np.ndarray,
    heatmap: np.ndarray,
    *,
    kernel_size: int = 7,
    min_confidence_to_refine: float = 0.5,
) -> np.ndarray:
    """Refine x, y of tensor-normalized landmarks (K, >=2) with heatmap logits (Hh, Wh, K).

    Returns a float32 copy; z and any further columns are unchanged. A landmark is
    skipped when its cell is outside the heatmap or the
    window's max confidence is below `min_confidence_to_refine`. The new position
    is the weighted mean cell *index* over the heatmap size (no +0.5 cell centre),
    as in MediaPipe.
    """
    lm = np.array(landmarks, np.float32, copy=True)
    hm = np.asarray(heatmap, np.float32)
    Hh, Wh, K = hm.shape
    if lm.shape[0] != K:
        raise ValueError(f"{lm.shape[0]} landmarks but the heatmap has {K} channels")
    offset = (kernel_size - 1) // 2
    # int() truncation toward zero, as in the C++ code.
    col = np.trunc(lm[:, 0] * Wh).astype(np.int64)
    row = np.trunc(lm[:, 1] * Hh).astype(np.int64)
    valid = (col >= 0) & (col < Wh) & (row >= 0) & (row < Hh)
    if not valid.any():
        return lm
    idx = np.flatnonzero(valid)
    d = np.arange(-offset, kernel_size - offset)
    rows = row[idx, None] + d[None, :]  # (V, k)
    cols = col[idx, None] + d[None, :]
    rows_ok = (rows >= 0) & (rows < Hh)
    cols_ok = (cols >= 0) & (cols < Wh)
    r = np.clip(rows, 0, Hh - 1)
    c = np.clip(cols, 0, Wh - 1)
    logits = hm[r[:, :, None], c[:, None, :], idx[:, None, None]]  # (V, k, k)
    conf = sigmoidf(logits)
    conf *= rows_ok[:, :, None] & cols_ok[:, None, :]
    # Sums accumulate one cell at a time in row-major order, in float32, as the C++ loop does
    # (numpy's pairwise sum rounds differently; the refined points feed the pose tracking ROI).
    # Cells outside the heatmap are 0 and leave the running sums unchanged.
    v = len(idx)
    total = np.add.accumulate(conf.reshape(v, -1), axis=1)[:, -1]
    peak = conf.max((1, 2))
    sum_col = np.add.accumulate((cols[:, None, :].astype(np.float32) * conf).reshape(v, -1), axis=1)[:, -1]
    sum_row = np.add.accumulate((rows[:, :, None].astype(np.float32) * conf).reshape(v, -1), axis=1)[:, -1]
    ok = (peak >= min_confidence_to_refine) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    upd = idx[ok]
    lm[upd, 0] = sum_col[ok] / np.float32(Wh) / safe[ok]
    lm[upd, 1] = sum_row[ok] / np.float32(Hh) / safe[ok]
    return lm
