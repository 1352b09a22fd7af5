"""Shared helpers for face-recognition evaluation (benchmarks, tools; both embedder and gallery work).

- `dlib_faces(npz)`: the reference faces tools/make_recognition_goldens.py recorded with dlib;
- `facepipe_keypoints5(path)`: facepipe's keypoints5 for every face the Face Landmarker finds in a photo;
- `match_faces(kp5, shape5)`: pair facepipe faces with dlib faces of the same photo;
- `identity_photos(root)`: the people/NAME/*.jpg layout as (path, name) pairs;
- `leave_one_out_rank1`, `pair_accuracy`, `best_pair_threshold`: recognition accuracy from embeddings.

Not a library module: import it with the repository root (or benchmarks/) on sys.path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DlibFaces",
    "best_pair_threshold",
    "dlib_faces",
    "distances",
    "facepipe_keypoints5",
    "identity_photos",
    "leave_one_out_rank1",
    "match_faces",
    "pair_accuracy",
]

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class DlibFaces:
    files: np.ndarray  # (M,) photo paths relative to testdata/
    boxes: np.ndarray  # (M,4) x1,y1,x2,y2
    shape5: np.ndarray  # (M,5,2) dlib's 5-point shape: eye corners (image-right eye first), nose base
    chip_to_image: np.ndarray  # (M,2,3) dlib's 150x150 chip placement
    descriptors: np.ndarray  # (M,128) face_recognition.face_encodings
    golden_index: np.ndarray  # (G,) rows that also have dlib's chip stored
    golden_chips: np.ndarray  # (G,150,150,3) uint8
    golden_descriptors: np.ndarray  # (G,128) dlib's network on exactly those chips


def dlib_faces(path: str | Path) -> DlibFaces:
    with np.load(path, allow_pickle=False) as z:
        return DlibFaces(**{k: z[k] for k in DlibFaces.__dataclass_fields__})


def facepipe_keypoints5(photo: str | Path, max_faces: int = 64) -> np.ndarray:
    """(N,5,2) keypoints5 of every face facepipe's Face Landmarker finds in `photo` (N may be 0)."""
    import facepipe as fp
    from facepipe.io.image import read_image
    from facepipe.solutions.face_embedder import five_point_landmarks

    image = read_image(photo)
    with_landmarks = fp.FaceLandmarker(fp.FaceLandmarkerOptions(num_faces=max_faces)).detect(image)
    if len(with_landmarks) == 0:
        return np.zeros((0, 5, 2), np.float32)
    return five_point_landmarks(with_landmarks.pixels)


def match_faces(kp5: np.ndarray, shape5: np.ndarray, max_offset: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (facepipe face i, dlib face j) whose eye midpoints lie within
    `max_offset` x dlib's inter-eye distance, nearest first."""
    if len(kp5) == 0 or len(shape5) == 0:
        return []
    ours = kp5[:, :2].mean(axis=1)
    theirs = shape5[:, :4].mean(axis=1)
    eye_dist = np.linalg.norm(shape5[:, [0, 1]].mean(axis=1) - shape5[:, [2, 3]].mean(axis=1), axis=1)
    d = np.linalg.norm(ours[:, None] - theirs[None], axis=2) / np.maximum(eye_dist[None], 1e-6)
    pairs, used_i, used_j = [], set(), set()
    for flat in np.argsort(d, axis=None):
        i, j = np.unravel_index(flat, d.shape)
        if d[i, j] > max_offset:
            break
        if i not in used_i and j not in used_j:
            pairs.append((int(i), int(j)))
            used_i.add(i)
            used_j.add(j)
    return pairs


def identity_photos(root: str | Path) -> list[tuple[Path, str]]:
    """(photo, person) for root/PERSON/*.jpg|jpeg|png, sorted."""
    out = []
    for person in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        out += [(f, person.name) for f in sorted(person.iterdir()) if f.suffix.lower() in PHOTO_SUFFIXES]
    return out


def distances(embeddings: np.ndarray, metric: str) -> np.ndarray:
    """(N,N) pairwise distances: euclidean, or cosine distance 1 - cos for metric='cosine'."""
    e = np.asarray(embeddings, np.float64)
    if metric == "cosine":
        u = e / np.linalg.norm(e, axis=1, keepdims=True)
        return 1.0 - u @ u.T
    sq = (e**2).sum(axis=1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * e @ e.T, 0.0))


def leave_one_out_rank1(embeddings: np.ndarray, labels: list[str], metric: str = "euclidean") -> float:
    """Fraction of faces whose nearest other face (all others as the gallery) is the same person."""
    d = distances(embeddings, metric)
    np.fill_diagonal(d, np.inf)
    labels_arr = np.asarray(labels)
    return float(np.mean(labels_arr[d.argmin(axis=1)] == labels_arr))


def _pairs(embeddings: np.ndarray, labels: list[str], metric: str) -> tuple[np.ndarray, np.ndarray]:
    d = distances(embeddings, metric)
    labels_arr = np.asarray(labels)
    iu = np.triu_indices(len(labels_arr), k=1)
    return d[iu], (labels_arr[:, None] == labels_arr[None])[iu]


def pair_accuracy(embeddings: np.ndarray, labels: list[str], threshold: float, metric: str = "euclidean") -> float:
    """Balanced accuracy over all pairs: same-person pairs must be closer than `threshold`, others not.

    Balanced (mean of the two rates) because different-person pairs outnumber same-person ones ~10:1."""
    dist, same = _pairs(embeddings, labels, metric)
    return float(((dist[same] < threshold).mean() + (dist[~same] >= threshold).mean()) / 2)


def best_pair_threshold(embeddings: np.ndarray, labels: list[str], metric: str = "euclidean") -> tuple[float, float]:
    """(threshold, balanced accuracy) maximising pair_accuracy: an optimistic bound, for comparison only."""
    dist, _ = _pairs(embeddings, labels, metric)
    candidates = np.unique(dist)
    cuts = (candidates[:-1] + candidates[1:]) / 2 if len(candidates) > 1 else candidates
    scores = [pair_accuracy(embeddings, labels, t, metric) for t in cuts]
    k = int(np.argmax(scores))
    return float(cuts[k]), float(scores[k])
