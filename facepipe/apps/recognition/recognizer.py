"""`FaceRecognizer`: who is in a photo, against a gallery.

    from facepipe.apps.recognition import FaceRecognizer
    rec = FaceRecognizer("people.sqlite3")          # or a GalleryStore, or "postgresql://…"
    found = rec.identify(rgb)                       # Identities: xyxy, names, distances, …
    found[found.known].names                        # mask indexing like every facepipe result

Faces are found by `FaceSpotter` (BlazeFace + Face Mesh five points), embedded by a
`FaceEmbedder` (dlib's ResNet by default; any ArcFace-family ONNX model through
`OnnxFaceEmbedder`) in one batch per image, and matched by k-NN voting (`matching`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facepipe.apps.recognition.faces import FaceSpotter, SpottedFaces, SpotterOptions
from facepipe.apps.recognition.matching import Matches, MatchOptions, vote
from facepipe.apps.recognition.store import UNKNOWN, GalleryInfo, GalleryStore, open_gallery
from facepipe.results import _Indexable, as_f32
from facepipe.runtime.options import RuntimeOptions

__all__ = ["FaceRecognizer", "Identities", "RecognizerOptions", "default_embedder"]


@dataclass(frozen=True)
class RecognizerOptions:
    """spotter: how faces are found (SpotterOptions). match: k and distance threshold (MatchOptions)."""

    spotter: SpotterOptions = field(default_factory=SpotterOptions)
    match: MatchOptions = field(default_factory=MatchOptions)


@dataclass(frozen=True, eq=False)
class Identities(_Indexable):
    """N faces of one image with who they are.

    xyxy: (N,4) float32 pixel boxes. scores: (N,) detection scores.
    names: (N,) object array of str, "unknown" (`UNKNOWN`) when no one in the gallery is close enough.
    distances: (N,) float32 distance to the named person's nearest embedding (to anyone's, if unknown).
    confidence: (N,) float32 share of the neighbours' votes the named person got (0 if unknown).
    track_ids: (N,) int64 video track of each face (-1 in photos).
    points5: (N,5,2) alignment points. embeddings: (N,dim) float32.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    names: np.ndarray
    distances: np.ndarray
    confidence: np.ndarray
    track_ids: np.ndarray
    points5: np.ndarray
    embeddings: np.ndarray
    image_size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "xyxy", as_f32(self.xyxy, (4,)))
        n = len(self.xyxy)
        object.__setattr__(self, "scores", as_f32(self.scores, ()).reshape(-1))
        object.__setattr__(self, "names", np.asarray(self.names, dtype=object).reshape(-1))
        object.__setattr__(self, "distances", as_f32(self.distances, ()).reshape(-1))
        object.__setattr__(self, "confidence", as_f32(self.confidence, ()).reshape(-1))
        object.__setattr__(self, "track_ids", np.asarray(self.track_ids, np.int64).reshape(-1))
        object.__setattr__(self, "points5", as_f32(self.points5, (5, 2)))
        emb = np.asarray(self.embeddings, np.float32)
        object.__setattr__(self, "embeddings", emb.reshape(n, -1) if emb.size else np.zeros((n, 0), np.float32))
        for name in ("scores", "names", "distances", "confidence", "track_ids", "points5", "embeddings"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Identities fields disagree on N: xyxy has {n}, {name} {len(getattr(self, name))}")

    @classmethod
    def empty(cls, image_size: tuple[int, int] = (0, 0), dim: int = 0) -> Identities:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, object), np.zeros(0), np.zeros(0), np.zeros(0),
                   np.zeros((0, 5, 2)), np.zeros((0, dim)), image_size)

    @classmethod
    def of(cls, faces: SpottedFaces, embeddings: np.ndarray, matches: Matches,
           track_ids: np.ndarray | None = None) -> Identities:
        n = len(faces)
        ids = np.full(n, -1, np.int64) if track_ids is None else track_ids
        return cls(faces.xyxy, faces.scores, matches.names, matches.distances, matches.confidence, ids,
                   faces.points5, embeddings, faces.image_size)

    @property
    def known(self) -> np.ndarray:
        """(N,) bool: the face matched someone in the gallery."""
        return self.names != UNKNOWN

    def to_faces(self, decimals: int = 2) -> list[dict[str, Any]]:
        """Per face: box [x1,y1,x2,y2] pixels, score, name (or "unknown"), distance, confidence, track_id."""
        return [
            {"box": [round(float(v), decimals) for v in b], "score": round(float(s), 4), "name": str(n),
             "distance": round(float(d), 4) if np.isfinite(d) else None, "confidence": round(float(c), 3),
             "track_id": int(t) if t >= 0 else None}
            for b, s, n, d, c, t in zip(self.xyxy, self.scores, self.names, self.distances, self.confidence,
                                        self.track_ids)
        ]


def default_embedder(runtime: RuntimeOptions | None = None) -> Any:
    """dlib's face recognition ResNet, run by onnxruntime (no dlib needed)."""
    from facepipe.solutions.face_embedder import DlibFaceEmbedder

    return DlibFaceEmbedder(runtime)


class FaceRecognizer:
    """Finds, embeds and names faces against a gallery.

    gallery: a GalleryStore, a file path or postgresql:// URL (opened, created on first enrollment),
        or None for the per-user default gallery file. A gallery made with another embedding model
        is refused.
    embedder: a FaceEmbedder (default: `default_embedder()`).
    """

    def __init__(self, gallery: GalleryStore | str | os.PathLike[str] | None = None,
                 options: RecognizerOptions | None = None, *, embedder: Any = None,
                 spotter: FaceSpotter | None = None) -> None:
        self.options = options or RecognizerOptions()
        self.embedder = embedder if embedder is not None else default_embedder(self.options.spotter.runtime)
        self.info = GalleryInfo.of(self.embedder)
        if isinstance(gallery, GalleryStore):
            gallery.info.check_compatible(self.info, gallery.location)
            self.gallery, self._owns_gallery = gallery, False
        else:
            self.gallery, self._owns_gallery = open_gallery(gallery, self.info), True
        self.spotter = spotter or FaceSpotter(self.options.spotter)

    @property
    def threshold(self) -> float:
        return self.options.match.threshold_for(self.info.metric)

    def embed_faces(self, image: np.ndarray) -> tuple[SpottedFaces, np.ndarray]:
        """The faces of `image` and their (N,dim) embeddings (one embedder run for all)."""
        faces = self.spotter.spot(image)
        if len(faces) == 0:
            return faces, np.zeros((0, self.info.dim), np.float32)
        return faces, np.asarray(self.embedder.embed(image, faces.points5), np.float32)

    def match(self, embeddings: np.ndarray) -> Matches:
        """Name each (N,dim) embedding by k-NN voting over the gallery."""
        neighbours = self.gallery.search(embeddings, self.options.match.k)
        return vote(neighbours, self.threshold)

    def identify(self, image: np.ndarray) -> Identities:
        """Every face of one RGB uint8 image, named or "unknown"."""
        faces, emb = self.embed_faces(image)
        if len(faces) == 0:
            return Identities.empty(faces.image_size, self.info.dim)
        return Identities.of(faces, emb, self.match(emb))

    def close(self) -> None:
        if self._owns_gallery:
            self.gallery.close()

    def __enter__(self) -> FaceRecognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
