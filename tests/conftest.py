from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never write the user's cache folder (ONNX exports); one folder per test session,
# so the session's later preparations of a bundle load from it as a user's would.
_CACHE = tempfile.mkdtemp(prefix="music-tagger-test-cache-")
os.environ["MUSIC_TAGGER_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)


@pytest.fixture
def library(tmp_path: Path):
    """A fresh, migrated library database in a temp folder."""
    from tagger_core.db import open_library

    lib = open_library(tmp_path / "library.db")
    yield lib
    lib.close()


def _no_server(reason: str) -> None:
    """Skip PostgreSQL tests where no server can run; under CI=true that is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL test server required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server(request):
    """A throw-away PostgreSQL cluster for the session, removed at the end (also on failure)."""
    import subprocess

    try:
        import psycopg  # noqa: F401
    except ImportError:
        _no_server("psycopg is not installed (pip install -e '.[dev]')")
    from db.pg_server import PgServer

    try:
        server = PgServer()
        request.addfinalizer(server.stop)
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        _no_server(f"cannot start a PostgreSQL test server: {err}")
    return server


@pytest.fixture
def pg_url(pg_server, request) -> str:
    """A fresh, empty database on the test server; dropped after the test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    pg_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_server.admin(f'CREATE DATABASE "{name}"')
    yield pg_server.url(name)
    pg_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_location(request, tmp_path: Path) -> str:
    """Where a test library lives, once per backend: an SQLite file, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "library.db")
    return request.getfixturevalue("pg_url")
