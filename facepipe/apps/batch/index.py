"""`search index` as a batch run: workers embed the photos, the driver adds them to the index.

The index is one SQLite file, so only the driver writes it: a worker returns each photo's face
boxes, scores and vectors (and the size and mtime it read), and the driver puts them in with one
transaction per photo as they arrive. The index is also the record of what is done (no manifest):
as in the plain run, a photo already indexed at the same size and mtime is skipped, so a rerun
after a crash picks up where it stopped. A photo that fails its attempts is recorded as
"unreadable" with the error, as the plain run records a photo it cannot read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from facepipe.apps.batch.manifest import settings_sha256
from facepipe.apps.batch.tasks import ItemResult, Processed, WorkItem

__all__ = ["IndexLedger", "IndexTask"]


@dataclass(frozen=True)
class IndexTask:
    """options: EmbedOptions (which faces of each photo, and the descriptor)."""

    options: Any
    command: str = "search index"

    def with_threads(self, threads: int | None) -> IndexTask:
        o = self.options
        return replace(self, options=replace(o, num_threads=threads,
                                             descriptor=replace(o.descriptor, num_threads=threads)))

    def settings(self) -> str:
        return settings_sha256(self.with_threads(None))

    def processor(self) -> _Embed:
        return _Embed(self)


@dataclass(frozen=True)
class IndexedFaces:
    """One photo as read by a worker: its size and mtime then, and its faces."""

    size: int
    mtime_ns: int
    boxes: np.ndarray  # (M,4) float32
    scores: np.ndarray  # (M,)
    vectors: np.ndarray  # (M,D)
    identities: np.ndarray | None = None  # (M,128) recognition embeddings, when the index keeps them


class _Embed:
    def __init__(self, task: IndexTask) -> None:
        from facepipe.apps.expression_search.indexer import FaceEmbedder

        self.embedder = FaceEmbedder(task.options)

    def __call__(self, item: WorkItem) -> Processed:
        from facepipe.io.image import read_image

        st = os.stat(item.input)  # before reading, as the plain run: a later change is seen by the next run
        found = self.embedder.embed(read_image(item.input))
        return Processed(1, len(found), IndexedFaces(st.st_size, st.st_mtime_ns, found.boxes, found.scores,
                                                     found.vectors, found.identities))

    def close(self) -> None:
        self.embedder.close()


class IndexLedger:
    """The runner's record for `search index`: the index itself; collects the plain run's IndexReport."""

    def __init__(self, index: Any) -> None:
        from facepipe.apps.expression_search.indexer import IndexReport

        self.index = index
        self.report = IndexReport()

    @staticmethod
    def key(item: WorkItem) -> str:
        return str(item.input.resolve())

    def is_done(self, item: WorkItem) -> bool:
        try:
            st = os.stat(item.input)
        except OSError:
            return False  # its worker reports why
        if self.index.is_current(self.key(item), st.st_size, st.st_mtime_ns):
            self.report.unchanged += 1
            return True
        return False

    def done(self, item: WorkItem, result: ItemResult) -> None:
        from facepipe.apps.expression_search.index import FileRecord

        faces: IndexedFaces = result.payload
        status = "ok" if len(faces.boxes) else "no_face"
        self.index.put_file(self.key(item), faces.size, faces.mtime_ns, boxes=faces.boxes, scores=faces.scores,
                            vectors=faces.vectors, identities=faces.identities, status=status)
        self.report.added.append(FileRecord(self.key(item), status, len(faces.boxes)))

    def failed(self, item: WorkItem, result: ItemResult, attempts: int) -> None:
        from facepipe.apps.expression_search.index import FileRecord

        message = (result.error or "").removeprefix(f"{item.input}: ")
        try:
            st = os.stat(item.input)
        except OSError:
            pass  # gone: nothing to record it under
        else:
            self.index.put_file(self.key(item), st.st_size, st.st_mtime_ns, status="unreadable", message=message)
        self.report.added.append(FileRecord(self.key(item), "unreadable", 0, message))
