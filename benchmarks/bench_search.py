"""Expression search: accuracy of the descriptors, query latency, indexing throughput, index memory.

    .venv/bin/python benchmarks/bench_search.py [--shared DIR] [--quick]

Accuracy, on <shared>/testdata/expressions (labelled folders; yale_NN_* files are named by person): leave-one-
out nearest neighbour, P@1 and mean P@3 by label, and identity invariance over the people with several photos:
how often the top match is another person with the same label vs the same person with another label.
Anything fitted is fitted on the tuning split benchmarks/data/expressions_tune.json (11 other Yale subjects; see
tools/make_expression_tune_split.py) and applied unchanged to the test photos; the "tune" columns are leave-one-
out within that split, refitted without the query's person, and are what designs were chosen by. The shipped
descriptor fits nothing. v1's old protocol (refitted on the other test faces) is listed for comparison.
Identity-normalised rows (the shipped search): each face's dlib recognition embedding groups the index (the
other faces) by person and each vector is centred by its group; the query is centred by the group it falls in
(identity.py; evaluation.identity_normalised). The purity of those groups is printed after the table.

Speed, at 1 thread: a 1280x720 video frame (lp_s18_woman_indoor.mp4) to the top 3 of a 10 k-face index, through
the search graph and as direct calls: wall median, p95 and minimum, and process CPU time, with the machine's load
average before and after. The 10 k (and 100 k) indexes are synthesized from real vectors: the 59
faces of testdata/expressions and testdata/identities, each repeated with Gaussian jitter of 10 % of the
per-dimension spread (vectors and recognition embeddings), written with ExpressionIndex.put_file in files of
100 faces. The query times include the recognition embedding of the query face; one column shows the graph
without it (QueryOptions(identity=False)).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import NamedTuple

import numpy as np
from _harness import REPO, median_ms

from facepipe.apps.expression_search.descriptor import (
    GEOMETRY_FEATURES,
    BlendshapeDescriptor,
    GeometryDescriptor,
    LandmarkDescriptor,
    fit_metric,
)
from facepipe.apps.expression_search.evaluation import (
    identity_normalised,
    leave_one_out,
    load_tune_split,
    lopo_metric,
)
from facepipe.apps.expression_search.identity import IdentityEmbedder, IdentityGroups, IdentityOptions
from facepipe.apps.expression_search.index import ExpressionIndex
from facepipe.apps.expression_search.indexer import (
    EmbedOptions,
    FaceEmbedder,
    embed_faces,
    face_vectors,
    index_paths,
)
from facepipe.apps.expression_search.query import ExpressionSearch, QueryOptions
from facepipe.io.image import read_image
from facepipe.solutions.face_landmarker import FaceLandmarker

TUNE_SPLIT = REPO / "benchmarks" / "data" / "expressions_tune.json"


def discriminant(reg: float, dims: int):
    """fit(x, labels) -> within-label whitening followed by the top `dims` between-label directions (LDA)."""

    def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        w = fit_metric(x, y, reg=reg)
        z = x @ w
        means = np.array([z[y == c].mean(0) for c in np.unique(y)]) - z.mean(0)
        return w @ np.linalg.svd(means, full_matrices=False)[2][:dims].T

    return fit


def raw_plus_discriminant(reg: float, dims: int):
    """fit(x, labels) -> [x, LDA(x)]: full rank (directions absent from the tuning labels stay), LDA added."""

    def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        w = discriminant(reg, dims)(x, y)
        return np.hstack([np.eye(x.shape[1]), w * (x.std() / (x @ w).std())])

    return fit


def with_prototypes(tau: float, beta: float):
    """fit(x, labels) -> embed(x): [x, beta * softmax(-|x - mean of label k|^2 / tau)], one mean per tuning label."""

    def fit(x: np.ndarray, y: np.ndarray):
        centroids = np.array([x[y == c].mean(0) for c in np.unique(y)])

        def embed(v: np.ndarray) -> np.ndarray:
            z = -((v[:, None] - centroids[None]) ** 2).sum(-1) / tau
            p = np.exp(z - z.max(1, keepdims=True))
            return np.hstack([v, beta * p / p.sum(1, keepdims=True)])

        return embed

    return fit


def person_centred(x: np.ndarray, persons: np.ndarray) -> np.ndarray:
    """Each person's mean subtracted (needs to know who is who in the gallery: an oracle, not deployable)."""
    out = x.copy()
    for p in np.unique(persons):
        rows = persons == p
        if rows.sum() > 1:
            out[rows] -= out[rows].mean(0)
    return out


def group_purity(groups: np.ndarray, persons: np.ndarray) -> tuple[float, float]:
    """(purity, completeness) of identity groups against the true persons."""
    pure = sum(np.unique(persons[groups == g], return_counts=True)[1].max() for g in np.unique(groups))
    complete = sum(np.unique(groups[persons == p], return_counts=True)[1].max() for p in np.unique(persons))
    return pure / len(persons), complete / len(persons)


def accuracy(shared: Path) -> None:
    root = shared / "testdata" / "expressions"
    paths = sorted(root.glob("*/*"))
    lm = FaceLandmarker(EmbedOptions(max_num_faces=1).landmarker_options())
    images = [read_image(p) for p in paths]
    results = [lm.detect(im) for im in images]
    labels = np.array([p.parent.name for p in paths])
    persons = np.array([p.name[:7] if p.name.startswith("yale_") else p.name for p in paths])
    tune = load_tune_split(TUNE_SPLIT, GEOMETRY_FEATURES)
    assert not set(tune.persons) & set(persons), "tuning and test people overlap"
    assert tune.identities is not None, f"{TUNE_SPLIT} has no recognition embeddings: regenerate it"
    identity = IdentityEmbedder()
    ids = np.concatenate([identity.embed(im, r) for im, r in zip(images, results)])

    def stack(desc):
        return np.concatenate([desc.describe(im, r) for im, r in zip(images, results)]).astype(np.float64)

    geo = stack(GeometryDescriptor())  # the shipped v2: the features, no learned map
    blend = stack(BlendshapeDescriptor())
    landmarks = stack(LandmarkDescriptor())
    test = {"geo": geo, "blend": blend, "geo+blend": np.hstack([geo, blend])}
    tuned = {"geo": tune.geometry, "blend": tune.blendshapes,
             "geo+blend": np.hstack([tune.geometry, tune.blendshapes])}
    whiten = lambda x, y: fit_metric(x, y, reg=0.1)  # noqa: E731 (v1's setting)
    rows = [  # name, features, fit (None: nothing learned)
        ("landmarks (raw 2-D, IOD-scaled; baseline)", None, None),
        ("blendshapes (52 Tasks scores; baseline)", "blend", None),
        ("**geometry, no learned map: shipped v2**", "geo", None),
        ("geometry + within-label whitening (v1's design)", "geo", whiten),
        ("blendshapes + whitening", "blend", whiten),
        ("geometry + blendshapes + whitening", "geo+blend", whiten),
        ("geometry + LDA to 5-D (reg 1)", "geo", discriminant(1.0, 5)),
        ("geometry + [geometry, LDA 5-D] (reg 1)", "geo", raw_plus_discriminant(1.0, 5)),
    ]
    print(f"\nAccuracy: fitted on {len(tune.labels)} faces of {len(set(tune.persons))} other people "
          f"({TUNE_SPLIT.name}; 'tune' = leave-one-out there, refitted without the query's person), "
          f"reported on {root} ({len(paths)} faces, {len(set(labels))} labels; 'anger' has 1 photo, so P@1 <= "
          f"{(len(paths) - 1) / len(paths):.3f}); identity columns: the {sum(p.startswith('yale_') for p in persons)}"
          " Yale queries' top match")
    print("| descriptor | tune P@1 | tune P@3 | test P@1 | test mean P@3 | other person, same label |"
          " same person, other label |")
    print("|---|---|---|---|---|---|---|")

    def line(name, tune_scores, r):
        a, b, n = r.other_person_same_label, r.same_person_other_label, r.repeated
        t = f"{tune_scores.p_at_1:.3f} | {tune_scores.p_at_3:.3f}" if tune_scores else "- | -"
        print(f"| {name} | {t} | {r.p_at_1:.3f} | {r.p_at_3:.3f} | {a}/{n} ({a / n:.0%}) | {b}/{n} ({b / n:.0%}) |")

    for name, key, fit in rows:
        if key is None:
            line(name, None, leave_one_out(lambda q: landmarks, labels, persons))
            continue
        x_tune, x_test = tuned[key], test[key]
        if fit is None:
            t = leave_one_out(lambda q, x=x_tune: x, tune.labels, tune.persons)
            r = leave_one_out(lambda q, x=x_test: x, labels, persons)
        else:
            t = leave_one_out(lopo_metric(x_tune, tune.labels, tune.persons, fit), tune.labels, tune.persons)
            mapped = x_test @ fit(x_tune, tune.labels)
            r = leave_one_out(lambda q, x=mapped: x, labels, persons)
        line(name, t, r)
    # Nonlinear: the fitted thing maps vectors (the prototypes of the tuning labels), refitted per tuning query.
    proto = with_prototypes(0.01, 0.5)
    geo_proto = proto(tune.geometry, tune.labels)(geo)
    line("geometry + soft distances to the 6 tuning-label means (tau 0.01, beta 0.5: best tune P@1 of 20 settings)",
         leave_one_out(lambda q: proto(tune.geometry[tune.persons != tune.persons[q]],
                                       tune.labels[tune.persons != tune.persons[q]])(tune.geometry),
                       tune.labels, tune.persons),
         leave_one_out(lambda q: geo_proto, labels, persons))
    line("v1 as measured before: whitening refitted per query on the OTHER TEST faces (their labels shape"
         " the gallery: optimistic)", None, leave_one_out(lopo_metric(geo, labels, persons, whiten), labels, persons))
    for name, options in [
        ("**geometry, identity-normalised: shipped (index format 2; threshold 0.4, mean, shrink 3)**",
         IdentityOptions()),
        ("geometry, identity-normalised at face_recognition's threshold 0.6", IdentityOptions(threshold=0.6)),
        ("geometry, identity-normalised, full centring (shrink 0)", IdentityOptions(shrink=0.0)),
    ]:
        line(name, leave_one_out(identity_normalised(tune.geometry, tune.identities, options), tune.labels,
                                 tune.persons),
             leave_one_out(identity_normalised(geo, ids, options), labels, persons))
    line("blendshapes, identity-normalised (same settings)",
         leave_one_out(identity_normalised(tune.blendshapes, tune.identities, IdentityOptions()), tune.labels,
                       tune.persons),
         leave_one_out(identity_normalised(blend, ids, IdentityOptions()), labels, persons))
    line("oracle: each person's mean removed (needs identities; not deployable)",
         leave_one_out(lambda q: person_centred(tune.geometry, tune.persons), tune.labels, tune.persons),
         leave_one_out(lambda q: person_centred(geo, persons), labels, persons))
    for split, x_ids, who in (("tuning split", tune.identities, tune.persons), ("test set", ids, persons)):
        groups = IdentityGroups(IdentityOptions().threshold).assign(x_ids)
        pure, complete = group_purity(groups, who)
        print(f"\nIdentity groups on the {split} (threshold {IdentityOptions().threshold}, faces in file order):"
              f" {len(set(groups.tolist()))} groups for {len(set(who.tolist()))} people; purity {pure:.3f}"
              f" (share of faces whose group's majority person is theirs), completeness {complete:.3f} (share"
              " in their person's largest group)")


def synthetic_index(path: Path, base: tuple[np.ndarray, ...], n: int, rng: np.random.Generator,
                    descriptor_id: str, identity_model: str) -> tuple[float, int]:
    """Write n jittered copies of the real (vectors, boxes, paths, identities) into a new index; returns
    (seconds, identity groups).

    Paths are synthetic (one "file" per 100 faces), so the graph renders their tiles as "missing" (read once,
    then cached, as real tiles are). Identities: the source face's recognition embedding plus Gaussian noise
    of 10 % of its per-dimension spread, so the faces group roughly by their source photo's person."""
    vectors, boxes, paths, identities = base
    spread = vectors.std(0) + 1e-6
    id_spread = identities.std(0) + 1e-6
    dim = vectors.shape[1]
    start = time.perf_counter()
    with ExpressionIndex(path, descriptor_id, dim, identity_model=identity_model) as index:
        for f in range(0, n, 100):
            m = min(100, n - f)
            pick = rng.integers(0, len(vectors), m)
            v = vectors[pick] + rng.normal(size=(m, dim)) * 0.1 * spread
            ids = identities[pick] + rng.normal(size=(m, identities.shape[1])) * 0.1 * id_spread
            # One synthetic "file" per 100 faces; the boxes point into the source photos.
            index.put_file(f"/synthetic/{f:07d}.jpg", 1, 1, boxes=boxes[pick], vectors=v.astype(np.float32),
                           identities=ids.astype(np.float32))
        seconds = time.perf_counter() - start
        groups = len(set(index.group_ids().tolist()))
    return seconds, groups


class Timing(NamedTuple):
    median_ms: float
    p95_ms: float
    min_ms: float  # the least-disturbed round: nearest to the idle wall time on a loaded machine
    cpu_ms: float  # median process CPU time (all threads): what the call costs, whatever the machine's load

    def __str__(self) -> str:
        return f"{self.median_ms:.1f} / {self.p95_ms:.1f} / {self.min_ms:.1f} / {self.cpu_ms:.1f}"


def interleaved(fns: list, repeats: int, warmup: int = 3) -> list[Timing]:
    """Wall median, p95 and minimum, and CPU median of each function, timed in rounds (one call of each per round) so
    they share the load."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, w, c in zip(fns, wall, cpu):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            w.append((time.perf_counter() - t0) * 1000)
            c.append((time.process_time() - c0) * 1000)
    return [Timing(float(np.median(w)), float(np.percentile(w, 95)), min(w), float(np.median(c)))
            for w, c in zip(wall, cpu)]


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def speed(shared: Path, quick: bool) -> None:
    from facepipe.io.video import VideoReader

    os.environ.setdefault("FACEPIPE_NUM_THREADS", "1")
    photos = sorted((shared / "testdata" / "expressions").glob("*/*")) + sorted(
        (shared / "testdata" / "identities").glob("*/*"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_search."))
    embedder = FaceEmbedder(EmbedOptions(num_threads=1))
    real = tmp / "real.idx"
    with embedder.open_index(real) as index:
        report = index_paths(index, photos, embedder)
        with index._lock:
            index._arrays()
            vectors, boxes, paths = index._raw, index._cache[2], index._cache[3]
            rows = index._db.execute("SELECT identity FROM faces ORDER BY id").fetchall()
        identities = np.array([np.frombuffer(r[0], "<f4") for r in rows], np.float64)
        base = (vectors.astype(np.float64), boxes, paths, identities)
    print(f"\nIndexing, 1 thread: {len(photos)} photos ({report.faces} faces) in {report.seconds:.2f} s ="
          f" {len(photos) / report.seconds:.1f} photos/s (read + landmarker + blendshapes + geometry + recognition"
          " embedding + identity group + store)")

    with VideoReader(shared / "testdata" / "videos" / "lp_s18_woman_indoor.mp4") as reader:
        frame = next(iter(reader)).image
    assert frame.shape[:2] == (720, 1280), frame.shape
    rng = np.random.default_rng(0)
    repeats = 10 if quick else 30
    print(f"\nMachine before the timings: {load_text()}")
    print(f"\nQuery of one 1280x720 frame, 1 thread, median and p95 of {repeats} rounds; each round times the floor"
          " (FaceLandmarker with blendshapes and matrices alone), the direct calls and the graph back to back,"
          " so all three see the same machine load:")
    landmarker = FaceLandmarker(EmbedOptions(num_threads=1).landmarker_options())
    faces = landmarker.detect(frame)
    describe_ms = median_ms(lambda: face_vectors(embedder.descriptor, frame, faces), repeats, 3)
    identity_ms = median_ms(lambda: embedder.identity.embed(frame, faces), repeats, 3)
    print(f"descriptor of the frame's face from the landmarker's result: {describe_ms:.2f} ms; its recognition"
          f" embedding (dlib ResNet, 1 thread, incl. alignment): {identity_ms:.2f} ms (wall median)")
    print("Times as wall median / wall p95 / wall min / CPU median, in ms. CPU is the process's CPU time (all its"
          " threads): on a loaded machine it stays near the idle wall time while the wall times grow.")
    print("| index | build s (groups) | file MB | search only ms (top 3) | descriptor + identity + search ms |"
          " floor | frame -> top 3, direct | graph, no picture | graph, no picture, identity off |"
          " graph + picture | graph / floor (wall) | load s | in memory MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (10_000,) if quick else (10_000, 100_000):
        path = tmp / f"syn{n}.idx"
        build, n_groups = synthetic_index(path, base, n, rng, embedder.descriptor.id, embedder.identity_model)
        with embedder.open_index(path) as index:
            tracemalloc.start()
            t0 = time.perf_counter()
            len(index)  # loads the vectors
            load_s = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            with index._lock:
                vectors, norms, boxes, paths = index._arrays()
                people = index._identity_groups()  # loaded with the first query that has an identity
            held = (vectors.nbytes + norms.nbytes + boxes.nbytes + paths.nbytes + index._raw.nbytes
                    + index._groups.nbytes + people._sums.nbytes + people._centroids.nbytes
                    + sum(sys.getsizeof(p) for p in set(paths.tolist())))
            query, query_id = base[0][:1].astype(np.float32), base[3][:1].astype(np.float32)
            search_ms = median_ms(lambda ix=index, v=query, i=query_id: ix.search(v, 3, i), repeats, 3)

            def direct(ix=index):  # the floor's landmarker, then the descriptor, the identity and the search
                found = embed_faces(embedder.descriptor, frame, landmarker.detect(frame), identity=embedder.identity)
                return ix.search(found.vectors, 3, found.identities)

            def after_landmarker(ix=index):
                found = embed_faces(embedder.descriptor, frame, faces, identity=embedder.identity)
                return ix.search(found.vectors, 3, found.identities)

            with ExpressionSearch(index, QueryOptions(k=3, num_threads=1)) as search, \
                    ExpressionSearch(index, QueryOptions(k=3, num_threads=1, picture=False)) as bare, \
                    ExpressionSearch(index, QueryOptions(k=3, num_threads=1, picture=False, identity=False)) as plain:
                floor, direct_t, graph, bare_t, plain_t, after = interleaved(
                    [lambda: landmarker.detect(frame), direct, lambda s=search: s.query_image(frame),
                     lambda s=bare: s.query_image(frame), lambda s=plain: s.query_image(frame), after_landmarker],
                    repeats)
        print(f"| {n:,} faces | {build:.1f} ({n_groups}) | {path.stat().st_size / 1e6:.1f} | {search_ms:.2f} |"
              f" {after.median_ms:.2f} | {floor} | {direct_t} | {bare_t} | {plain_t} | {graph} |"
              f" {graph.median_ms / floor.median_ms:.2f} | {load_s:.2f} |"
              f" {held / 1e6:.1f} (peak while loading {peak / 1e6:.1f}) |")
    print(f"\nMachine after the timings: {load_text()}")
    embedder.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")))
    ap.add_argument("--quick", action="store_true", help="10 k only, fewer repeats")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("FACEPIPE_MODEL_PATH", str(args.shared / "models"))
    logging.basicConfig(level=logging.ERROR)  # the synthetic matches' "no such file" warnings
    if not args.skip_accuracy:
        accuracy(args.shared)
    if not args.skip_speed:
        speed(args.shared, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
