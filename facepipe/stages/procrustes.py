"""Weighted orthogonal Procrustes with uniform scale (MediaPipe face geometry's solver).

Finds the similarity transform M = [[s R, t], [0, 1]] (R a proper rotation)
that maps source points onto target points, minimising
sum_i w_i |s R a_i + t - b_i|^2, with MediaPipe's formulation: weighted
centring of the sources only, SVD of the weighted design matrix, reflection
fixed by flipping U's third column, scale from the rotated centred sources.

Vectorized over a leading batch of target sets (one per face).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ProcrustesError", "weighted_procrustes"]

_EPS = 1e-9


class ProcrustesError(ValueError):
    """Inputs for which the transform is undefined (bad weights or shapes)."""


def weighted_procrustes(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(..., 4, 4) transforms mapping `source` (P,3) onto each `target` (..., P, 3).

    weights: (P,) non-negative, summing to more than 1e-9; points with weight 0
    do not influence the result (they are skipped, which is exact).
    A target set whose design matrix or scale is degenerate (e.g. all points
    equal) gets a NaN matrix rather than failing the whole batch.
    Computed in float64 (MediaPipe uses float32; the difference is ~1e-6 relative).
    """
    src = np.asarray(source, np.float64)
    tgt = np.asarray(target, np.float64)
    w = np.asarray(weights, np.float64).reshape(-1)
    if src.ndim != 2 or src.shape[1] != 3 or tgt.shape[-2:] != src.shape or w.shape[0] != src.shape[0]:
        raise ProcrustesError(
            f"shapes do not match: source {src.shape}, target {tgt.shape}, weights {w.shape}; "
            "expected (P,3), (...,P,3), (P,)"
        )
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ProcrustesError("Procrustes weights must be finite and non-negative")
    total = float(w.sum())
    if total <= _EPS:
        raise ProcrustesError(f"Procrustes weights sum to {total}, which is too small")

    keep = w > 0
    src, tgt, w = src[keep], tgt[..., keep, :], w[keep]
    batch_shape = tgt.shape[:-2]
    tgt = tgt.reshape(-1, *src.shape)

    q = np.sqrt(w)[:, None]  # (P,1)
    a = src * q  # weighted sources
    b = tgt * q  # weighted targets (B,P,3)
    center = (w[:, None] * src).sum(0) / total
    a_c = a - q * center  # centred weighted sources
    design = np.einsum("bpi,pj->bij", b, a_c)  # sum_i b_i a_c_i^T
    u, _, vt = np.linalg.svd(design)
    flip = np.linalg.det(u) * np.linalg.det(vt) < 0
    u[flip, :, 2] *= -1
    rot = u @ vt
    num = np.einsum("bij,pj,bpi->b", rot, a_c, b)  # sum <R a_c_i, b_i>
    den = float((a_c * a).sum())
    scale = num / den if den > _EPS else np.full(len(rot), np.nan)
    sr = scale[:, None, None] * rot
    resid = b - np.einsum("bij,pj->bpi", sr, a)
    trans = (resid * q).sum(1) / total

    out = np.zeros((len(rot), 4, 4), np.float64)
    out[:, :3, :3] = sr
    out[:, :3, 3] = trans
    out[:, 3, 3] = 1.0
    bad = (np.linalg.norm(design, axis=(1, 2)) <= _EPS) | ~(scale > _EPS)
    out[bad] = np.nan
    return out.reshape(*batch_shape, 4, 4)
