"""Shared fixtures: a migrated database per backend, emptied after each test.

Every test that takes ``engine`` (or ``session``) runs twice: on SQLite and on
PostgreSQL. PostgreSQL comes from ``SOLIDARITY_TEST_POSTGRES_URL`` (default: the
local server on 127.0.0.1:5432, database ``test``); each test run creates and
drops its own database there. Outside CI an unreachable server skips those
tests with the reason; with ``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.db import migrate
from solidarity.db.base import Base
from solidarity.db.engine import make_engine, session_factory

PG_URL = os.environ.get(
    "SOLIDARITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _empty(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("sqlite") / "solidarity.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    admin_url = make_url(PG_URL)
    name = f"solidarity_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        message = f"PostgreSQL unreachable at {admin_url.render_as_string()}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    eng: Engine = request.getfixturevalue(fixture)
    try:
        yield eng
    finally:
        _empty(eng)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on ``engine``; the test decides when to commit."""
    with session_factory(engine)() as s:
        yield s
        s.rollback()


@pytest.fixture
def database_url(engine: Engine) -> str:
    """The URL of ``engine``, for code under test that opens its own engine."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("SOLIDARITY_UPLOAD_DIR", str(tmp_path / "uploads"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
