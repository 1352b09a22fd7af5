"""Expression search: accuracy of the descriptors, query latency, indexing throughput, index memory.

    .venv/bin/python benchmarks/bench_search.py [--shared DIR] [--quick]

Accuracy, on <shared>/testdata/expressions (labelled folders; yale_NN_* files are named by person): leave-one-
out nearest neighbour, P@1 and mean P@3 by label, and identity invariance over the people with several photos:
how often the top match is another person with the same label vs the same person with another label.
Anything fitted (the within-expression whitening) is refitted for every query without the query's person
(leave-one-person-out); the shipped matrix, fitted on all 29 photos, is listed last as an optimistic bound.

Speed, at 1 thread: a 1280x720 video frame (lp_s18_woman_indoor.mp4) to the top 3 of a 10 k-face index, through
the search graph and as direct calls. The 10 k (and 100 k) indexes are synthesized from real vectors: the 59
faces of testdata/expressions and testdata/identities, each repeated with Gaussian jitter of 10 % of the
per-dimension spread, written with ExpressionIndex.put_file in files of 100 faces.
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

import numpy as np
from _harness import REPO, median_ms

from facepipe.apps.expression_search.descriptor import (
    BlendshapeDescriptor,
    GeometryDescriptor,
    LandmarkDescriptor,
    fit_metric,
)
from facepipe.apps.expression_search.evaluation import leave_one_out, lopo_metric
from facepipe.apps.expression_search.index import ExpressionIndex
from facepipe.apps.expression_search.indexer import EmbedOptions, FaceEmbedder, face_vectors, index_paths
from facepipe.apps.expression_search.query import ExpressionSearch, QueryOptions
from facepipe.io.image import read_image
from facepipe.solutions.face_landmarker import FaceLandmarker


def accuracy(shared: Path) -> None:
    root = shared / "testdata" / "expressions"
    paths = sorted(root.glob("*/*"))
    lm = FaceLandmarker(EmbedOptions(max_num_faces=1).landmarker_options())
    images = [read_image(p) for p in paths]
    results = [lm.detect(im) for im in images]
    labels = np.array([p.parent.name for p in paths])
    persons = np.array([p.name[:7] if p.name.startswith("yale_") else p.name for p in paths])

    def stack(desc):
        return np.concatenate([desc.describe(im, r) for im, r in zip(images, results)]).astype(np.float64)

    geo = np.concatenate([GeometryDescriptor(metric="none").features(r) for r in results])
    blend = stack(BlendshapeDescriptor())

    def lopo(features, reg=0.1):
        return lopo_metric(features, labels, persons, lambda x, y: fit_metric(x, y, reg=reg))

    landmarks = stack(LandmarkDescriptor())
    shipped = stack(GeometryDescriptor())
    rows = [
        ("landmarks (raw 2-D, IOD-scaled; baseline)", lambda q: landmarks),
        ("blendshapes (52 Tasks scores; baseline)", lambda q: blend),
        ("geometry, no metric", lambda q: geo),
        ("blendshapes + whitening (LOPO)", lopo(blend)),
        ("geometry + blendshapes + whitening (LOPO)", lopo(np.hstack([geo, blend]))),
        ("geometry + whitening reg 1.0 (LOPO)", lopo(geo, 1.0)),
        ("geometry + whitening (LOPO) = shipped design", lopo(geo)),
        ("shipped matrix (fitted on these 29: optimistic)", lambda q: shipped),
    ]
    print(f"\nAccuracy on {root} ({len(paths)} faces, {len(set(labels))} labels; 'anger' has 1 photo, so P@1 <= "
          f"{(len(paths) - 1) / len(paths):.3f})")
    print("| descriptor | P@1 | mean P@3 | top match: other person, same label | same person, other label |")
    print("|---|---|---|---|---|")
    for name, fn in rows:
        r = leave_one_out(fn, labels, persons)
        p1, p3, a, b, n = r.p_at_1, r.p_at_3, r.other_person_same_label, r.same_person_other_label, r.repeated
        print(f"| {name} | {p1:.3f} | {p3:.3f} | {a}/{n} ({a / n:.0%}) | {b}/{n} ({b / n:.0%}) |")


def synthetic_index(path: Path, base: tuple[np.ndarray, np.ndarray, np.ndarray], n: int,
                    rng: np.random.Generator, descriptor_id: str) -> float:
    """Write n jittered copies of the real (vectors, boxes, paths) into a new index; returns seconds.

    Paths are synthetic (one "file" per 100 faces), so the graph renders their tiles as "missing" (read once,
    then cached, as real tiles are)."""
    vectors, boxes, paths = base
    spread = vectors.std(0) + 1e-6
    dim = vectors.shape[1]
    start = time.perf_counter()
    with ExpressionIndex(path, descriptor_id, dim) as index:
        for f in range(0, n, 100):
            m = min(100, n - f)
            pick = rng.integers(0, len(vectors), m)
            v = vectors[pick] + rng.normal(size=(m, dim)) * 0.1 * spread
            # One synthetic "file" per 100 faces; the boxes point into the source photos.
            index.put_file(f"/synthetic/{f:07d}.jpg", 1, 1, boxes=boxes[pick], vectors=v.astype(np.float32))
    return time.perf_counter() - start


def interleaved_ms(fns: list, repeats: int, warmup: int = 3) -> list[float]:
    """Median ms of each function, timed in rounds (one call of each per round) so they share the load."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
    return [float(np.median(t)) for t in times]


def speed(shared: Path, quick: bool) -> None:
    from facepipe.io.video import VideoReader

    os.environ.setdefault("FACEPIPE_NUM_THREADS", "1")
    photos = sorted((shared / "testdata" / "expressions").glob("*/*")) + sorted(
        (shared / "testdata" / "identities").glob("*/*"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_search."))
    embedder = FaceEmbedder(EmbedOptions(num_threads=1))
    real = tmp / "real.idx"
    with ExpressionIndex(real, embedder.descriptor.id, embedder.descriptor.dim) as index:
        report = index_paths(index, photos, embedder)
        with index._lock:
            vectors, _, boxes, paths = index._arrays()
        base = (vectors.astype(np.float64), boxes, paths)
    print(f"\nIndexing, 1 thread: {len(photos)} photos ({report.faces} faces) in {report.seconds:.2f} s ="
          f" {len(photos) / report.seconds:.1f} photos/s (read + landmarker + blendshapes + geometry + store)")

    with VideoReader(shared / "testdata" / "videos" / "lp_s18_woman_indoor.mp4") as reader:
        frame = next(iter(reader)).image
    assert frame.shape[:2] == (720, 1280), frame.shape
    rng = np.random.default_rng(0)
    repeats = 10 if quick else 30
    print(f"\nQuery of one 1280x720 frame, 1 thread, median of {repeats} rounds; each round times the floor"
          " (FaceLandmarker with blendshapes and matrices alone), the direct calls and the graph back to back,"
          " so all three see the same machine load:")
    landmarker = FaceLandmarker(EmbedOptions(num_threads=1).landmarker_options())
    faces = landmarker.detect(frame)
    describe_ms = median_ms(lambda: face_vectors(embedder.descriptor, frame, faces), repeats, 3)
    print(f"descriptor of the frame's face from the landmarker's result: {describe_ms:.2f} ms")
    print("| index | build s | file MB | search only ms (top 3) | descriptor + search ms | floor ms |"
          " frame -> top 3, direct ms | graph, no picture ms | graph + picture ms | graph / floor | load s |"
          " in memory MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (10_000,) if quick else (10_000, 100_000):
        path = tmp / f"syn{n}.idx"
        build = synthetic_index(path, base, n, rng, embedder.descriptor.id)
        with ExpressionIndex(path, embedder.descriptor.id, embedder.descriptor.dim) as index:
            tracemalloc.start()
            t0 = time.perf_counter()
            len(index)  # loads the vectors
            load_s = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            with index._lock:
                vectors, norms, boxes, paths = index._arrays()
            held = (vectors.nbytes + norms.nbytes + boxes.nbytes + paths.nbytes
                    + sum(sys.getsizeof(p) for p in set(paths.tolist())))
            query = base[0][:1].astype(np.float32)
            search_ms = median_ms(lambda ix=index, v=query: ix.search(v, 3), repeats, 3)

            def direct(ix=index):  # the floor's landmarker, then the descriptor and the search
                _, _, v = face_vectors(embedder.descriptor, frame, landmarker.detect(frame))
                return ix.search(v, 3)

            with ExpressionSearch(index, QueryOptions(k=3, num_threads=1)) as search, \
                    ExpressionSearch(index, QueryOptions(k=3, num_threads=1, picture=False)) as bare:
                floor_ms, direct_ms, graph_ms, bare_ms, after_ms = interleaved_ms(
                    [lambda: landmarker.detect(frame), direct, lambda s=search: s.query_image(frame),
                     lambda s=bare: s.query_image(frame),
                     lambda ix=index: ix.search(face_vectors(embedder.descriptor, frame, faces)[2], 3)], repeats)
        print(f"| {n:,} faces | {build:.1f} | {path.stat().st_size / 1e6:.1f} | {search_ms:.2f} | {after_ms:.2f} |"
              f" {floor_ms:.1f} |"
              f" {direct_ms:.1f} | {bare_ms:.1f} |"
              f" {graph_ms:.1f} | {graph_ms / floor_ms:.2f} | {load_s:.2f} |"
              f" {held / 1e6:.1f} (peak while loading {peak / 1e6:.1f}) |")
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
