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

Identity-normalised search (format 2): each face also stores its recognition
embedding (identity.py) and the id of the group of faces of the same person it
joined when it was added. Searches run on the vectors centred by their group
(`Centring`, computed when the vectors are loaded), and a query passes its own
recognition embedding to be centred the same way. Format 1 indexes (no
identities) are refused with a message to rebuild them.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe.apps.expression_search.identity import IDENTITY_DIM, Centring, IdentityGroups, IdentityOptions
from facepipe.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["ExpressionIndex", "Matches", "FileRecord"]

_FORMAT = "facepipe-expression-index"
_VERSION = "2"  # 2: recognition embeddings and identity groups per face
_RECHECK = 16  # extra candidates whose distance is recomputed exactly

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL, score REAL NOT NULL,
    vector BLOB NOT NULL, identity BLOB, person INTEGER NOT NULL DEFAULT -1);
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
                 *, create: bool = True, identity_model: str | None = None,
                 identity: IdentityOptions | None = None) -> None:
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
        if meta and meta.get("version") != _VERSION:
            self._db.close()
            raise InputError(
                f"{self.path}: expression index format {meta.get('version')!r}, this facepipe reads format"
                f" {_VERSION!r} (identity-normalised search: every face also needs its recognition embedding)."
                " Build it again with `facepipe search index DIR... -o NEW_INDEX`")
        if not meta:
            if not create or descriptor_id is None or dim is None:
                self._db.close()
                raise InputError(f"{self.path}: not a facepipe expression index (empty)")
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ("format", _FORMAT), ("version", _VERSION), ("descriptor", descriptor_id), ("dim", str(dim)),
                    ("identity_model", identity_model or ""),
                    ("identity_threshold", repr((identity or IdentityOptions()).threshold))])
            meta = self._read_meta()
        self.descriptor_id = meta["descriptor"]
        self.dim = int(meta["dim"])
        self.identity_model = meta.get("identity_model", "")
        # The grouping threshold is the index's (its stored groups were made with it); the rest of the
        # centring (shrink, centre, min_group, enabled) is the reader's choice.
        base = identity or IdentityOptions()
        self.identity = IdentityOptions(float(meta.get("identity_threshold", base.threshold)), base.shrink,
                                        base.centre, base.min_group, base.enabled and bool(self.identity_model))
        if identity_model is not None and identity_model != self.identity_model:
            self._db.close()
            had = repr(self.identity_model) if self.identity_model else "no recognition embeddings"
            wants = repr(identity_model) if identity_model else "none"
            raise InputError(
                f"{self.path}: built with {had} for identity-normalised search, but this run uses {wants};"
                " faces grouped by different recognition models cannot share an index. Build a new index")
        if descriptor_id is not None and (descriptor_id != self.descriptor_id or dim != self.dim):
            self._db.close()
            older = all(re.fullmatch(r"expression-geometry-v\d+", i) for i in (self.descriptor_id, descriptor_id))
            advice = (" It was made by an older facepipe's geometry descriptor, which this one no longer"
                      " computes: build it again with `facepipe search index DIR... -o NEW_INDEX`" if older else
                      " Use the same --descriptor/--model as when it was built, or build a new index")
            raise InputError(
                f"{self.path}: built with embedding {self.descriptor_id!r} (dimension {self.dim}), but this run"
                f" uses {descriptor_id!r} (dimension {dim}); distances between them mean nothing." + advice)
        self._lock = threading.RLock()
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._people: IdentityGroups | None = None  # identity groups, loaded when first needed
        self._centring: Centring | None = None
        self._raw: np.ndarray | None = None  # vectors as stored (uncentred), with the cache
        self._groups = np.zeros(0, np.int64)

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
                 scores: np.ndarray | None = None, vectors: np.ndarray | None = None,
                 identities: np.ndarray | None = None, status: str = "ok", message: str = "") -> None:
        """Replace everything known about `path` with these faces, in one transaction.

        identities: (M,128) recognition embeddings (NaN rows, or None: unknown); each face joins the identity
        group of its person (an existing one, or a new one). Ignored by an index built without them."""
        boxes = np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
        vectors = np.zeros((0, self.dim), np.float32) if vectors is None else np.asarray(vectors, np.float32)
        scores = np.ones(len(boxes), np.float32) if scores is None else np.asarray(scores, np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(boxes), self.dim) or len(scores) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes, {len(scores)} scores and vectors {vectors.shape} for an index"
                             f" of dimension {self.dim}")
        ids = np.full((len(boxes), IDENTITY_DIM), np.nan, np.float32)
        if identities is not None and self.identity_model:
            ids = np.asarray(identities, np.float32).reshape(len(boxes), IDENTITY_DIM)
        with self._lock, self._db:
            people = self._identity_groups()
            old = self._db.execute("SELECT c.identity, c.person FROM faces c JOIN files f ON f.id = c.file_id"
                                   " WHERE f.path = ? AND c.person >= 0", (path,)).fetchall()
            if old:
                people.remove(np.array([np.frombuffer(i, "<f4") for i, _ in old]), np.array([g for _, g in old]))
            self._db.execute("DELETE FROM files WHERE path = ?", (path,))
            cur = self._db.execute("INSERT INTO files (path, size, mtime_ns, status, message) VALUES (?,?,?,?,?)",
                                   (path, size, mtime_ns, status, message))
            file_id = cur.lastrowid
            groups = people.assign(ids)
            self._db.executemany(
                "INSERT INTO faces (file_id, x1, y1, x2, y2, score, vector, identity, person)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                [(file_id, *map(float, b), float(s), np.ascontiguousarray(v, "<f4").tobytes(),
                  np.ascontiguousarray(i, "<f4").tobytes() if g >= 0 else None, int(g))
                 for b, s, v, i, g in zip(boxes, scores, vectors, ids, groups)])
            self._cache = None

    def remove_missing(self, keep: set[str]) -> int:
        """Forget files not in `keep` (deleted from disk); returns how many."""
        with self._lock, self._db:
            gone = [p for (p,) in self._db.execute("SELECT path FROM files") if p not in keep]
            self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
            if gone:
                self._cache = self._people = None
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

    def _identity_groups(self) -> IdentityGroups:
        """The identity groups of the stored faces (read once, then kept up to date by put_file)."""
        with self._lock:
            if self._people is None:
                rows = self._db.execute("SELECT identity, person FROM faces WHERE person >= 0").fetchall()
                ids = np.array([np.frombuffer(i, "<f4") for i, _ in rows], np.float32).reshape(-1, IDENTITY_DIM)
                self._people = IdentityGroups.of(ids, np.array([g for _, g in rows], np.int64),
                                                 self.identity.threshold)
            return self._people

    def group_ids(self) -> np.ndarray:
        """(N,) identity group of each face in search order (-1: none), for inspection and tests."""
        with self._lock:
            self._arrays()
            return self._groups.copy()

    def query_offsets(self, identities: np.ndarray | None, count: int) -> np.ndarray:
        """(count,D) what to subtract from `count` query vectors whose recognition embeddings are `identities`:
        their group's offset where a group of the index is near enough, else 0 (an unknown person)."""
        with self._lock:
            self._arrays()
            if identities is None or self._centring is None:
                return np.zeros((count, self.dim))
            groups = self._identity_groups().nearest(np.asarray(identities, np.float32).reshape(count, -1))
            return self._centring.offsets(groups)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(vectors (N,D), squared norms (N,), boxes (N,4), paths (N,)), loaded once."""
        with self._lock:
            if self._cache is None:
                n = self._db.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
                vectors = np.empty((n, self.dim), np.float32)
                boxes = np.empty((n, 4), np.float32)
                paths = np.empty(n, object)
                names: dict[str, str] = {}  # one str object per file, shared by its faces
                groups = np.empty(n, np.int64)
                cursor = self._db.execute(
                    "SELECT f.path, c.x1, c.y1, c.x2, c.y2, c.vector, c.person FROM faces c"
                    " JOIN files f ON f.id = c.file_id ORDER BY c.id")
                for i, row in enumerate(cursor):  # row by row: no second copy of the index in Python objects
                    paths[i] = names.setdefault(row[0], row[0])
                    boxes[i] = row[1:5]
                    vectors[i] = np.frombuffer(row[5], "<f4")
                    groups[i] = row[6]
                self._raw, self._groups, self._centring = vectors, groups, None
                if self.identity.enabled and (groups >= 0).any():
                    # Each face relative to its person's centre (identity.py): what is searched.
                    self._centring = Centring.fit(vectors, groups, self.identity)
                    vectors = (vectors - self._centring.offsets(groups)).astype(np.float32)
                self._cache = (vectors, (vectors.astype(np.float64) ** 2).sum(1).astype(np.float32), boxes, paths)
            return self._cache

    def search(self, queries: np.ndarray, k: int = 3, identities: np.ndarray | None = None) -> list[Matches]:
        """The k nearest faces (Euclidean) of each (D,) row of `queries`; NaN rows get no matches.

        identities: the queries' (Q,128) recognition embeddings: each query is centred by the identity group
        it falls in (none: searched as it is, like a person the index does not know). Distances are between
        centred vectors."""
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        vectors, norms, boxes, paths = self._arrays()
        if identities is not None and self._centring is not None and len(q):
            q = (q - self.query_offsets(identities, len(q))).astype(np.float32)
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
