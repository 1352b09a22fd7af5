"""Scoring an expression descriptor on labelled faces: leave-one-out retrieval and identity invariance.

Protocol (docs/expression-search.md): anything fitted is fitted on a tuning split of other people
(`load_tune_split`), then the test faces are scored with `leave_one_out` using that fixed map. `lopo_metric`
refits per query without the query's person but WITH the other test faces' labels: the gallery's own labels
shape the map, which is optimistic (transductive), so it is kept only to compare with earlier numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facepipe.apps.expression_search.identity import Centring, IdentityGroups, IdentityOptions
from facepipe.errors import InputError

__all__ = ["RetrievalScores", "TuneSplit", "identity_normalised", "leave_one_out", "lopo_metric", "load_tune_split",
           "lopo_identity_normalised"]


@dataclass(frozen=True)
class RetrievalScores:
    """p_at_1 / p_at_3: share of the top 1 / mean share of the top 3 with the query's label.

    Over the queries whose person has other photos (`repeated`): other_person_same_label and
    same_person_other_label count how the top match fell.
    """

    p_at_1: float
    p_at_3: float
    other_person_same_label: int
    same_person_other_label: int
    repeated: int


def leave_one_out(vectors_for: Callable[[int], np.ndarray], labels: np.ndarray,
                  persons: np.ndarray) -> RetrievalScores:
    """Each face queries all the others. `vectors_for(q)` gives every face's vector as query q sees them
    (so that anything fitted can be refitted without q's person)."""
    labels, persons = np.asarray(labels), np.asarray(persons)
    n = len(labels)
    counts = {p: int(c) for p, c in zip(*np.unique(persons, return_counts=True))}
    p1 = p3 = 0.0
    other_same = same_other = repeated = 0
    for q in range(n):
        x = np.asarray(vectors_for(q), np.float64)
        d = np.linalg.norm(x - x[q], axis=1)
        d[q] = np.inf
        order = np.argsort(d, kind="stable")[:3]
        top = order[0]
        p1 += labels[top] == labels[q]
        p3 += float(np.mean(labels[order] == labels[q]))
        if counts[persons[q]] > 1:
            repeated += 1
            other_same += bool(persons[top] != persons[q] and labels[top] == labels[q])
            same_other += bool(persons[top] == persons[q] and labels[top] != labels[q])
    return RetrievalScores(p1 / n, p3 / n, other_same, same_other, repeated)


def lopo_metric(features: np.ndarray, labels: np.ndarray, persons: np.ndarray,
                fit: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[int], np.ndarray]:
    """vectors_for(q) for leave_one_out: features @ W, W fitted on the faces of every other person.

    Transductive: those faces are also the gallery, so their labels shape the space they are searched in.
    """

    def vectors_for(q: int) -> np.ndarray:
        train = persons != persons[q]
        return features @ fit(features[train], labels[train])

    return vectors_for


@dataclass(frozen=True)
class TuneSplit:
    """Labelled descriptor inputs of the tuning people: geometry (N,14), blendshapes (N,52), labels, persons,
    recognition embeddings (N,128), and the geometry and blendshapes of each photo mirrored left to right."""

    geometry: np.ndarray
    blendshapes: np.ndarray
    labels: np.ndarray
    persons: np.ndarray
    sha256: tuple[str, ...]
    identities: np.ndarray | None = None  # (N,128) recognition embeddings, where the file has them
    geometry_mirrored: np.ndarray | None = None  # (N,14), the mirrored photos' (where the file has them)
    blendshapes_mirrored: np.ndarray | None = None  # (N,52)


def load_tune_split(path: str | os.PathLike[str], geometry_features: tuple[str, ...]) -> TuneSplit:
    """Read a file written by tools/make_expression_tune_split.py; refuse one made for other features."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if tuple(doc["geometry_features"]) != tuple(geometry_features):
            raise InputError(f"{path}: made for other geometry features; regenerate it with "
                             "tools/make_expression_tune_split.py")
        faces = doc["faces"]

        def optional(key: str, dtype: type) -> np.ndarray | None:
            return np.array([f[key] for f in faces], dtype) if all(key in f for f in faces) else None

        return TuneSplit(np.array([f["geometry"] for f in faces], np.float64),
                         np.array([f["blendshapes"] for f in faces], np.float64),
                         np.array([f["label"] for f in faces]), np.array([f["person"] for f in faces]),
                         tuple(f["sha256"] for f in faces),
                         optional("identity", np.float32), optional("geometry_mirrored", np.float64),
                         optional("blendshapes_mirrored", np.float64))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable tuning split ({exc})") from exc


def identity_normalised(vectors: np.ndarray, identities: np.ndarray,
                        options: IdentityOptions) -> Callable[[int], np.ndarray]:
    """vectors_for(q) for leave_one_out, as identity-normalised search sees query q: the index is every other
    face (grouped by their recognition embeddings, each centred by its group), and q is a new photo, centred
    by the group whose mean embedding is nearest within the threshold (not at all if there is none). No label is
    used: this is what `facepipe search` does at run time."""
    x = np.asarray(vectors, np.float64)
    ids = np.asarray(identities, np.float32)

    def vectors_for(q: int) -> np.ndarray:
        rest = np.flatnonzero(np.arange(len(x)) != q)
        people = IdentityGroups(options.threshold)
        groups = people.assign(ids[rest])  # in index order, as `facepipe search index` adds them
        centring = Centring.fit(x[rest], groups, options)
        out = x.copy()
        out[rest] -= centring.offsets(groups)
        out[q] -= centring.offsets(people.nearest(ids[q:q + 1]))[0]
        return out

    return vectors_for


def lopo_identity_normalised(embed: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], persons: np.ndarray,
                             identities: np.ndarray, options: IdentityOptions) -> Callable[[int], np.ndarray]:
    """vectors_for(q) for leave_one_out with something fitted: `embed(train)` fits on the faces where the
    boolean mask `train` is set (every person but the query's) and returns (gallery, queries), both (N,D):
    each face's vector as indexed, and as a query (the same, or e.g. its mirrored photo's). The gallery is
    identity-normalised as `identity_normalised` does; the query row is its query vector, centred by the
    same group offset as its gallery vector (same recognition embedding)."""
    persons = np.asarray(persons)
    folds: dict[object, tuple[Callable[[int], np.ndarray], np.ndarray]] = {}

    def vectors_for(q: int) -> np.ndarray:
        person = persons[q]
        if person not in folds:
            gallery, queries = embed(persons != person)
            gallery = np.asarray(gallery, np.float64)
            folds[person] = (identity_normalised(gallery, identities, options),
                             np.asarray(queries, np.float64) - gallery)
        centred, shift = folds[person]
        out = centred(q)
        out[q] += shift[q]
        return out

    return vectors_for
