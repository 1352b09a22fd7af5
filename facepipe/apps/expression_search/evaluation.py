"""Scoring an expression descriptor on labelled faces: leave-one-out retrieval and identity invariance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["RetrievalScores", "leave_one_out", "lopo_metric"]


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
    """vectors_for(q) for leave_one_out: features @ W, W fitted on the faces of every other person."""

    def vectors_for(q: int) -> np.ndarray:
        train = persons != persons[q]
        return features @ fit(features[train], labels[train])

    return vectors_for
