"""Who a face is, for identity-normalised expression search: dlib's recognition embedding, and grouping by it.

The expression descriptor of a face mixes what the face does with how that person's face is built (a low
brow, a wide mouth); on the test photos the person explains more of the spread than the expression
(docs/expression-search.md). So each indexed face carries its 128-d recognition embedding (dlib's ResNet,
the one facepipe.apps.recognition uses, aligned from the Face Landmarker's own points: no second
detector), the index groups its faces by it (`IdentityGroups`), and a face's expression vector is taken
relative to its group's centre (`Centring`). A query is embedded the same way and centred by the
group it falls in; a query whose person is not in the index stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facepipe.runtime.options import RuntimeOptions

__all__ = ["IdentityEmbedder", "IdentityOptions", "IdentityGroups", "Centring", "IDENTITY_DIM"]

IDENTITY_DIM = 128


@dataclass(frozen=True)
class IdentityOptions:
    """How faces are grouped by person and how a face is centred by its group.

    Defaults chosen on the tuning split only (11 Yale people who are not in the test set; leave-one-out
    there, see benchmarks/bench_search.py and docs/expression-search.md).

    threshold: a face joins the group whose mean dlib embedding is nearer than this (else it starts a new
        group); a query is centred by the nearest group within it. 0.4, tighter than face_recognition's 0.6
        for two photos: at 0.5-0.6 the tuning split's 11 people fell into 9 groups (greyscale Yale photos of
        different people come as close as 0.38), at 0.4 into exactly 11. A group split in two is harmless
        (each half is still one person); two people in one group are not.
    shrink: a group's centre counts with weight n / (n + shrink) (n: its faces in the index); the rest of
        the weight goes to the index-wide mean of the group centres, so a person seen once is barely moved
        and a person seen often is centred on their own mean. 0 centres every group fully.
    centre: "mean" or "median" of the group's expression vectors.
    min_group: groups with fewer faces in the index are not centred at all.
    enabled: False searches the plain descriptor (an index built without identities is never centred).
    """

    threshold: float = 0.4
    shrink: float = 3.0
    centre: str = "mean"
    min_group: int = 1
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if not self.shrink >= 0:
            raise ValueError(f"shrink must be >= 0, got {self.shrink}")
        if not isinstance(self.min_group, int) or self.min_group < 1:
            raise ValueError(f"min_group must be an integer >= 1, got {self.min_group!r}")
        if self.centre not in ("mean", "median"):
            raise ValueError(f"centre must be 'mean' or 'median', got {self.centre!r}")


class IdentityEmbedder:
    """FaceLandmarkerResult faces -> (N,128) dlib recognition embeddings (NaN rows where a face has no landmarks)."""

    dim = IDENTITY_DIM

    def __init__(self, runtime: RuntimeOptions | None = None) -> None:
        from facepipe.solutions.face_embedder import DlibFaceEmbedder

        self._embedder = DlibFaceEmbedder(runtime)
        self.model_id = self._embedder.model_id

    def embed(self, image: np.ndarray, faces: Any) -> np.ndarray:
        from facepipe.solutions.face_embedder import five_point_landmarks

        n = len(faces)
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        w, h = faces.image_size
        pixels = np.asarray(faces.landmarks, np.float32)[:, :, :2] * np.array([w, h], np.float32)
        points = five_point_landmarks(pixels)
        ok = np.isfinite(points).all(axis=(1, 2))
        out = np.full((n, self.dim), np.nan, np.float32)
        if ok.any():
            out[ok] = self._embedder.embed(image, points[ok])
        return out


class IdentityGroups:
    """Faces grouped by person, incrementally: a face joins the group whose mean recognition embedding is
    nearest, if nearer than the threshold, else starts a new group (leader clustering on centroids).

    Incremental, so adding photos never regroups the faces already indexed (their group ids are stored);
    the result depends a little on the order faces arrive in (docs/expression-search.md). Cost per face:
    one distance to each group's centroid.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = float(threshold)
        self._sums = np.zeros((0, IDENTITY_DIM))
        self._counts = np.zeros(0, np.int64)
        self._centroids = np.zeros((0, IDENTITY_DIM))  # sums / counts; rows of empty groups far away
        self._c2 = np.zeros(0)  # their squared norms

    def __len__(self) -> int:
        return int((self._counts > 0).sum())

    @classmethod
    def of(cls, identities: np.ndarray, groups: np.ndarray, threshold: float) -> IdentityGroups:
        """Rebuild from stored faces: (N,128) embeddings and their group ids (-1: no embedding)."""
        out = cls(threshold)
        g = np.asarray(groups, np.int64)
        member = g >= 0
        size = int(g[member].max()) + 1 if member.any() else 0
        out._sums = np.zeros((size, IDENTITY_DIM))
        out._counts = np.zeros(size, np.int64)
        np.add.at(out._sums, g[member], np.asarray(identities, np.float64)[member])
        np.add.at(out._counts, g[member], 1)
        out._refresh(np.arange(size))
        return out

    def _refresh(self, rows: np.ndarray) -> None:
        if len(self._centroids) < len(self._sums):
            grow = len(self._sums) - len(self._centroids)
            self._centroids = np.vstack([self._centroids, np.zeros((grow, IDENTITY_DIM))])
            self._c2 = np.append(self._c2, np.zeros(grow))
        live = self._counts[rows] > 0
        self._centroids[rows[live]] = self._sums[rows[live]] / self._counts[rows[live], None]
        self._centroids[rows[~live]] = 0.0
        self._c2[rows] = np.where(live, (self._centroids[rows] ** 2).sum(1), np.inf)

    def nearest(self, identities: np.ndarray) -> np.ndarray:
        """(Q,) group id whose centroid is nearest each embedding within the threshold; -1 where none."""
        q = np.asarray(identities, np.float64).reshape(-1, IDENTITY_DIM)
        out = np.full(len(q), -1, np.int64)
        ok = np.isfinite(q).all(1)
        if len(self._counts) == 0 or not ok.any():
            return out
        qo = q[ok]
        # einsum, not BLAS: no BLAS thread pool on the query path (as ExpressionIndex.search)
        d2 = self._c2[None] - 2.0 * np.einsum("gd,qd->qg", self._centroids, qo) + (qo * qo).sum(1, keepdims=True)
        best = np.argmin(d2, axis=1)
        close = d2[np.arange(len(best)), best] < self.threshold ** 2
        out[np.flatnonzero(ok)[close]] = best[close]
        return out

    def assign(self, identities: np.ndarray) -> np.ndarray:
        """Add faces one by one (each sees the ones before it); (N,) their group ids, -1 for NaN rows."""
        q = np.asarray(identities, np.float64).reshape(-1, IDENTITY_DIM)
        out = np.full(len(q), -1, np.int64)
        for i, v in enumerate(q):
            if not np.isfinite(v).all():
                continue
            g = int(self.nearest(v[None])[0])
            if g < 0:
                g = len(self._counts)
                self._sums = np.vstack([self._sums, np.zeros((1, IDENTITY_DIM))])
                self._counts = np.append(self._counts, 0)
            self._sums[g] += v
            self._counts[g] += 1
            self._refresh(np.array([g]))
            out[i] = g
        return out

    def remove(self, identities: np.ndarray, groups: np.ndarray) -> None:
        """Take faces out of their groups (their file was re-indexed or deleted)."""
        g = np.asarray(groups, np.int64)
        member = g >= 0
        np.subtract.at(self._sums, g[member], np.asarray(identities, np.float64)[member])
        np.subtract.at(self._counts, g[member], 1)
        self._refresh(np.unique(g[member]))


@dataclass(frozen=True, eq=False)
class Centring:
    """Per-group expression centres of an index: centres (G,D), counts (G,), population (D,) (the mean of the
    group centres: each person once, so one person with many photos does not pull it)."""

    centres: np.ndarray
    counts: np.ndarray
    population: np.ndarray
    shrink: float

    @classmethod
    def fit(cls, vectors: np.ndarray, groups: np.ndarray, options: IdentityOptions) -> Centring:
        """From the index's (N,D) vectors and their (N,) group ids (-1: no identity, never centred)."""
        x = np.asarray(vectors, np.float64)
        g = np.asarray(groups, np.int64)
        dim = x.shape[1] if x.ndim == 2 else 0
        member = g >= 0
        size = int(g.max()) + 1 if member.any() else 0
        counts = np.bincount(g[member], minlength=size).astype(np.int64)
        counts[counts < options.min_group] = 0  # too small to centre: left as they are
        live = counts > 0
        centres = np.zeros((size, dim))
        if live.any():
            keep = member & live[np.where(member, g, 0)]
            centres[live] = _group_centres(x[keep], g[keep], options.centre, size)[live]
        population = centres[live].mean(0) if live.any() else np.zeros(dim)
        return cls(centres, counts, population, options.shrink)

    def offsets(self, groups: np.ndarray) -> np.ndarray:
        """(N,D) what to subtract from the vectors of faces in these groups (-1, or a group too small: 0):
        w * (group centre - population), w = n / (n + shrink), n the group's size in the index."""
        g = np.asarray(groups, np.int64)
        out = np.zeros((len(g), len(self.population)))
        member = (g >= 0) & (g < len(self.counts))
        member[member] = self.counts[g[member]] > 0
        if member.any():
            n = self.counts[g[member]].astype(np.float64)
            w = n / (n + self.shrink)
            out[member] = w[:, None] * (self.centres[g[member]] - self.population)
        return out


def _group_centres(x: np.ndarray, g: np.ndarray, kind: str, count: int) -> np.ndarray:
    """(count,D) mean or median of each group's rows (0 for groups without rows)."""
    out = np.zeros((count, x.shape[1]))
    if kind == "mean":
        np.add.at(out, g, x)
        return out / np.maximum(np.bincount(g, minlength=count), 1)[:, None]
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(count + 1))
    for k in np.flatnonzero(np.diff(bounds)):
        out[k] = np.median(x[order[bounds[k]:bounds[k + 1]]], 0)
    return out
