"""Household search by name after every kind of write (decision 0006).

On PostgreSQL a current search by name reads ``person_name_token``, kept by
triggers on ``person``; on SQLite it matches ``person.name_index``. Both must
give the same households after inserts, renames, moves, removals and deletes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from solidarity.db.engine import unit_of_work
from solidarity.governance.encryption import key_ring
from solidarity.registry import service
from solidarity.registry.intake.service import import_files
from solidarity.registry.models import Person, name_token_key, person_name_token
from solidarity.registry.schemas import RegistrySearch
from tests.integration.test_registry_builders import TinyRegistry, build_registry
from tests.registry_files import load_test_areas, registry_files


def _households(session: Session, **filters: object) -> list[int]:
    page = service.search_households(session, RegistrySearch.model_validate(filters))
    return [h.id for h in page.items]


def test_name_search_follows_renames_moves_removals_and_deletes(session: Session) -> None:
    reg: TinyRegistry = build_registry(session)
    assert _households(session, name="ruth") == [reg.mwangi]
    assert _households(session, name="okello") == [reg.okello]
    # Every term must be borne by the same active member.
    assert _households(session, name="grace okello") == [reg.okello]
    assert _households(session, name="grace mwangi") == []
    assert _households(session, name="okello", sex="male") == [reg.okello]  # John
    assert _households(session, name="okello", sex="male", max_age=10) == []
    assert _households(session, name="!!") == []

    ruth = session.get(Person, reg.ruth)
    assert ruth is not None
    ruth.given_name = "Rehema"
    session.flush()
    assert _households(session, name="ruth") == []
    assert _households(session, name="rehema") == [reg.mwangi]

    ruth.household_id = reg.okello
    session.flush()
    assert _households(session, name="rehema") == [reg.okello]

    ruth.status = "removed"
    session.flush()
    assert _households(session, name="rehema") == []
    ruth.status = "active"
    session.flush()
    assert _households(session, name="rehema") == [reg.okello]

    session.delete(ruth)
    session.flush()
    assert _households(session, name="rehema") == []
    assert _households(session, name="peter mwangi") == [reg.mwangi]


def _expected_tokens(session: Session) -> set[tuple[int, int, int, int]]:
    rows = session.execute(
        select(Person.id, Person.household_id, Person.area_id, Person.name_index).where(
            Person.status == "active"
        )
    )
    return {
        (name_token_key(token), household, person, area)
        for person, household, area, index in rows
        for token in (index or "").split()
    }


def _stored_tokens(session: Session) -> set[tuple[int, int, int, int]]:
    return {(t, h, p, a) for t, h, p, a in session.execute(select(person_name_token))}


def test_tokens_hold_every_active_persons_names(engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("person_name_token exists on PostgreSQL only (decision 0006)")
    load_test_areas(engine)
    assert import_files(engine, registry_files(tmp_path, n=3)).status == "succeeded"
    with unit_of_work(engine) as session:
        stored = _stored_tokens(session)
        assert stored == _expected_tokens(session) and len(stored) >= 9 * 2
        head = session.scalars(select(Person).where(Person.source_key == "P2a")).one()
        token = name_token_key(key_ring().name_token_indexes("Amina")[0][0])
        assert (token, head.household_id, head.id, head.area_id) in stored
        assert head.household_id in _households(session, name="amina")
        # A move to another area (a bulk UPDATE of many rows, as a household move is).
        other = session.scalar(select(Person.area_id).where(Person.area_id != head.area_id))
        session.execute(
            update(Person).where(Person.household_id == head.household_id).values(area_id=other)
        )
        session.flush()
        assert (token, head.household_id, head.id, other) in _stored_tokens(session)
        assert _stored_tokens(session) == _expected_tokens(session)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE person, household, identifier CASCADE"))
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(person_name_token)) == 0
