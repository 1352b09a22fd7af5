"""`facepipe train eval`: a trained regressor against a dataset's labels.

Per blendshape: mean absolute error and Pearson correlation; overall: mean MAE
and the MAE of always predicting the training set's mean labels (the baseline a
model must beat); and the MAE by head-yaw bin, to see how much of the error
comes from the head turning away from the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facepipe.apps.trainer.samples import Samples

__all__ = ["YAW_BINS", "EvalResult", "evaluate", "metrics"]

YAW_BINS = (0.0, 10.0, 20.0, 30.0, 45.0, 90.0)  # |yaw| edges, degrees


@dataclass(frozen=True, eq=False)
class EvalResult:
    names: tuple[str, ...]
    mae: np.ndarray  # (52,)
    corr: np.ndarray  # (52,), NaN where labels or predictions do not vary
    baseline_mae: np.ndarray  # (52,) of predicting the training mean
    yaw_edges: tuple[float, ...]
    yaw_mae: np.ndarray  # (bins,) mean MAE of the samples in each |yaw| bin, NaN if empty
    yaw_count: np.ndarray  # (bins,)
    samples: int
    skipped: dict[str, int]

    @property
    def mean_mae(self) -> float:
        return float(self.mae.mean())

    @property
    def mean_baseline_mae(self) -> float:
        return float(self.baseline_mae.mean())

    @property
    def improvement(self) -> float:
        """How many times lower the error is than the training-mean baseline."""
        return self.mean_baseline_mae / max(self.mean_mae, 1e-12)

    def to_dict(self) -> dict[str, Any]:
        def f(v: float) -> float | None:
            return round(float(v), 6) if np.isfinite(v) else None

        return {
            "samples": self.samples,
            "skipped_no_face": self.skipped,
            "mean_mae": f(self.mean_mae),
            "mean_baseline_mae": f(self.mean_baseline_mae),
            "improvement_over_baseline": f(self.improvement),
            "blendshapes": {n: {"mae": f(m), "corr": f(c), "baseline_mae": f(b)}
                            for n, m, c, b in zip(self.names, self.mae, self.corr, self.baseline_mae)},
            "yaw_bins": [{"abs_yaw_deg": [lo, hi], "samples": int(n), "mae": f(m)}
                         for lo, hi, n, m in zip(self.yaw_edges[:-1], self.yaw_edges[1:], self.yaw_count,
                                                 self.yaw_mae)],
        }


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (a * b).sum(0) / np.where(den > 1e-12, den, 1.0), np.nan)


def metrics(pred: np.ndarray, labels: np.ndarray, yaw: np.ndarray, label_mean: np.ndarray, names: tuple[str, ...],
            skipped: dict[str, int] | None = None, yaw_edges: tuple[float, ...] = YAW_BINS) -> EvalResult:
    """Metrics of (N,52) predictions against (N,52) labels with (N,) head yaw in degrees."""
    pred = np.asarray(pred, np.float64)
    labels = np.asarray(labels, np.float64)
    err = np.abs(pred - labels)
    per_sample = err.mean(1)
    ayaw = np.abs(np.asarray(yaw, np.float64))
    bins = np.digitize(ayaw, yaw_edges[1:-1])
    count = np.bincount(bins, minlength=len(yaw_edges) - 1)
    total = np.bincount(bins, weights=per_sample, minlength=len(yaw_edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        yaw_mae = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return EvalResult(names, err.mean(0), _pearson(pred, labels), np.abs(labels - label_mean).mean(0),
                      tuple(yaw_edges), yaw_mae, count, len(labels), dict(skipped or {}))


def evaluate(samples: Samples, regressor) -> EvalResult:
    """Run `regressor` (a BlendshapeRegressor; its forced-zero list applies) on samples made with its own
    feature set, each against its folder's neutral."""
    pred = regressor.predict(samples.features)
    return metrics(pred, samples.labels, samples.yaw, regressor.label_mean, regressor.names, samples.skipped)
