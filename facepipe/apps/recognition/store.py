"""The people gallery behind one small interface: who is enrolled, with which embeddings.

A gallery is bound to one embedding model: its `GalleryInfo` (model id, vector
dimension, distance metric) is written when the gallery is created, and opening
it with another embedder is refused, since vectors of two models are not
comparable. Two back-ends implement `GalleryStore`:

* `SqliteGallery` (default): one file, per user, WAL journal, mode 0600;
* `PostgresGallery`: PostgreSQL with pgvector, for a gallery shared by a team.

`open_gallery(location, info)` picks the back-end from the location
(`postgresql://…` or a file path; None is the per-user default file).
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facepipe.errors import FacepipeError

__all__ = [
    "GalleryError",
    "GalleryInfo",
    "GalleryRecord",
    "GalleryStore",
    "Neighbours",
    "PersonSummary",
    "UNKNOWN",
    "check_name",
    "default_gallery_path",
    "open_gallery",
]

UNKNOWN = "unknown"  # the name reported for a face matching no one; reserved, cannot be enrolled

METRICS = ("euclidean", "cosine")


class GalleryError(FacepipeError):
    """The gallery cannot be opened, read or written, or does not fit the embedder."""


@dataclass(frozen=True)
class GalleryInfo:
    """The embedding model a gallery holds vectors of."""

    model_id: str
    dim: int
    metric: str = "euclidean"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if not isinstance(self.dim, int) or not 1 <= self.dim <= 16000:
            raise ValueError(f"dim must be an integer in [1, 16000], got {self.dim!r}")

    @classmethod
    def of(cls, embedder: object) -> GalleryInfo:
        """The info of a FaceEmbedder (its model_id, dim and metric attributes)."""
        return cls(str(embedder.model_id), int(embedder.dim), str(embedder.metric))  # type: ignore[attr-defined]

    def check_compatible(self, other: GalleryInfo, where: str, other_is: str = "the embedder makes") -> None:
        """GalleryError unless `other` (the embedder's, or an import file's) is this gallery's model."""
        if other != self:
            raise GalleryError(
                f"{where}: gallery holds {self.dim}-d {self.metric} embeddings of model {self.model_id!r};"
                f" {other_is} {other.dim}-d {other.metric} embeddings of {other.model_id!r} (vectors of two"
                " models cannot be compared: use another gallery, --gallery PATH)"
            )


@dataclass(frozen=True)
class PersonSummary:
    name: str
    embeddings: int
    thumbnails: int


@dataclass(frozen=True)
class GalleryRecord:
    """One enrolled embedding, as exported and imported."""

    name: str
    embedding: np.ndarray  # (dim,) float32
    source: str = ""  # where it came from (file name), informational
    thumbnail: bytes | None = None  # JPEG of the aligned face, only with --keep-thumbnails


@dataclass(frozen=True)
class Neighbours:
    """The k nearest gallery embeddings of Q queries, nearest first.

    names: (Q,k) str array ("" where the gallery has fewer than k embeddings).
    distances: (Q,k) float32 in the gallery's metric (inf where no neighbour).
    """

    names: np.ndarray
    distances: np.ndarray

    @classmethod
    def empty(cls, q: int, k: int) -> Neighbours:
        return cls(np.full((q, k), "", dtype=object), np.full((q, k), np.inf, np.float32))


_NAME_RE = re.compile(r"^[^\x00-\x1f/\\]{1,200}$")


def check_name(name: str) -> str:
    """A person's name as stored: stripped; refuses empty, control characters, slashes and 'unknown'."""
    clean = name.strip()
    if not _NAME_RE.match(clean) or clean in (".", ".."):
        raise GalleryError(f"invalid person name {name!r}: 1-200 characters, no slashes or control characters")
    if clean.lower() == UNKNOWN:
        raise GalleryError(f"{clean!r} is reserved for faces that match no one; choose another name")
    return clean


def as_query(vectors: np.ndarray, dim: int, where: str) -> np.ndarray:
    """(Q,dim) float32 C-contiguous, refusing another width (a vector of another model)."""
    q = np.asarray(vectors, np.float32)
    if q.ndim == 1:
        q = q[None]
    if q.ndim != 2 or q.shape[1] != dim:
        raise GalleryError(f"{where}: embeddings of shape {q.shape} do not fit this {dim}-d gallery")
    if not np.all(np.isfinite(q)):
        raise GalleryError(f"{where}: embeddings contain NaN or infinite values")
    return np.ascontiguousarray(q)


class GalleryStore(ABC):
    """A gallery of people's face embeddings. Writes are transactions: all of a call or nothing."""

    info: GalleryInfo
    location: str

    @abstractmethod
    def add(self, name: str, embeddings: np.ndarray, sources: Sequence[str] = (),
            thumbnails: Sequence[bytes | None] = ()) -> int:
        """Enroll (N,dim) embeddings under `name` (added to the person's earlier ones); returns N."""

    @abstractmethod
    def add_records(self, records: Sequence[GalleryRecord]) -> int:
        """Enroll many people's embeddings in one transaction (import)."""

    @abstractmethod
    def people(self) -> list[PersonSummary]:
        """Everyone enrolled, by name."""

    @abstractmethod
    def remove(self, name: str) -> int:
        """Delete a person and all their embeddings and thumbnails; returns how many embeddings went.
        An unknown name is a GalleryError listing the known ones."""

    @abstractmethod
    def records(self) -> list[GalleryRecord]:
        """Every embedding with its person, source and thumbnail (export)."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        """The k nearest embeddings of each (Q,dim) query."""

    def close(self) -> None:  # noqa: B027 - optional for back-ends without resources
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> GalleryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return sum(p.embeddings for p in self.people())

    def unknown_name_error(self, name: str) -> GalleryError:
        known = ", ".join(p.name for p in self.people()) or "nobody is enrolled"
        return GalleryError(f"{self.location}: no person named {name!r} in the gallery (known: {known})")


@dataclass
class _Validated:
    name: str
    vectors: np.ndarray
    sources: list[str] = field(default_factory=list)
    thumbnails: list[bytes | None] = field(default_factory=list)


def validate_add(store: GalleryStore, name: str, embeddings: np.ndarray, sources: Sequence[str],
                 thumbnails: Sequence[bytes | None]) -> _Validated:
    """Shared argument checks of `add` for every back-end."""
    vectors = as_query(embeddings, store.info.dim, store.location)
    n = len(vectors)
    src = list(sources) or [""] * n
    th = list(thumbnails) or [None] * n
    if len(src) != n or len(th) != n:
        raise ValueError(f"{n} embeddings but {len(src)} sources and {len(th)} thumbnails")
    return _Validated(check_name(name), vectors, src, th)


def default_gallery_path() -> Path:
    """$FACEPIPE_GALLERY, else $XDG_DATA_HOME/facepipe/gallery.sqlite3 (~/.local/share by default)."""
    env = os.environ.get("FACEPIPE_GALLERY")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "facepipe" / "gallery.sqlite3"


def is_postgres_url(location: str | os.PathLike[str] | None) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_gallery(location: str | os.PathLike[str] | None, info: GalleryInfo | None = None, *,
                 create: bool = True) -> GalleryStore:
    """Open (or, with `create` and an `info`, create) the gallery at `location`.

    info: the embedder's; refused if the gallery was made with another model. None opens an existing
    gallery whatever its model (listing, removing, exporting need no embedder).
    """
    if is_postgres_url(location):
        from facepipe.apps.recognition.pg_store import PostgresGallery

        return PostgresGallery(str(location), info, create=create)
    from facepipe.apps.recognition.sqlite_store import SqliteGallery

    path = default_gallery_path() if location is None else Path(location).expanduser()
    return SqliteGallery(path, info, create=create)
