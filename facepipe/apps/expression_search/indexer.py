"""Adding photos to an expression index: every face (or the largest) of each image, incrementally."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facepipe.apps.expression_search.descriptor import Descriptor, DescriptorSpec, make_descriptor
from facepipe.apps.expression_search.identity import IdentityEmbedder
from facepipe.apps.expression_search.index import ExpressionIndex, FileRecord
from facepipe.errors import FacepipeError
from facepipe.io.image import READABLE_EXTENSIONS, read_image
from facepipe.runtime.options import RuntimeOptions
from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions, FaceLandmarkerResult

log = logging.getLogger(__name__)

__all__ = ["EmbedOptions", "EmbeddedFaces", "FaceEmbedder", "IndexReport", "embed_faces", "face_vectors", "index_paths",
           "list_images"]


@dataclass(frozen=True)
class EmbedOptions:
    """max_num_faces: faces read per image; largest_only: keep only the biggest face of each image;
    identity: also compute each face's recognition embedding (dlib), for identity-normalised search."""

    max_num_faces: int = 4
    largest_only: bool = False
    min_detection_confidence: float = 0.5
    num_threads: int | None = None
    descriptor: DescriptorSpec = field(default_factory=DescriptorSpec)
    identity: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_num_faces, int) or self.max_num_faces < 1:
            raise ValueError(f"max_num_faces must be an integer >= 1, got {self.max_num_faces!r}")
        if not 0.0 <= self.min_detection_confidence <= 1.0:
            raise ValueError(f"min_detection_confidence must be in [0, 1], got {self.min_detection_confidence}")

    def landmarker_options(self, running_mode: str = "image") -> FaceLandmarkerOptions:
        return FaceLandmarkerOptions(
            num_faces=self.max_num_faces, min_face_detection_confidence=self.min_detection_confidence,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True,
            running_mode=running_mode, runtime=RuntimeOptions(num_threads=self.num_threads))


@dataclass(frozen=True, eq=False)
class EmbeddedFaces:
    """The faces of one image that got a finite vector: boxes (M,4) pixel xyxy, scores (M,), vectors (M,D),
    identities (M,128) recognition embeddings or None (not computed)."""

    boxes: np.ndarray
    scores: np.ndarray
    vectors: np.ndarray
    identities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)


def embed_faces(descriptor: Descriptor, image: np.ndarray, faces: FaceLandmarkerResult, largest_only: bool = False,
                identity: IdentityEmbedder | None = None) -> EmbeddedFaces:
    """The expression vectors (and, with `identity`, the recognition embeddings) of the faces of `faces`."""
    boxes = faces.bounding_boxes().astype(np.float32)
    vectors = descriptor.describe(image, faces) if len(faces) else np.zeros((0, descriptor.dim), np.float32)
    keep = np.isfinite(vectors).all(1)
    if largest_only and keep.any():
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = np.zeros_like(keep)
        keep[int(np.argmax(np.where(np.isfinite(vectors).all(1), area, -1)))] = True
    ids = None
    if identity is not None:
        ids = identity.embed(image, faces)[keep] if keep.any() else np.zeros((0, identity.dim), np.float32)
    return EmbeddedFaces(boxes[keep], np.asarray(faces.presence, np.float32)[keep], vectors[keep], ids)


def face_vectors(descriptor: Descriptor, image: np.ndarray, faces: FaceLandmarkerResult,
                 largest_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (M,4), scores (M,), vectors (M,D)) of the faces that got a finite vector."""
    found = embed_faces(descriptor, image, faces, largest_only)
    return found.boxes, found.scores, found.vectors


class FaceEmbedder:
    """Image -> EmbeddedFaces: the Tasks FaceLandmarker, then a descriptor (and the recognition embedding)."""

    def __init__(self, options: EmbedOptions | None = None) -> None:
        self.options = options or EmbedOptions()
        self.descriptor = make_descriptor(self.options.descriptor)
        self.identity = (IdentityEmbedder(RuntimeOptions(num_threads=self.options.num_threads))
                         if self.options.identity else None)
        self._landmarker = FaceLandmarker(self.options.landmarker_options())

    @property
    def identity_model(self) -> str:
        """What an index built by this embedder records as its identity model ("" for none)."""
        return self.identity.model_id if self.identity is not None else ""

    def open_index(self, path: str | os.PathLike[str]) -> ExpressionIndex:
        """Open or create the index at `path` for this embedder (refused if it was built otherwise)."""
        return ExpressionIndex(path, self.descriptor.id, self.descriptor.dim, identity_model=self.identity_model)

    def embed(self, image: np.ndarray) -> EmbeddedFaces:
        return embed_faces(self.descriptor, image, self._landmarker.detect(image), self.options.largest_only,
                           self.identity)

    def close(self) -> None:
        self._landmarker.close()


@dataclass
class IndexReport:
    """What one indexing run did, file by file (added, unchanged, no face, unreadable)."""

    added: list[FileRecord] = field(default_factory=list)
    unchanged: int = 0
    removed: int = 0
    seconds: float = 0.0

    @property
    def faces(self) -> int:
        return sum(r.faces for r in self.added)

    def with_status(self, status: str) -> list[FileRecord]:
        return [r for r in self.added if r.status == status]


def list_images(roots: Iterable[Path], recursive: bool) -> list[Path]:
    """Image files under the given folders (and files given directly), sorted, each once."""
    found: set[Path] = set()
    for root in roots:
        if root.is_file():
            found.add(root)
            continue
        pattern = root.rglob("*") if recursive else root.glob("*")
        found.update(p for p in pattern if p.is_file() and p.suffix.lower() in READABLE_EXTENSIONS)
    return sorted(found)


def index_paths(index: ExpressionIndex, paths: Iterable[Path], embedder: FaceEmbedder,
                progress: Callable[[Path], None] | None = None) -> IndexReport:
    """Add new or changed `paths` to `index` (one transaction per file); unchanged files are not read."""
    report = IndexReport()
    start = time.perf_counter()
    for path in paths:
        if progress is not None:
            progress(path)
        key = str(path.resolve())
        try:
            st = os.stat(path)
        except OSError as exc:
            report.added.append(FileRecord(key, "unreadable", 0, exc.strerror or str(exc)))
            continue
        if index.is_current(key, st.st_size, st.st_mtime_ns):
            report.unchanged += 1
            continue
        try:
            image = read_image(path)
        except FacepipeError as exc:
            message = str(exc).removeprefix(f"{path}: ")
            index.put_file(key, st.st_size, st.st_mtime_ns, status="unreadable", message=message)
            report.added.append(FileRecord(key, "unreadable", 0, message))
            continue
        found = embedder.embed(image)
        status = "ok" if len(found) else "no_face"
        index.put_file(key, st.st_size, st.st_mtime_ns, boxes=found.boxes, scores=found.scores,
                       vectors=found.vectors, identities=found.identities, status=status)
        report.added.append(FileRecord(key, status, len(found)))
    report.seconds = time.perf_counter() - start
    return report
