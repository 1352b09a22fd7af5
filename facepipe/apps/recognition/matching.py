"""Nearest-neighbour search over gallery embeddings and per-person voting.

`ExactIndex` is a brute-force search held in one numpy matrix: for a query q
and gallery rows g, squared euclidean distance is |q|² - 2 q·g + |g|² with |g|²
precomputed, so a query costs one matrix-vector product (100 k × 128 floats:
about 2 ms on one core) and an `argpartition`. Cosine galleries keep
unit rows and use 1 - q·g.

`vote` turns each query's k nearest neighbours into one decision: the
neighbours closer than the threshold vote for their person, each with weight
1 - d/threshold (a near match counts more than a borderline one); the person
with the largest total wins, and a face whose neighbours are all farther than
the threshold is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.apps.recognition.store import UNKNOWN, Neighbours

__all__ = ["DEFAULT_THRESHOLDS", "ExactIndex", "MatchOptions", "Matches", "vote"]

# Distance below which two faces count as one person, per metric; see MatchOptions.
DEFAULT_THRESHOLDS = {"euclidean": 0.6, "cosine": 0.6}


@dataclass(frozen=True)
class MatchOptions:
    """threshold: largest distance at which a gallery embedding votes for its person; None uses
        the metric's default (DEFAULT_THRESHOLDS). For dlib's vectors 0.6, face_recognition's
        convention, checked on the shared identities (8 people, 30 photos, faces found as
        `faces enroll` finds them): the farthest same-person pair is 0.592 apart, the nearest
        different-person pair 0.682, so all 435 pairs and every leave-one-out identification are
        right; of 81 faces of other people in the shared photos (faces/, groups/, expressions/),
        one comes within 0.6 of someone in that gallery (0.595), the next at 0.636. 0.575 would
        keep that one out but miss the 0.592 pair. `benchmarks/bench_gallery.py accuracy
        --calibrate` prints the sweep. The cosine default is a placeholder for user-supplied
        ArcFace models: calibrate yours the same way.
    k: neighbours looked at per face (all of a person's photos can vote, up to k).
    """

    threshold: float | None = None
    k: int = 5

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 < self.threshold <= 4.0:
            raise ValueError(f"threshold must be in (0, 4], got {self.threshold}")
        if not isinstance(self.k, int) or not 1 <= self.k <= 100:
            raise ValueError(f"k must be an integer in [1, 100], got {self.k!r}")

    def threshold_for(self, metric: str) -> float:
        return DEFAULT_THRESHOLDS[metric] if self.threshold is None else self.threshold


@dataclass(frozen=True)
class Matches:
    """Per query: the winning person (UNKNOWN if none), the distance to that person's nearest
    embedding (to the nearest embedding of anyone when unknown; inf for an empty gallery), and
    the vote share of the winner among the neighbours within the threshold (0 when unknown)."""

    names: np.ndarray  # (Q,) object array of str
    distances: np.ndarray  # (Q,) float32
    confidence: np.ndarray  # (Q,) float32


class ExactIndex:
    """Brute-force k-NN over an (M,dim) float32 matrix; immutable, so safe to share between threads."""

    def __init__(self, labels: np.ndarray, vectors: np.ndarray, metric: str) -> None:
        self.metric = metric
        self.labels = np.asarray(labels, dtype=object)
        v = np.ascontiguousarray(vectors, np.float32)
        v = v.reshape(len(self.labels), v.shape[-1] if v.ndim == 2 else 0)
        if metric == "cosine":
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        self.vectors = v
        self._sq_norms = np.einsum("ij,ij->i", v, v)

    def __len__(self) -> int:
        return len(self.labels)

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        q = np.ascontiguousarray(queries, np.float32)
        m = len(self.labels)
        if m == 0 or len(q) == 0:
            return Neighbours.empty(len(q), k)
        # A few queries (one frame's faces): einsum's own single-threaded loop. A BLAS matrix
        # product spins up its thread pool, which on a loaded machine made a 100 k query 20 ms
        # (median) instead of 2. Many queries: the matrix product.
        few = len(q) <= 16
        dots = np.stack([np.einsum("md,d->m", self.vectors, row) for row in q]) if few else q @ self.vectors.T
        # Rank by a score with the same order as the distance, computed in place (one pass over
        # the (Q,M) array); the distance itself only for the k kept.
        if self.metric == "cosine":
            d = np.negative(dots, out=dots)  # -q·g: 1 - q·g/|q| after selection
        else:
            d = np.multiply(dots, -2.0, out=dots)
            d += self._sq_norms[None, :]  # |g|² - 2 q·g: |q|² is added after selection
        kk = min(k, m)
        part = np.argpartition(d, kk - 1, axis=1)[:, :kk] if kk < m else np.broadcast_to(np.arange(m), (len(q), m))
        pd = np.take_along_axis(d, part, axis=1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx = np.take_along_axis(part, order, axis=1)
        dist = np.take_along_axis(pd, order, axis=1)
        if self.metric == "euclidean":
            dist = np.sqrt(np.maximum(dist + np.einsum("ij,ij->i", q, q)[:, None], 0.0))
        else:
            dist = 1.0 + dist / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        out = Neighbours.empty(len(q), k)
        out.names[:, :kk] = self.labels[idx]
        out.distances[:, :kk] = dist
        return out


def vote(neighbours: Neighbours, threshold: float) -> Matches:
    """One decision per query from its nearest neighbours (see the module doc)."""
    names, dist = neighbours.names, neighbours.distances
    q = len(dist)
    out_names = np.full(q, UNKNOWN, dtype=object)
    out_dist = dist[:, 0].astype(np.float32) if dist.shape[1] else np.full(q, np.inf, np.float32)
    out_conf = np.zeros(q, np.float32)
    weights = np.clip(1.0 - dist / threshold, 0.0, None)  # 0 beyond the threshold (and for inf)
    for i in np.flatnonzero(weights[:, 0] > 0 if dist.shape[1] else []):
        totals: dict[str, float] = {}
        nearest: dict[str, float] = {}
        for name, w, d in zip(names[i], weights[i], dist[i]):
            if w > 0:
                totals[name] = totals.get(name, 0.0) + float(w)
                nearest.setdefault(name, float(d))
        # Ties go to the person with the nearest embedding.
        best = max(totals, key=lambda n: (totals[n], -nearest[n]))
        out_names[i] = best
        out_dist[i] = nearest[best]
        out_conf[i] = totals[best] / sum(totals.values())
    return Matches(out_names, out_dist, out_conf)
