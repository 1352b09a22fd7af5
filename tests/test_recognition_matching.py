"""k-NN voting on hand-made neighbour lists: who wins, and when a face stays unknown."""

from __future__ import annotations

import numpy as np
import pytest

from facepipe.apps.recognition.matching import ExactIndex, MatchOptions, vote
from facepipe.apps.recognition.store import UNKNOWN, Neighbours


def _nb(rows: list[list[tuple[str, float]]]) -> Neighbours:
    k = max(len(r) for r in rows)
    out = Neighbours.empty(len(rows), k)
    for i, r in enumerate(rows):
        for j, (n, d) in enumerate(r):
            out.names[i, j], out.distances[i, j] = n, d
    return out


def test_vote_majority_nearest_and_unknown():
    m = vote(_nb([
        [("ann", 0.30), ("bob", 0.35), ("bob", 0.40), ("bob", 0.45), ("ann", 0.7)],  # three bobs outvote one ann
        [("ann", 0.10), ("bob", 0.50), ("cid", 0.52)],  # one very near match beats two borderline ones
        [("ann", 0.61), ("bob", 0.70)],  # nobody within the threshold
        [("ann", 0.40), ("", np.inf), ("", np.inf)],  # gallery smaller than k
    ]), threshold=0.55)
    assert list(m.names) == ["bob", "ann", UNKNOWN, "ann"]
    np.testing.assert_allclose(m.distances, [0.35, 0.10, 0.61, 0.40], rtol=1e-6)
    assert m.confidence[2] == 0 and m.confidence[3] == pytest.approx(1.0)
    assert 0.5 < m.confidence[0] < 1.0


def test_vote_on_empty_gallery_and_no_queries():
    m = vote(Neighbours.empty(2, 5), 0.6)
    assert list(m.names) == [UNKNOWN, UNKNOWN] and np.isinf(m.distances).all()
    assert len(vote(Neighbours.empty(0, 5), 0.6).names) == 0


def test_index_then_vote_names_the_nearest_cluster():
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(4, 32)).astype(np.float32)
    labels = np.repeat(np.array(["a", "b", "c", "d"], dtype=object), 6)
    vecs = np.repeat(centres, 6, axis=0) + 0.05 * rng.normal(size=(24, 32)).astype(np.float32)
    idx = ExactIndex(labels, vecs, "euclidean")
    q = centres + 0.05 * rng.normal(size=centres.shape).astype(np.float32)
    far = rng.normal(size=(1, 32)).astype(np.float32) * 10
    m = vote(idx.search(np.concatenate([q, far]), 5), threshold=1.0)
    assert list(m.names) == ["a", "b", "c", "d", UNKNOWN]


def test_match_options_validate():
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 4\]"):
        MatchOptions(threshold=0)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 100\]"):
        MatchOptions(k=0)
    assert MatchOptions().threshold_for("euclidean") > 0
