"""`MemoryGallery`: a gallery that lives in this process only (people named by a photo on the
command line, e.g. `facepipe anonymize --only-photo`, or a copy of a stored gallery plus such people).

Nothing is written anywhere; it is gone when the process ends. Searched exactly (`ExactIndex`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from facepipe.apps.recognition.matching import ExactIndex
from facepipe.apps.recognition.store import (
    GalleryInfo,
    GalleryRecord,
    GalleryStore,
    Neighbours,
    PersonSummary,
    as_query,
    check_name,
    validate_add,
)

__all__ = ["MemoryGallery"]


class MemoryGallery(GalleryStore):
    """A gallery held in memory. Thread-safe."""

    def __init__(self, info: GalleryInfo, records: Sequence[GalleryRecord] = (), location: str = "<memory>") -> None:
        self.info = info
        self.location = location
        self._lock = threading.Lock()
        self._records: list[GalleryRecord] = []
        self._index: ExactIndex | None = None
        if records:
            self.add_records(records)

    def add(self, name: str, embeddings: np.ndarray, sources: Sequence[str] = (),
            thumbnails: Sequence[bytes | None] = ()) -> int:
        v = validate_add(self, name, embeddings, sources, thumbnails)
        return self.add_records([GalleryRecord(v.name, e, s, t)
                                 for e, s, t in zip(v.vectors, v.sources, v.thumbnails)])

    def add_records(self, records: Sequence[GalleryRecord]) -> int:
        checked = [GalleryRecord(check_name(r.name), as_query(r.embedding, self.info.dim, self.location)[0],
                                 r.source, r.thumbnail) for r in records]
        with self._lock:
            self._records.extend(checked)
            self._index = None
        return len(checked)

    def people(self) -> list[PersonSummary]:
        with self._lock:
            counts: dict[str, list[int]] = {}
            for r in self._records:
                c = counts.setdefault(r.name, [0, 0])
                c[0] += 1
                c[1] += r.thumbnail is not None
        return [PersonSummary(n, e, t) for n, (e, t) in sorted(counts.items())]

    def remove(self, name: str) -> int:
        name = check_name(name)
        with self._lock:
            kept = [r for r in self._records if r.name != name]
            gone = len(self._records) - len(kept)
            if gone:
                self._records, self._index = kept, None
        if not gone:
            raise self.unknown_name_error(name)
        return gone

    def records(self) -> list[GalleryRecord]:
        with self._lock:
            return list(self._records)

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        q = as_query(queries, self.info.dim, self.location)
        with self._lock:
            if self._index is None:
                vectors = (np.stack([r.embedding for r in self._records]) if self._records
                           else np.zeros((0, self.info.dim), np.float32))
                self._index = ExactIndex(np.array([r.name for r in self._records], dtype=object), vectors,
                                         self.info.metric)
            index = self._index
        return index.search(q, k)
