"""The expression index: one SQLite file of (path, face box, vector) rows, searched in memory with numpy.

SQLite keeps the index a single file that is updated in place, file by file, in
transactions (a crash loses at most the file being added, never the index), and
remembers each file's size and mtime so re-indexing a folder only reads new or
changed files. For search the vectors are loaded once into one (N, D) float32
matrix: exact nearest neighbours by one product with the query (benchmarks/bench_search.py
times it at 10 k and 100 k faces), so an approximate index (usearch, pgvector)
would add a dependency and lose exactness for no gain at these sizes.

The index records which descriptor made its vectors (id and dimension); opening
it with another one is refused, since distances between different embeddings
mean nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["ExpressionIndex", "Matches", "FileRecord"]

_FORMAT = "facepipe-expression-index"
_VERSION = "1"
_RECHECK = 16  # extra candidates whose distance is recomputed exactly

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL, score REAL NOT NULL,
    vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS faces_file ON faces(file_id);
"""


@dataclass(frozen=True, eq=False)
class Matches:
    """The k nearest indexed faces of one query face, nearest first.

    paths: (k,) str; boxes: (k,4) float32 pixel xyxy in those images; distances: (k,) float32 Euclidean.
    """

    paths: np.ndarray
    boxes: np.ndarray
    distances: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def empty(cls) -> Matches:
        return cls(np.zeros(0, object), np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def to_list(self) -> list[dict]:
        return [{"path": str(p), "box": [round(float(v), 1) for v in b], "distance": round(float(d), 4)}
                for p, b, d in zip(self.paths, self.boxes, self.distances)]


@dataclass(frozen=True)
class FileRecord:
    """How a file was indexed: status "ok" (faces > 0), "no_face" or "unreadable" (message says why)."""

    path: str
    status: str
    faces: int = 0
    message: str = ""


class ExpressionIndex:
    """A single-file index of face vectors made by one descriptor. Thread-safe; use as a context manager.

    `ExpressionIndex(path, descriptor_id, dim)` opens or creates it for writing and reading;
    `ExpressionIndex.open(path)` opens an existing one whatever made it (for reading / inspection).
    """

    def __init__(self, path: str | os.PathLike[str], descriptor_id: str | None = None, dim: int | None = None,
                 *, create: bool = True) -> None:
        self.path = Path(path)
        exists = self.path.exists()
        if not exists and not create:
            raise InputError(f"{self.path}: no such index")
        if exists and not self.path.is_file():
            raise InputError(f"{self.path}: is not a file")
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False)
            self._db.execute("PRAGMA foreign_keys = ON")
            meta = self._read_meta() if exists else {}
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a facepipe expression index ({exc})") from None
        if exists and meta.get("format") != _FORMAT:
            self._db.close()
            raise InputError(f"{self.path}: not a facepipe expression index")
        if not meta:
            if not create or descriptor_id is None or dim is None:
                self._db.close()
                raise InputError(f"{self.path}: not a facepipe expression index (empty)")
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ("format", _FORMAT), ("version", _VERSION), ("descriptor", descriptor_id), ("dim", str(dim))])
            meta = self._read_meta()
        self.descriptor_id = meta["descriptor"]
        self.dim = int(meta["dim"])
        if descriptor_id is not None and (descriptor_id != self.descriptor_id or dim != self.dim):
            self._db.close()
            raise InputError(
                f"{self.path}: built with embedding {self.descriptor_id!r} (dimension {self.dim}), but this run"
                f" uses {descriptor_id!r} (dimension {dim}); distances between them mean nothing. Use the same"
                " --descriptor/--model as when it was built, or build a new index")
        self._lock = threading.RLock()
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ExpressionIndex:
        return cls(path, create=False)

    def _read_meta(self) -> dict[str, str]:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            return {"format": ""} if tables else {}
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ExpressionIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def is_current(self, path: str, size: int, mtime_ns: int) -> bool:
        """Whether `path` was read (faces or none) at this size and mtime; unreadable files are tried again."""
        with self._lock:
            row = self._db.execute("SELECT size, mtime_ns, status FROM files WHERE path = ?", (path,)).fetchone()
        return row is not None and tuple(row) in ((size, mtime_ns, "ok"), (size, mtime_ns, "no_face"))

    def put_file(self, path: str, size: int, mtime_ns: int, *, boxes: np.ndarray | None = None,
                 scores: np.ndarray | None = None, vectors: np.ndarray | None = None, status: str = "ok",
                 message: str = "") -> None:
        """Replace everything known about `path` with these faces, in one transaction."""
        boxes = np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
        vectors = np.zeros((0, self.dim), np.float32) if vectors is None else np.asarray(vectors, np.float32)
        scores = np.ones(len(boxes), np.float32) if scores is None else np.asarray(scores, np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(boxes), self.dim) or len(scores) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes, {len(scores)} scores and vectors {vectors.shape} for an index"
                             f" of dimension {self.dim}")
        with self._lock, self._db:
            self._db.execute("DELETE FROM files WHERE path = ?", (path,))
            cur = self._db.execute("INSERT INTO files (path, size, mtime_ns, status, message) VALUES (?,?,?,?,?)",
                                   (path, size, mtime_ns, status, message))
            file_id = cur.lastrowid
            self._db.executemany(
                "INSERT INTO faces (file_id, x1, y1, x2, y2, score, vector) VALUES (?,?,?,?,?,?,?)",
                [(file_id, *map(float, b), float(s), np.ascontiguousarray(v, "<f4").tobytes())
                 for b, s, v in zip(boxes, scores, vectors)])
            self._cache = None

    def remove_missing(self, keep: set[str]) -> int:
        """Forget files not in `keep` (deleted from disk); returns how many."""
        with self._lock, self._db:
            gone = [p for (p,) in self._db.execute("SELECT path FROM files") if p not in keep]
            self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
            if gone:
                self._cache = None
        return len(gone)

    # ------------------------------------------------------------------ reading

    def files(self) -> list[FileRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT f.path, f.status, f.message, COUNT(c.id) FROM files f LEFT JOIN faces c ON c.file_id = f.id"
                " GROUP BY f.id ORDER BY f.path").fetchall()
        return [FileRecord(p, s, n, m) for p, s, m, n in rows]

    def __len__(self) -> int:
        return len(self._arrays()[0])

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(vectors (N,D), squared norms (N,), boxes (N,4), paths (N,)), loaded once."""
        with self._lock:
            if self._cache is None:
                n = self._db.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
                vectors = np.empty((n, self.dim), np.float32)
                boxes = np.empty((n, 4), np.float32)
                paths = np.empty(n, object)
                names: dict[str, str] = {}  # one str object per file, shared by its faces
                cursor = self._db.execute(
                    "SELECT f.path, c.x1, c.y1, c.x2, c.y2, c.vector FROM faces c JOIN files f ON f.id = c.file_id"
                    " ORDER BY c.id")
                for i, row in enumerate(cursor):  # row by row: no second copy of the index in Python objects
                    paths[i] = names.setdefault(row[0], row[0])
                    boxes[i] = row[1:5]
                    vectors[i] = np.frombuffer(row[5], "<f4")
                self._cache = (vectors, (vectors.astype(np.float64) ** 2).sum(1).astype(np.float32), boxes, paths)
            return self._cache

    def search(self, queries: np.ndarray, k: int = 3) -> list[Matches]:
        """The k nearest faces (Euclidean) of each (D,) row of `queries`; NaN rows get no matches."""
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        vectors, norms, boxes, paths = self._arrays()
        out: list[Matches] = []
        if len(vectors) == 0 or k < 1:
            return [Matches.empty() for _ in q]
        k = min(k, len(vectors))
        ok = np.isfinite(q).all(1)
        d2 = np.full((len(q), len(vectors)), np.inf, np.float32)
        if ok.any():
            qo = q[ok]
            # einsum, not BLAS: one thread, so a search inside a busy graph does not start a BLAS thread pool
            # competing for the cores (measured 20 ms instead of 1.5 ms for 100 k faces on a loaded machine).
            dots = np.einsum("nd,qd->qn", vectors, qo)
            d2[ok] = np.maximum(norms[None] - 2.0 * dots + (qo * qo).sum(1, keepdims=True), 0.0)
        # The expanded form loses precision near 0 (float32 cancellation): shortlist with it, then measure
        # the shortlist's distances directly.
        shortlist = min(len(vectors), k + _RECHECK)
        for query, row, good in zip(q, d2, ok):
            if not good:
                out.append(Matches.empty())
                continue
            top = np.argpartition(row, shortlist - 1)[:shortlist] if shortlist < len(row) else np.arange(len(row))
            exact = np.linalg.norm(vectors[top].astype(np.float64) - query, axis=1)
            order = np.lexsort((top, exact))[:k]
            out.append(Matches(paths[top[order]], boxes[top[order]], exact[order].astype(np.float32)))
        return out
