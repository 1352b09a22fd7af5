"""Benchmark: facepipe's face embeddings vs face_recognition 1.3 (dlib), same photos, same run, one thread.

Per face, on the shared identities/ photos (one face each):

* embed incl. alignment: facepipe DlibFaceEmbedder.embed(image, keypoints5) (similarity warp + ONNX
  network) vs face_recognition.face_encodings(image, [box]) (dlib's 5-point shape model + chip + network);
* detection (not part of the above, reported apart): facepipe's Face Landmarker (detector + 478-point
  mesh, where keypoints5 come from) and BlazeFace alone (for detector-keypoint alignment) vs
  face_recognition.face_locations (HOG, upsampled once: its default);
* batch: N aligned chips in one embed_chips call vs face_encodings over N faces, ms per face.

Accuracy on the same photos: leave-one-out rank-1 (every other photo is the gallery) and pair accuracy
(balanced over same/different-person pairs) at face_recognition's default tolerance 0.6, and at the
best threshold for each (optimistic, for comparison only). A face a side does not find counts as a miss.

    python benchmarks/bench_embed.py --fr-python /work/venvs/fr/bin/python

The face_recognition side runs in its own interpreter (dlib-bin, face_recognition 1.3,
face_recognition_models; never facepipe's venv), with OMP/OpenBLAS threads set to 1.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import benchmark_parser, median_ms, parse_benchmark_args, run_reference  # noqa: E402
from recognition_eval import best_pair_threshold, identity_photos, leave_one_out_rank1, pair_accuracy  # noqa: E402

TOLERANCE = 0.6  # face_recognition's default

FR_SCRIPT = r"""
import face_recognition
photos, batch = cfg["photos"], cfg["batch"]
det_ms, emb_ms, encodings = [], [], []
for p in photos:
    img = load(p)
    det_ms.append(timed(lambda: face_recognition.face_locations(img)))
    boxes = face_recognition.face_locations(img)
    if not boxes:
        encodings.append(None)
        continue
    box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    emb_ms.append(timed(lambda: face_recognition.face_encodings(img, [box])))
    encodings.append(face_recognition.face_encodings(img, [box])[0].tolist())
img = load(photos[0])
box = face_recognition.face_locations(img)[0]
batch_ms = timed(lambda: face_recognition.face_encodings(img, [box] * batch)) / batch
print(json.dumps({"det_ms": det_ms, "emb_ms": emb_ms, "batch_ms": batch_ms, "encodings": encodings}))
"""


def _accuracy(vectors: list[np.ndarray | None], labels: list[str]) -> tuple[float, float, float, float]:
    """rank-1 (misses count as wrong), pair accuracy at TOLERANCE, best threshold and its pair accuracy."""
    found = [i for i, v in enumerate(vectors) if v is not None]
    emb = np.array([vectors[i] for i in found])
    lab = [labels[i] for i in found]
    rank1 = leave_one_out_rank1(emb, lab) * len(found) / len(vectors)
    threshold, best = best_pair_threshold(emb, lab)
    return rank1, pair_accuracy(emb, lab, TOLERANCE), threshold, best


def main(argv: list[str] | None = None) -> None:
    p = benchmark_parser(__doc__, repeats=7, warmup=2, shared_help="folder with testdata/identities")
    p.add_argument("--fr-python", default=os.environ.get("FACEPIPE_FR_PYTHON", "/work/venvs/fr/bin/python"),
                   help="interpreter with face_recognition 1.3 and dlib (env FACEPIPE_FR_PYTHON)")
    p.add_argument("--batch", type=int, default=32, help="faces per batched call")
    args = parse_benchmark_args(p, argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

    import facepipe as fp
    from facepipe.io.image import read_image
    from facepipe.runtime.options import RuntimeOptions
    from facepipe.solutions.face_embedder import DlibFaceEmbedder, five_point_from_detection, five_point_landmarks

    runtime = RuntimeOptions(num_threads=args.threads or 1)
    photos = identity_photos(args.shared / "testdata" / "identities")
    labels = [person for _, person in photos]
    embedder = DlibFaceEmbedder(runtime)
    landmarker = fp.FaceLandmarker(fp.FaceLandmarkerOptions(num_faces=1, runtime=runtime))
    detector = fp.FaceDetector(fp.FaceDetectorOptions(runtime=runtime))
    r, w = args.repeats, args.warmup

    det_ms, blaze_ms, emb_ms, chips = [], [], [], []
    mesh_vectors: list[np.ndarray | None] = []
    det_vectors: list[np.ndarray | None] = []
    for path, _ in photos:
        image = read_image(path)
        det_ms.append(median_ms(lambda image=image: landmarker.detect(image), r, w))
        blaze_ms.append(median_ms(lambda image=image: detector.detect(image), r, w))
        faces = landmarker.detect(image)
        if len(faces) == 0:
            mesh_vectors.append(None)
        else:
            kp5 = five_point_landmarks(faces.pixels)
            emb_ms.append(median_ms(lambda image=image, kp5=kp5: embedder.embed(image, kp5), r, w))
            mesh_vectors.append(embedder.embed(image, kp5)[0])
            chips.append(embedder.align(image, kp5)[0])
        boxes = detector.detect(image)
        if len(boxes) == 0:
            det_vectors.append(None)
        else:
            best = int(np.argmax(boxes.scores))
            det_vectors.append(embedder.embed(image, five_point_from_detection(boxes.keypoints[best : best + 1]))[0])
    batch = np.stack([chips[i % len(chips)] for i in range(args.batch)])
    batch_ms = median_ms(lambda: embedder.embed_chips(batch), r, w) / args.batch
    single_chip_ms = median_ms(lambda: embedder.embed_chips(batch[:1]), r, w)

    ref = None
    if args.fr_python and Path(args.fr_python).exists():
        t0 = time.perf_counter()
        ref = run_reference(
            args.fr_python, FR_SCRIPT,
            {"photos": [str(p) for p, _ in photos], "batch": args.batch, "warmup": w, "repeats": r},
        )  # fmt: skip
        print(f"(face_recognition side took {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    else:
        print(f"no face_recognition interpreter at {args.fr_python!r}: reference columns left empty", file=sys.stderr)

    med = float(np.median(emb_ms))
    print(f"{len(photos)} photos of {len(set(labels))} people, 1 thread, median over photos of the per-photo median")
    print(f"{'per face (ms)':<44} {'face_recognition':>16} {'facepipe':>9} {'speed-up':>9}")

    def row(case: str, fr_ms: float | None, fp_ms: float) -> None:
        fr_txt = f"{fr_ms:16.2f}" if fr_ms is not None else f"{'-':>16}"
        ratio = f"{fr_ms / fp_ms:8.2f}x" if fr_ms else f"{'-':>9}"
        print(f"{case:<44} {fr_txt} {fp_ms:9.2f} {ratio}")

    row("embed incl. alignment (1 face per call)", ref and float(np.median(ref["emb_ms"])), med)
    row("  network only (1 chip)", None, single_chip_ms)
    row(f"batch of {args.batch} faces, per face", ref and ref["batch_ms"], batch_ms)
    row("detection: HOG vs Face Landmarker (mesh)", ref and float(np.median(ref["det_ms"])), float(np.median(det_ms)))
    row("detection: HOG vs BlazeFace only", ref and float(np.median(ref["det_ms"])), float(np.median(blaze_ms)))
    print()
    print(f"{'accuracy':<44} {'rank-1':>7} {'pairs@0.6':>10} {'best thr':>9} {'pairs@best':>11}")
    sides = [("facepipe (mesh keypoints)", mesh_vectors), ("facepipe (BlazeFace keypoints)", det_vectors)]
    if ref is not None:
        sides.insert(0, ("face_recognition 1.3", [None if e is None else np.array(e) for e in ref["encodings"]]))
    for name, vectors in sides:
        rank1, pairs, thr, best = _accuracy(vectors, labels)
        missed = sum(v is None for v in vectors)
        label = name + (f" ({missed} missed)" if missed else "")
        print(f"{label:<44} {rank1:7.3f} {pairs:10.3f} {thr:9.3f} {best:11.3f}")


if __name__ == "__main__":
    main()
