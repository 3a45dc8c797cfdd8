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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
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


# --- governance: accounts, sign-in and authenticated API clients ------------------------

#: Password of every account the fixtures create.
TEST_PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _governance_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # Keys in the test's own directory; cheap Argon2 so that accounts are quick to make.
    monkeypatch.setenv("SOLIDARITY_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("SOLIDARITY_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("SOLIDARITY_ARGON2_MEMORY_KIB", "64")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def make_account(engine: Engine) -> Callable[..., str]:
    """Create an account: ``make_account("kato", "registration_officer", "R01-D01")``.

    The area (national when omitted) must exist. Returns the username; the
    password is ``TEST_PASSWORD``.
    """
    from solidarity.db.engine import unit_of_work
    from solidarity.governance.schemas import GrantIn
    from solidarity.governance.service import create_user

    def make(
        username: str,
        role: str | tuple[str, ...] | None = None,
        area: str | None = None,
        programmes: list[str] | None = None,
    ) -> str:
        names = (role,) if isinstance(role, str) else role or ()
        grants = [GrantIn(role=r, area_code=area, programme_codes=programmes) for r in names]
        with unit_of_work(engine) as s:
            create_user(
                s,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                actor="test",
                grants=grants,
            )
        return username

    return make


@pytest.fixture
def api(engine: Engine) -> FastAPI:
    """The application on ``engine`` (one per test, shared by the test's clients)."""
    from solidarity.web.app import create_app

    return create_app(engine)


@pytest.fixture
def anonymous(api: FastAPI) -> TestClient:
    """A client that has not signed in (HTTPS, so that secure cookies are kept)."""
    return TestClient(api, base_url="https://testserver")


@pytest.fixture
def client_as(api: FastAPI, make_account: Callable[..., str]) -> Callable[..., TestClient]:
    """A signed-in client of an account with a role (or a tuple of roles), made on first use.

    ``client_as("registration_officer", "R01-D01", username="officer")`` signs in
    (creating the account if needed) and sends the session's CSRF token with
    every request. The username defaults to the role (plus ``@area``).
    """
    created: set[str] = set()

    def sign_in(
        role: str | tuple[str, ...],
        area: str | None = None,
        *,
        username: str | None = None,
        programmes: list[str] | None = None,
    ) -> TestClient:
        label = role if isinstance(role, str) else "+".join(role)
        name = username or (label if area is None else f"{label}@{area}")
        if name not in created:
            make_account(name, role, area, programmes)
            created.add(name)
        client = TestClient(api, base_url="https://testserver")
        response = client.post(
            "/api/v1/auth/login", json={"username": name, "password": TEST_PASSWORD}
        )
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client

    return sign_in


@pytest.fixture
def role_clients(client_as: Callable[..., TestClient]) -> dict[str, TestClient]:
    """One national, signed-in client per role (machine-client ``partner`` excluded)."""
    from solidarity.governance.roles import roles

    return {role: client_as(role) for role in roles() if role != "partner"}


@pytest.fixture
def partner_client(api: FastAPI, engine: Engine) -> Callable[..., TestClient]:
    """A client holding a bearer token of a new machine client (role ``partner`` by default).

    ``partner_client(roles=["partner"], area=None, agency=None, scope=None)``.
    """
    from solidarity.db.engine import unit_of_work
    from solidarity.governance.schemas import GrantIn
    from solidarity.governance.service import create_client

    count = 0

    def make(
        roles: tuple[str, ...] = ("partner",),
        area: str | None = None,
        agency: str | None = None,
        scope: str | None = None,
    ) -> TestClient:
        nonlocal count
        count += 1
        client_id = f"client-{count}"
        with unit_of_work(engine) as s:
            _user, secret = create_client(
                s,
                client_id=client_id,
                display_name=client_id,
                actor="test",
                grants=[GrantIn(role=r, area_code=area) for r in roles],
                agency_code=agency,
            )
        client = TestClient(api, base_url="https://testserver")
        form = {"grant_type": "client_credentials", "client_id": client_id}
        form["client_secret"] = secret
        if scope:
            form["scope"] = scope
        response = client.post("/oauth2/client/token", data=form)
        assert response.status_code == 200, response.text
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return client

    return make


# --- field encryption: one key ring for the whole run -------------------------------


@pytest.fixture(scope="session")
def field_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A field key ring generated once per test run (the session databases outlive tests)."""
    from solidarity.governance.encryption import KeyRing, write_key_ring

    path = tmp_path_factory.mktemp("field-keys") / "field-keys.json"
    write_key_ring(KeyRing.generate(str(path)), path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_field_keys(field_key_file: Path) -> Iterator[None]:
    """The run's key ring for fixtures wider than a test (module apps, session databases)."""
    from solidarity.governance.encryption import reset_key_ring

    patch = pytest.MonkeyPatch()
    patch.setenv("SOLIDARITY_KEY_FILE", str(field_key_file))
    reset_key_ring()
    yield
    patch.undo()
    reset_key_ring()


@pytest.fixture(autouse=True)
def _field_keys(monkeypatch: pytest.MonkeyPatch, field_key_file: Path) -> Iterator[None]:
    from solidarity.governance.encryption import reset_key_ring

    monkeypatch.setenv("SOLIDARITY_KEY_FILE", str(field_key_file))
    get_settings.cache_clear()
    reset_key_ring()
    yield
    reset_key_ring()
