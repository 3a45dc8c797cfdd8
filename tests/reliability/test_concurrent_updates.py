"""Two officers change one household at the same time: one change applies, the other gets 412.

The API test (tests/e2e/test_registry_api.py) covers the HTTP side in sequence;
here two units of work really overlap: both read the household at one version,
the first approval commits, and the second, whose session still holds the version
it read, is refused by the row version check of its UPDATE, on both databases.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from solidarity.db.engine import session_factory, unit_of_work
from solidarity.errors import StaleVersionError
from solidarity.registry import changes
from solidarity.registry.repository import HouseholdRepository
from tests.integration.test_registry_builders import build_registry


def test_two_overlapping_approvals_of_one_household_one_is_refused(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
        ids = [
            changes.create_change_request(
                session,
                kind="update_fields",
                household_id=reg.okello,
                payload={"household": {"roof": roof}, "base_version": 1},
                actor="officer",
            ).id
            for roof in ("tiles", "concrete")
        ]
    first, second = session_factory(engine)(), session_factory(engine)()
    try:
        # Both supervisors open the household at version 1.
        for s in (first, second):
            assert HouseholdRepository(s).get(reg.okello).version == 1  # type: ignore[union-attr]
        changes.approve_change_request(first, ids[0], actor="supervisor.a", expected_version=1)
        first.commit()
        with pytest.raises(StaleVersionError) as refused:
            changes.approve_change_request(second, ids[1], actor="supervisor.b", expected_version=1)
        assert refused.value.status_code == 412
        second.rollback()
    finally:
        first.close()
        second.close()
    with unit_of_work(engine) as session:
        household = HouseholdRepository(session).get(reg.okello)
        assert household is not None and (household.roof, household.version) == ("tiles", 2)
        assert changes.get_change_request(session, ids[1]).status == "submitted"
        with pytest.raises(StaleVersionError):  # and it cannot be approved later either
            changes.approve_change_request(session, ids[1], actor="supervisor.b")


def test_a_decision_on_a_changed_request_is_refused(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
        request = changes.create_change_request(
            session,
            kind="update_fields",
            household_id=reg.okello,
            payload={"household": {"roof": "tiles"}},
            actor="officer",
        )
        read = request.version
    with unit_of_work(engine) as session:
        changes.reject_change_request(
            session, request.id, actor="supervisor.a", reason="no photo", expected_version=read
        )
    with unit_of_work(engine) as session, pytest.raises(StaleVersionError) as refused:
        changes.approve_change_request(
            session, request.id, actor="supervisor.b", expected_version=read
        )
    assert refused.value.extra["current_version"] == read + 1
