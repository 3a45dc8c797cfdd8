"""Every migration upgrades and downgrades on both databases, with data in them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from solidarity.db import migrate
from solidarity.db.engine import make_engine, unit_of_work
from solidarity.registry.models import Household, Person
from tests.conftest import IN_CI, PG_URL
from tests.integration.test_registry_builders import build_registry


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A brand-new, unmigrated database of each kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'walk.db'}")
        yield engine
        engine.dispose()
        return
    name = f"solidarity_walk_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _chain(engine: Engine) -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _raw_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT given_name FROM person")).scalars())


def test_walk_every_migration_up_down_and_up_with_data(empty_engine: Engine) -> None:
    chain = _chain(empty_engine)
    assert chain[0] == "0001" and len(chain) == len(set(chain))
    # The registry is filled at the head (its tables have grown since 0001: 0009 added
    # the blind indexes), so every downgrade and upgrade runs with rows present.
    migrate.upgrade(empty_engine, "head")
    with unit_of_work(empty_engine) as session:
        build_registry(session)
    assert "Amina" not in _raw_names(empty_engine)
    for revision in reversed(chain[:-1]):
        migrate.downgrade(empty_engine, revision)
        assert migrate.current_revision(empty_engine) == revision
    # Below 0009 the names are plaintext again, decrypted by its downgrade.
    assert _raw_names(empty_engine) == ["Amina", "Grace", "John", "Peter", "Ruth", "Sara"]
    for revision in chain[1:]:
        migrate.upgrade(empty_engine, revision)
        assert migrate.current_revision(empty_engine) == revision
    assert migrate.current_revision(empty_engine) == chain[-1]
    assert "Amina" not in _raw_names(empty_engine)
    with unit_of_work(empty_engine) as session:
        assert session.scalar(select(func.count()).select_from(Household)) == 3
        assert session.scalar(select(func.count()).select_from(Person)) == 6
        names = sorted(session.scalars(select(Person.given_name)))
        assert names == ["Amina", "Grace", "John", "Peter", "Ruth", "Sara"]
    # And down to nothing: no table of ours is left behind.
    migrate.downgrade(empty_engine, "base")
    left = set(inspect(empty_engine).get_table_names()) - {"alembic_version"}
    assert left == set()
