"""Every migration upgrades and downgrades on both databases, with data in them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, column, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from solidarity.db import migrate
from solidarity.db.base import JSONType, utcnow
from solidarity.db.engine import make_engine, unit_of_work
from solidarity.linkage.models import LinkageMerge
from solidarity.registry.models import ChangeRequest, Household, Person
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


def _raw_documents(engine: Engine) -> str:
    """The stored change-request payloads and merge snapshots, as the database holds them."""
    with engine.connect() as conn:
        payloads = conn.execute(text("SELECT payload, result FROM change_request")).all()
        merges = conn.execute(text("SELECT survivor_before, merged_before FROM linkage_merge"))
        return "\n".join(str(v) for row in [*payloads, *merges.all()] for v in row)


def _add_documents(engine: Engine) -> None:
    """A change request and a merge whose JSON documents copy a name and a phone."""
    with unit_of_work(engine) as session:
        session.add(
            ChangeRequest(
                kind="add_member",
                payload={"person": {"given_name": "Zawadi", "phone": "+256700999888"}},
                result={"person_id": 7, "given_name": "Zawadi"},
                requested_by="migration-walk",
            )
        )
        session.add(
            LinkageMerge(
                survivor_id=1,
                merged_id=2,
                survivor_before={"given_name": "Zawadi"},
                merged_before={"phone": "+256700999888"},
                fields_taken=["phone"],
                identifiers_moved=[],
                memberships={},
            )
        )


def _add_plain_documents(engine: Engine) -> None:
    """At 0009: the same documents stored as plain JSON, as before 0010."""
    requests = table(
        "change_request",
        column("kind"),
        column("status"),
        column("payload", JSONType),
        column("result", JSONType),
        column("requested_by"),
        column("version"),
        column("created_at"),
        column("updated_at"),
        column("created_by"),
        column("updated_by"),
    )
    merges = table(
        "linkage_merge",
        column("survivor_id"),
        column("merged_id"),
        column("status"),
        column("survivor_before", JSONType),
        column("merged_before", JSONType),
        column("fields_taken", JSONType),
        column("identifiers_moved", JSONType),
        column("memberships", JSONType),
        column("created_at"),
        column("updated_at"),
        column("created_by"),
        column("updated_by"),
    )
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now, "created_by": "t", "updated_by": "t"}
    with engine.begin() as conn:
        conn.execute(
            requests.insert().values(
                kind="add_member",
                status="submitted",
                requested_by="migration-walk",
                version=1,
                payload={"person": {"given_name": "Zawadi", "phone": "+256700999888"}},
                result=None,
                **stamps,
            )
        )
        conn.execute(
            merges.insert().values(
                survivor_id=1,
                merged_id=2,
                status="applied",
                survivor_before={"given_name": "Zawadi"},
                merged_before={"phone": "+256700999888"},
                fields_taken=["phone"],
                identifiers_moved=[],
                memberships={},
                **stamps,
            )
        )


def test_walk_every_migration_up_down_and_up_with_data(empty_engine: Engine) -> None:
    chain = _chain(empty_engine)
    assert chain[0] == "0001" and len(chain) == len(set(chain))
    # The registry is filled at the head (its tables have grown since 0001: 0009 added
    # the blind indexes), so every downgrade and upgrade runs with rows present.
    migrate.upgrade(empty_engine, "head")
    with unit_of_work(empty_engine) as session:
        build_registry(session)
    _add_documents(empty_engine)
    assert "Amina" not in _raw_names(empty_engine)
    assert "Zawadi" not in _raw_documents(empty_engine)
    for revision in reversed(chain[:-1]):
        migrate.downgrade(empty_engine, revision)
        assert migrate.current_revision(empty_engine) == revision
        if revision == "0009":
            # Below 0010 the JSON documents are plaintext JSON again.
            raw = _raw_documents(empty_engine)
            assert "Zawadi" in raw and "+256700999888" in raw
    # Below 0009 the names are plaintext again, decrypted by its downgrade.
    assert _raw_names(empty_engine) == ["Amina", "Grace", "John", "Peter", "Ruth", "Sara"]
    for revision in chain[1:]:
        if revision == "0010":
            _add_plain_documents(empty_engine)
        migrate.upgrade(empty_engine, revision)
        assert migrate.current_revision(empty_engine) == revision
    assert migrate.current_revision(empty_engine) == chain[-1]
    assert "Amina" not in _raw_names(empty_engine)
    with unit_of_work(empty_engine) as session:
        assert session.scalar(select(func.count()).select_from(Household)) == 3
        assert session.scalar(select(func.count()).select_from(Person)) == 6
        names = sorted(session.scalars(select(Person.given_name)))
        assert names == ["Amina", "Grace", "John", "Peter", "Ruth", "Sara"]
        # 0010 sealed the plaintext documents it found; the application reads them.
        raw = _raw_documents(empty_engine)
        assert "Zawadi" not in raw and "+256700999888" not in raw
        requests = session.scalars(select(ChangeRequest).order_by(ChangeRequest.id)).all()
        # The request added at the head went down (decrypted) and up (sealed) again;
        # the one added at 0009 was sealed by 0010.
        walked, added = [r for r in requests if r.requested_by == "migration-walk"]
        for request in (walked, added):
            assert request.payload == {"person": {"given_name": "Zawadi", "phone": "+256700999888"}}
        assert walked.result == {"person_id": 7, "given_name": "Zawadi"}
        assert added.result is None
        (merge,) = session.scalars(select(LinkageMerge)).all()
        assert merge.survivor_before == {"given_name": "Zawadi"}
        assert merge.merged_before == {"phone": "+256700999888"}
    # And down to nothing: no table of ours is left behind.
    migrate.downgrade(empty_engine, "base")
    left = set(inspect(empty_engine).get_table_names()) - {"alembic_version"}
    assert left == set()
