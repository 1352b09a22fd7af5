"""The default gallery: one SQLite file per user.

* File mode 0600 in a 0700 folder (face embeddings are biometric data); SQLite
  gives its -wal/-shm files the database file's mode.
* WAL journal and `BEGIN IMMEDIATE` write transactions with a busy timeout:
  two processes enrolling at once both succeed, one after the other; a
  reader never sees half an enrollment.
* `secure_delete` and a WAL checkpoint after `remove`: a removed person's
  vectors are overwritten on disk, not merely unlinked.
* Searches run on an `ExactIndex` built from all vectors once and kept until
  the file changes (`PRAGMA data_version` tells when another process wrote).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from facepipe.apps.recognition.matching import ExactIndex
from facepipe.apps.recognition.store import (
    GalleryError,
    GalleryInfo,
    GalleryRecord,
    GalleryStore,
    Neighbours,
    PersonSummary,
    as_query,
    check_name,
    validate_add,
)

log = logging.getLogger(__name__)

__all__ = ["SqliteGallery"]

SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facepipe_gallery (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector BLOB NOT NULL, source TEXT NOT NULL DEFAULT '', thumbnail BLOB, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS embeddings_person ON embeddings(person_id);
"""


class SqliteGallery(GalleryStore):
    """A gallery in one SQLite file. Thread-safe (one connection, guarded)."""

    def __init__(self, path: str | os.PathLike[str], info: GalleryInfo | None = None, *, create: bool = True,
                 timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._index: ExactIndex | None = None
        self._index_version: int | None = None
        is_new = not self.path.exists()
        if is_new and (not create or info is None):
            raise GalleryError(f"{self.path}: no gallery here (enroll someone first: facepipe faces enroll NAME PHOTO)")
        if is_new:
            self._create_file()
        else:
            self._check_file()
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"{self.path}: cannot open the gallery ({exc})") from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA secure_delete = ON")
            mode = self._set_wal()
            if str(mode).lower() != "wal":
                log.warning("%s: journal mode %s (WAL not available on this filesystem)", self.path, mode)
            self.info = self._init_meta(info)
        except BaseException:
            self._conn.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _set_wal(self) -> str:
        """Switch to WAL. SQLite answers "locked" at once, without its busy handler, while another
        process is switching the same new file, so wait here up to `timeout` as a write would."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return str(self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _create_file(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return  # another process created it just now; its schema transaction or ours runs first
        except OSError as exc:
            raise GalleryError(f"{self.path}: cannot create the gallery ({exc.strerror})") from exc
        os.close(fd)

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise GalleryError(f"{self.path}: is a folder, not a gallery file")
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise GalleryError(f"{self.path}: cannot read the gallery ({exc.strerror})") from exc
        # An empty file is one another process has just created and not yet initialised.
        if head and head != _SQLITE_MAGIC:
            raise GalleryError(f"{self.path}: not a facepipe gallery (not an SQLite database; corrupt or another"
                               " kind of file). Nothing was changed")

    def _tables(self, cur: sqlite3.Cursor) -> set[str]:
        return {r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _init_meta(self, info: GalleryInfo | None) -> GalleryInfo:
        with self._lock, self._errors():
            tables = self._tables(self._conn.cursor())
        if not tables:  # new (or just created by another process): write the schema under the write lock
            with self._write() as cur:
                tables = self._tables(cur)
                if not tables:
                    if info is None:
                        raise GalleryError(f"{self.path}: empty gallery file with no model recorded")
                    # One statement at a time: executescript() would commit the open transaction first.
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            cur.execute(statement)
                    cur.executemany("INSERT INTO facepipe_gallery VALUES (?, ?)", [
                        ("schema_version", str(SCHEMA_VERSION)), ("model_id", info.model_id),
                        ("dim", str(info.dim)), ("metric", info.metric)])
                    return info
        if "facepipe_gallery" not in tables:
            raise GalleryError(f"{self.path}: an SQLite database but not a facepipe gallery (tables:"
                               f" {', '.join(sorted(tables))}). Nothing was changed")
        with self._lock, self._errors():
            meta = dict(self._conn.execute("SELECT key, value FROM facepipe_gallery").fetchall())
        try:
            if int(meta["schema_version"]) > SCHEMA_VERSION:
                raise GalleryError(f"{self.path}: gallery format {meta['schema_version']} is newer than this"
                                   f" facepipe understands ({SCHEMA_VERSION}); upgrade facepipe")
            stored = GalleryInfo(meta["model_id"], int(meta["dim"]), meta["metric"])
        except (KeyError, ValueError) as exc:
            raise GalleryError(f"{self.path}: damaged gallery header ({exc})") from exc
        if info is not None:
            stored.check_compatible(info, self.location)
        return stored

    # -- transactions --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction (BEGIN IMMEDIATE: takes the write lock up front, waits up to `timeout`)."""
        with self._lock, self._errors():
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            self._index = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise GalleryError(f"{self.path}: gallery is locked by another process (waited {self.timeout:g} s);"
                                   " nothing was changed") from exc
            raise GalleryError(f"{self.path}: {exc}; nothing was changed") from exc
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"{self.path}: gallery file is damaged ({exc}); nothing was changed") from exc

    # -- GalleryStore --------------------------------------------------------------------------

    def add(self, name: str, embeddings: np.ndarray, sources: Sequence[str] = (),
            thumbnails: Sequence[bytes | None] = ()) -> int:
        v = validate_add(self, name, embeddings, sources, thumbnails)
        with self._write() as cur:
            self._insert(cur, v.name, v.vectors, v.sources, v.thumbnails)
        return len(v.vectors)

    def add_records(self, records: Sequence[GalleryRecord]) -> int:
        rows = [validate_add(self, r.name, r.embedding, [r.source], [r.thumbnail]) for r in records]
        with self._write() as cur:
            for v in rows:
                self._insert(cur, v.name, v.vectors, v.sources, v.thumbnails)
        return len(rows)

    @staticmethod
    def _insert(cur: sqlite3.Cursor, name: str, vectors: np.ndarray, sources: list[str],
                thumbnails: list[bytes | None]) -> None:
        now = time.time()
        cur.execute("INSERT OR IGNORE INTO people (name, created) VALUES (?, ?)", (name, now))
        pid = cur.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()[0]
        cur.executemany(
            "INSERT INTO embeddings (person_id, vector, source, thumbnail, created) VALUES (?, ?, ?, ?, ?)",
            [(pid, vec.astype("<f4").tobytes(), src, th, now) for vec, src, th in zip(vectors, sources, thumbnails)])

    def people(self) -> list[PersonSummary]:
        with self._lock, self._errors():
            rows = self._conn.execute(
                "SELECT p.name, COUNT(e.id), COUNT(e.thumbnail) FROM people p LEFT JOIN embeddings e"
                " ON e.person_id = p.id GROUP BY p.id ORDER BY p.name").fetchall()
        return [PersonSummary(n, int(c), int(t)) for n, c, t in rows]

    def remove(self, name: str) -> int:
        name = check_name(name)
        with self._write() as cur:
            row = cur.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise self.unknown_name_error(name)
            n = cur.execute("DELETE FROM embeddings WHERE person_id = ?", (row[0],)).rowcount
            cur.execute("DELETE FROM people WHERE id = ?", (row[0],))
        with self._lock, self._errors():
            # Move the (zeroed) pages out of the WAL into the database file and empty the WAL, so the
            # old vectors are not left in the journal. A reader in another process can block it.
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("%s: another process is reading the gallery; the removed vectors leave the WAL file at"
                        " its next checkpoint", self.path)
        return int(n)

    def records(self) -> list[GalleryRecord]:
        with self._lock, self._errors():
            rows = self._conn.execute(
                "SELECT p.name, e.vector, e.source, e.thumbnail FROM embeddings e JOIN people p"
                " ON p.id = e.person_id ORDER BY p.name, e.id").fetchall()
        return [GalleryRecord(n, np.frombuffer(v, "<f4").astype(np.float32), s, t) for n, v, s, t in rows]

    def __len__(self) -> int:
        with self._lock, self._errors():
            return int(self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def index(self) -> ExactIndex:
        """All vectors as an ExactIndex, rebuilt only when the file has changed since."""
        with self._lock, self._errors():
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if self._index is not None and version == self._index_version:
                return self._index
            rows = self._conn.execute(
                "SELECT p.name, e.vector FROM embeddings e JOIN people p ON p.id = e.person_id").fetchall()
        dim = self.info.dim
        labels = np.array([r[0] for r in rows], dtype=object)
        blob = b"".join(r[1] for r in rows)
        if len(blob) != 4 * dim * len(rows):
            raise GalleryError(f"{self.path}: gallery holds vectors that are not {dim}-d float32; damaged file")
        vectors = np.frombuffer(blob, "<f4").reshape(len(rows), dim)
        index = ExactIndex(labels, vectors, self.info.metric)
        with self._lock:
            self._index, self._index_version = index, version
        return index

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        return self.index().search(as_query(queries, self.info.dim, self.location), k)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._index = None
