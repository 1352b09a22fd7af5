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

__all__ = ["ProcrustesError", "WeightedProcrustes", "weighted_procrustes"]

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
    return WeightedProcrustes(source, weights)(target)


class WeightedProcrustes:
    """`weighted_procrustes` against one fixed source and weights, whose terms are computed once.

    The face geometry pipeline fits the same canonical face three times per frame;
    precomputing the source-only terms (same operations, same order) gives the same
    numbers for a fraction of the calls. `fit_selected` takes targets already
    restricted to the weighted points (`selected` indices), so callers can skip
    computing the other points.
    """

    def __init__(self, source: np.ndarray, weights: np.ndarray) -> None:
        src = np.asarray(source, np.float64)
        w = np.asarray(weights, np.float64).reshape(-1)
        if src.ndim != 2 or src.shape[1] != 3 or w.shape[0] != src.shape[0]:
            raise ProcrustesError(
                f"shapes do not match: source {src.shape}, weights {w.shape}; expected (P,3), (P,)"
            )
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ProcrustesError("Procrustes weights must be finite and non-negative")
        total = float(w.sum())
        if total <= _EPS:
            raise ProcrustesError(f"Procrustes weights sum to {total}, which is too small")
        keep = w > 0
        self.num_points = src.shape[0]
        self.selected = np.flatnonzero(keep)
        self._total = total
        src, w = src[keep], w[keep]
        self._q = np.sqrt(w)[:, None]  # (P,1)
        self._a = src * self._q  # weighted sources
        center = (w[:, None] * src).sum(0) / total
        self._a_c = self._a - self._q * center  # centred weighted sources
        self._den = float((self._a_c * self._a).sum())

    @property
    def design_rows(self) -> np.ndarray:
        """(len(selected), 3): the fit's design matrix for targets t (the selected points) is
        t^T @ design_rows (the square-root weights times the centred weighted source)."""
        return self._q * self._a_c

    @property
    def spread(self) -> float:
        """The weighted sum of squares of the centred source: the scale's denominator."""
        return self._den

    def __call__(self, target: np.ndarray) -> np.ndarray:
        """Transforms onto full targets (..., P, 3)."""
        tgt = np.asarray(target, np.float64)
        if tgt.shape[-2:] != (self.num_points, 3):
            raise ProcrustesError(f"shapes do not match: target {tgt.shape}, expected (..., {self.num_points}, 3)")
        return self.fit_selected(tgt[..., self.selected, :])

    def fit_selected(self, target: np.ndarray) -> np.ndarray:
        """Transforms onto targets (..., len(selected), 3) holding only the weighted points."""
        tgt = np.asarray(target, np.float64)
        q, a, a_c, total = self._q, self._a, self._a_c, self._total
        if tgt.shape[-2:] != a.shape:
            raise ProcrustesError(f"shapes do not match: target {tgt.shape}, expected (..., {len(a)}, 3)")
        batch_shape = tgt.shape[:-2]
        tgt = tgt.reshape(-1, *a.shape)

        b = tgt * q  # weighted targets (B,P,3)
        design = np.einsum("bpi,pj->bij", b, a_c)  # sum_i b_i a_c_i^T
        u, _, vt = np.linalg.svd(design)
        flip = np.linalg.det(u) * np.linalg.det(vt) < 0
        u[flip, :, 2] *= -1
        rot = u @ vt
        num = np.einsum("bij,pj,bpi->b", rot, a_c, b)  # sum <R a_c_i, b_i>
        den = self._den
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
