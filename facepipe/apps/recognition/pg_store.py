"""A gallery shared by a team: PostgreSQL with the pgvector extension.

Tables (created on first use, under a transaction-scoped advisory lock so two
clients creating the gallery at once do not collide):

    facepipe_gallery     key/value header: model id, dimension, metric, generation
    facepipe_people      id, name (unique)
    facepipe_embeddings  person_id -> people (ON DELETE CASCADE), embedding vector(dim),
                         source, thumbnail bytea; HNSW index (vector_l2_ops or vector_cosine_ops)

Searches on galleries of up to `exact_limit` embeddings run on an exact numpy
index loaded once (reloaded when the header's generation, bumped by every
write, changes); larger galleries use the server's HNSW index per query.
Vectors travel in pgvector's binary format. Needs the optional `psycopg`
package (`pip install 'facepipe[postgres]'`).
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Sequence
from typing import Any

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

__all__ = ["PostgresGallery"]

SCHEMA_VERSION = 1
_LOCK_KEY = 0x66616365  # advisory lock id for schema creation ("face")
_OPS = {"euclidean": ("vector_l2_ops", "<->"), "cosine": ("vector_cosine_ops", "<=>")}


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise GalleryError("a postgresql:// gallery needs the psycopg package: pip install 'facepipe[postgres]'"
                           ) from exc
    return psycopg


def _where(url: str) -> str:
    """The server and database of a URL, without the password, for messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        d = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by connect() itself
        return "postgresql gallery"
    host = d.get("host") or "localhost"
    port = f":{d['port']}" if d.get("port") else ""
    return f"postgresql://{host}{port}/{d.get('dbname', '')}"


def _register_vector(conn: Any) -> int:
    """Binary dumper/loader for pgvector's `vector` (int16 dim, int16 unused, dim big-endian float4)."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise GalleryError(f"{_where(conn.info.dsn)}: the pgvector type 'vector' is missing")

    class VectorDumper(Dumper):
        format = Format.BINARY
        oid = info.oid

        def dump(self, obj: Any) -> bytes:
            a = np.asarray(obj, ">f4").reshape(-1)
            return struct.pack(">HH", len(a), 0) + a.tobytes()

    class VectorLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            dim = struct.unpack_from(">H", data)[0]
            return np.frombuffer(bytes(data), ">f4", dim, 4).astype(np.float32)

    conn.adapters.register_dumper(np.ndarray, VectorDumper)
    conn.adapters.register_loader(info.oid, VectorLoader)
    return int(info.oid)


class PostgresGallery(GalleryStore):
    """A gallery in a PostgreSQL database with pgvector. Thread-safe (one connection, guarded)."""

    def __init__(self, url: str, info: GalleryInfo | None = None, *, create: bool = True,
                 exact_limit: int = 20_000, rebuild_index_at: int = 5_000, ef_search: int = 100,
                 connect_timeout: int = 10) -> None:
        psycopg = _psycopg()
        self._psycopg = psycopg
        self.location = _where(url)
        self.exact_limit = exact_limit
        self.rebuild_index_at = rebuild_index_at
        self._lock = threading.RLock()
        self._index: ExactIndex | None = None
        self._index_generation: int | None = None
        try:
            self._conn = psycopg.connect(url, connect_timeout=connect_timeout, autocommit=True)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GalleryError(f"{self.location}: cannot connect to PostgreSQL ({first}); nothing was changed"
                               ) from exc
        try:
            self._ensure_extension()
            self._vector_oid = _register_vector(self._conn)
            # HNSW candidate list per query (pgvector's default 40 gave top-5 recall 0.92 at 100 k).
            self._conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
            self.info = self._init_schema(info, create)
        except BaseException:
            self._conn.close()
            raise

    def _error(self, exc: Exception, doing: str) -> GalleryError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return GalleryError(f"{self.location}: {doing} failed ({first}); nothing was changed")

    def _ensure_extension(self) -> None:
        psycopg = self._psycopg
        try:
            have = self._conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
            if have is None:
                self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise GalleryError(
                f"{self.location}: the pgvector extension is not installed in this database and could not be"
                f" created ({first}). Install pgvector on the server and run CREATE EXTENSION vector as a"
                " superuser; nothing was changed") from exc

    def _init_schema(self, info: GalleryInfo | None, create: bool) -> GalleryInfo:
        psycopg = self._psycopg
        try:
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                exists = self._conn.execute("SELECT to_regclass('facepipe_gallery')").fetchone()[0]
                if exists is None:
                    if not create or info is None:
                        raise GalleryError(f"{self.location}: no facepipe gallery in this database (enroll someone"
                                           " first: facepipe faces enroll NAME PHOTO --gallery URL)")
                    ops = _OPS[info.metric][0]
                    for sql in (
                        "CREATE TABLE facepipe_gallery (key text PRIMARY KEY, value text NOT NULL)",
                        "CREATE TABLE facepipe_people (id serial PRIMARY KEY, name text NOT NULL UNIQUE,"
                        " created timestamptz NOT NULL DEFAULT now())",
                        f"CREATE TABLE facepipe_embeddings (id bigserial PRIMARY KEY, person_id integer NOT NULL"
                        f" REFERENCES facepipe_people(id) ON DELETE CASCADE, embedding vector({int(info.dim)})"
                        " NOT NULL, source text NOT NULL DEFAULT '', thumbnail bytea,"
                        " created timestamptz NOT NULL DEFAULT now())",
                        "CREATE INDEX facepipe_embeddings_person ON facepipe_embeddings (person_id)",
                        f"CREATE INDEX facepipe_embeddings_hnsw ON facepipe_embeddings USING hnsw (embedding {ops})",
                    ):
                        self._conn.execute(sql)
                    with self._conn.cursor() as cur:
                        cur.executemany("INSERT INTO facepipe_gallery VALUES (%s, %s)", [
                            ("schema_version", str(SCHEMA_VERSION)), ("model_id", info.model_id),
                            ("dim", str(info.dim)), ("metric", info.metric), ("generation", "0")])
                    return info
                meta = dict(self._conn.execute("SELECT key, value FROM facepipe_gallery").fetchall())
        except psycopg.Error as exc:
            raise self._error(exc, "opening the gallery") from exc
        try:
            stored = GalleryInfo(meta["model_id"], int(meta["dim"]), meta["metric"])
        except (KeyError, ValueError) as exc:
            raise GalleryError(f"{self.location}: damaged gallery header ({exc})") from exc
        if int(meta.get("schema_version", "0")) > SCHEMA_VERSION:
            raise GalleryError(f"{self.location}: gallery format {meta['schema_version']} is newer than this"
                               " facepipe understands; upgrade facepipe")
        if info is not None:
            stored.check_compatible(info, self.location)
        return stored

    def _write(self, fn: Any, doing: str) -> Any:
        psycopg = self._psycopg
        with self._lock:
            try:
                with self._conn.transaction():
                    result = fn(self._conn)
                    self._conn.execute(
                        "UPDATE facepipe_gallery SET value = (value::bigint + 1)::text WHERE key = 'generation'")
            except psycopg.Error as exc:
                raise self._error(exc, doing) from exc
            self._index = None
            return result

    def _insert(self, conn: Any, name: str, vectors: np.ndarray, sources: list[str],
                thumbnails: list[bytes | None]) -> None:
        conn.execute("INSERT INTO facepipe_people (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (name,))
        pid = conn.execute("SELECT id FROM facepipe_people WHERE name = %s", (name,)).fetchone()[0]
        self._copy(conn, [(pid, v, s, t) for v, s, t in zip(vectors, sources, thumbnails)])

    def _copy(self, conn: Any, rows: list[tuple]) -> None:
        """Binary COPY of (person_id, vector, source, thumbnail) rows."""
        with conn.cursor() as cur, cur.copy("COPY facepipe_embeddings (person_id, embedding, source, thumbnail)"
                                            " FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", self._vector_oid, "text", "bytea"])
            for row in rows:
                copy.write_row(row)

    def _bulk_insert(self, conn: Any, rows: list[Any]) -> None:
        """Many people at once (import): people first, then one COPY; for large loads the HNSW index
        is dropped and rebuilt after (building it once is much faster than growing it row by row)."""
        names = sorted({v.name for v in rows})
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO facepipe_people (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                            [(n,) for n in names])
        ids = dict(conn.execute("SELECT name, id FROM facepipe_people WHERE name = ANY(%s)", (names,)).fetchall())
        big = len(rows) >= self.rebuild_index_at
        if big:
            conn.execute("DROP INDEX IF EXISTS facepipe_embeddings_hnsw")
        self._copy(conn, [(ids[v.name], vec, src, th) for v in rows
                          for vec, src, th in zip(v.vectors, v.sources, v.thumbnails)])
        if big:
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            conn.execute(f"CREATE INDEX facepipe_embeddings_hnsw ON facepipe_embeddings USING hnsw"
                         f" (embedding {_OPS[self.info.metric][0]})")

    def add(self, name: str, embeddings: np.ndarray, sources: Sequence[str] = (),
            thumbnails: Sequence[bytes | None] = ()) -> int:
        v = validate_add(self, name, embeddings, sources, thumbnails)
        self._write(lambda c: self._insert(c, v.name, v.vectors, v.sources, v.thumbnails), "enrolling")
        return len(v.vectors)

    def add_records(self, records: Sequence[GalleryRecord]) -> int:
        rows = [validate_add(self, r.name, r.embedding, [r.source], [r.thumbnail]) for r in records]

        self._write(lambda conn: self._bulk_insert(conn, rows), "importing")
        return len(rows)

    def _read(self, sql: str, params: tuple = (), *, binary: bool = False) -> list[tuple]:
        with self._lock:
            try:
                with self._conn.cursor(binary=binary) as cur:
                    return cur.execute(sql, params).fetchall()
            except self._psycopg.Error as exc:
                raise self._error(exc, "reading the gallery") from exc

    def people(self) -> list[PersonSummary]:
        rows = self._read("SELECT p.name, COUNT(e.id), COUNT(e.thumbnail) FROM facepipe_people p LEFT JOIN"
                          " facepipe_embeddings e ON e.person_id = p.id GROUP BY p.id ORDER BY p.name")
        return [PersonSummary(n, int(c), int(t)) for n, c, t in rows]

    def remove(self, name: str) -> int:
        name = check_name(name)

        def delete(conn: Any) -> int:
            row = conn.execute("SELECT id FROM facepipe_people WHERE name = %s", (name,)).fetchone()
            if row is None:
                raise self.unknown_name_error(name)
            n = conn.execute("DELETE FROM facepipe_embeddings WHERE person_id = %s", (row[0],)).rowcount
            conn.execute("DELETE FROM facepipe_people WHERE id = %s", (row[0],))
            return int(n)

        return self._write(delete, "removing")

    def records(self) -> list[GalleryRecord]:
        rows = self._read("SELECT p.name, e.embedding, e.source, e.thumbnail FROM facepipe_embeddings e JOIN"
                          " facepipe_people p ON p.id = e.person_id ORDER BY p.name, e.id", binary=True)
        return [GalleryRecord(n, v, s, bytes(t) if t is not None else None) for n, v, s, t in rows]

    def __len__(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM facepipe_embeddings")[0][0])

    def _generation(self) -> int:
        return int(self._read("SELECT value FROM facepipe_gallery WHERE key = 'generation'")[0][0])

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        q = as_query(queries, self.info.dim, self.location)
        generation = self._generation()
        if self._index is not None and self._index_generation == generation:
            return self._index.search(q, k)
        if len(self) > self.exact_limit:
            return self.search_index(q, k)
        rows = self._read("SELECT p.name, e.embedding FROM facepipe_embeddings e JOIN facepipe_people p"
                          " ON p.id = e.person_id", binary=True)
        vectors = np.stack([r[1] for r in rows]) if rows else np.zeros((0, self.info.dim), np.float32)
        index = ExactIndex(np.array([r[0] for r in rows], dtype=object), vectors, self.info.metric)
        with self._lock:
            self._index, self._index_generation = index, generation
        return index.search(q, k)

    def search_index(self, queries: np.ndarray, k: int) -> Neighbours:
        """k-NN on the server's HNSW index (approximate), one query at a time."""
        q = as_query(queries, self.info.dim, self.location)
        op = _OPS[self.info.metric][1]
        out = Neighbours.empty(len(q), k)
        sql = (f"SELECT p.name, e.embedding {op} %(q)s AS d FROM facepipe_embeddings e JOIN facepipe_people p"
               f" ON p.id = e.person_id ORDER BY e.embedding {op} %(q)s LIMIT %(k)s")
        for i, vec in enumerate(q):
            rows = self._read(sql, {"q": vec, "k": k})  # type: ignore[arg-type]
            for j, (name, d) in enumerate(rows):
                out.names[i, j] = name
                out.distances[i, j] = d
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._index = None

