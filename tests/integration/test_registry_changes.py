"""Change requests: validation, maker-checker, each kind's effect and its history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from solidarity.errors import (
    ConflictError,
    PermissionDenied,
    StaleVersionError,
    ValidationFailed,
)
from solidarity.registry import changes, service
from solidarity.registry.models import HouseholdHistory, Person, PersonHistory
from tests.integration.test_registry_builders import REGISTERED, TinyRegistry, build_registry

BEFORE_CHANGES = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def reg(session: Session) -> TinyRegistry:
    return build_registry(session)


def _apply(session: Session, kind: str, household_id: int, payload: dict[str, Any]) -> Any:
    request = changes.create_change_request(
        session, kind=kind, household_id=household_id, payload=payload, actor="officer"
    )
    assert request.status == "submitted"
    assert request.validation_errors == []
    return changes.approve_change_request(session, request.id, actor="supervisor")


def _heads(session: Session, household_id: int) -> list[int]:
    query = select(Person.id).where(
        Person.household_id == household_id,
        Person.status == "active",
        Person.relationship == "head",
    )
    return list(session.scalars(query))


def _person_history(session: Session, person_id: int) -> list[PersonHistory]:
    query = select(PersonHistory).where(PersonHistory.person_id == person_id)
    return list(session.scalars(query.order_by(PersonHistory.version)))


def test_update_fields_keeps_previous_state_and_reads_as_of(
    session: Session, reg: TinyRegistry
) -> None:
    request = _apply(
        session,
        "update_fields",
        reg.okello,
        {
            "household": {"roof": "metal_sheet", "electricity": "yes"},
            "person_id": reg.john,
            "person": {"main_activity": "self_employed", "income": 120},
        },
    )
    assert request.status == "applied"
    assert request.applied_at is not None
    assert request.decided_by == "supervisor"

    now = service.get_household(session, reg.okello)
    assert (now.roof, now.electricity, now.version) == ("metal_sheet", True, 2)
    assert now.change_request_id == request.id
    assert now.changed_by == "supervisor"
    john_now = next(m for m in now.members if m.id == reg.john)
    assert (john_now.main_activity, john_now.income) == ("self_employed", 120.0)

    before = service.get_household(session, reg.okello, as_of=BEFORE_CHANGES.date())
    assert (before.roof, before.electricity, before.version) == ("thatch", False, 1)
    john_before = next(m for m in before.members if m.id == reg.john)
    assert john_before.main_activity is None

    history = session.scalars(
        select(HouseholdHistory).where(HouseholdHistory.household_id == reg.okello)
    ).all()
    assert len(history) == 1
    assert history[0].roof == "thatch"
    assert history[0].version == 1
    assert history[0].valid_to.replace(tzinfo=UTC) == request.applied_at.replace(tzinfo=UTC)
    assert [h.version for h in _person_history(session, reg.john)] == [1]


def test_household_did_not_exist_before_registration(session: Session, reg: TinyRegistry) -> None:
    from solidarity.errors import NotFoundError

    with pytest.raises(NotFoundError):
        service.get_household(session, reg.okello, as_of="2023-12-31")
    assert service.get_household(session, reg.okello, as_of=REGISTERED).id == reg.okello


def test_add_member_with_identifier(session: Session, reg: TinyRegistry) -> None:
    request = _apply(
        session,
        "add_member",
        reg.ali,
        {
            "person": {
                "given_name": "Omar",
                "family_name": "Ali",
                "sex": "male",
                "birth_date": "2024-03-02",
                "relationship": "child",
            },
            "identifiers": [{"id_type": "birth_certificate", "value": "BC-77"}],
        },
    )
    new_id = request.result["person_id"]
    household = service.get_household(session, reg.ali)
    omar = next(m for m in household.members if m.id == new_id)
    assert omar.birth_date == date(2024, 3, 2)
    assert [(i.id_type, i.value) for i in omar.identifiers] == [("birth_certificate", "BC-77")]
    assert omar.area_code == "R02-D01"
    # Before the change the household had only Sara.
    old = service.get_household(session, reg.ali, as_of=BEFORE_CHANGES)
    assert [m.id for m in old.members] == [reg.sara]
    assert _heads(session, reg.ali) == [reg.sara]


def test_remove_member_death_marks_deceased_and_never_deletes(
    session: Session, reg: TinyRegistry
) -> None:
    _apply(session, "remove_member", reg.okello, {"person_id": reg.john, "removal_reason": "death"})
    john = session.get(Person, reg.john)
    assert john is not None
    assert (john.status, john.removal_reason) == ("deceased", "death")
    assert [m.id for m in service.get_household(session, reg.okello).members] == [
        reg.amina,
        reg.grace,
    ]
    old = service.get_household(session, reg.okello, as_of=BEFORE_CHANGES)
    assert reg.john in [m.id for m in old.members]
    assert _person_history(session, reg.john)[0].status == "active"


def test_remove_member_migration_marks_removed(session: Session, reg: TinyRegistry) -> None:
    _apply(
        session,
        "remove_member",
        reg.okello,
        {"person_id": reg.grace, "removal_reason": "migration"},
    )
    grace = session.get(Person, reg.grace)
    assert grace is not None and grace.status == "removed"


def test_removing_the_head_needs_a_new_head(session: Session, reg: TinyRegistry) -> None:
    with pytest.raises(ValidationFailed) as info:
        changes.create_change_request(
            session,
            kind="remove_member",
            household_id=reg.okello,
            payload={"person_id": reg.amina, "removal_reason": "death"},
            actor="officer",
        )
    assert info.value.errors[0]["field"] == "new_head_person_id"
    _apply(
        session,
        "remove_member",
        reg.okello,
        {"person_id": reg.amina, "removal_reason": "death", "new_head_person_id": reg.john},
    )
    assert _heads(session, reg.okello) == [reg.john]


def test_change_head(session: Session, reg: TinyRegistry) -> None:
    request = _apply(
        session,
        "change_head",
        reg.okello,
        {"person_id": reg.john, "previous_head_relationship": "spouse"},
    )
    assert request.result["previous_head_person_id"] == reg.amina
    assert _heads(session, reg.okello) == [reg.john]
    amina = session.get(Person, reg.amina)
    assert amina is not None and amina.relationship == "spouse"
    # The default relationship for the former head:
    _apply(session, "change_head", reg.okello, {"person_id": reg.grace})
    john = session.get(Person, reg.john)
    assert john is not None and john.relationship == "other_relative"
    assert _heads(session, reg.okello) == [reg.grace]
    before = service.get_household(session, reg.okello, as_of=BEFORE_CHANGES)
    assert before.head_person_id == reg.amina


def test_move_household_moves_members(session: Session, reg: TinyRegistry) -> None:
    request = _apply(session, "move_household", reg.okello, {"area_code": "R02-D01"})
    assert request.result["from_area_code"] == "R01-D01"
    household = service.get_household(session, reg.okello)
    assert household.area_code == "R02-D01"
    assert {m.area_code for m in household.members} == {"R02-D01"}
    old = service.get_household(session, reg.okello, as_of=BEFORE_CHANGES)
    assert old.area_code == "R01-D01"
    assert {m.area_code for m in old.members} == {"R01-D01"}


def test_split_household(session: Session, reg: TinyRegistry) -> None:
    request = _apply(
        session,
        "split_household",
        reg.okello,
        {
            "person_ids": [reg.amina, reg.grace],
            "head_person_id": reg.amina,
            "remaining_head_person_id": reg.john,
            "area_code": "R01-D02",
            "household": {"roof": "tiles"},
        },
    )
    new_id = request.result["new_household_id"]
    new = service.get_household(session, new_id)
    assert new.area_code == "R01-D02"
    assert new.roof == "tiles"
    assert sorted(m.id for m in new.members) == sorted([reg.amina, reg.grace])
    assert new.head_person_id == reg.amina
    original = service.get_household(session, reg.okello)
    assert [m.id for m in original.members] == [reg.john]
    assert _heads(session, reg.okello) == [reg.john]
    assert _heads(session, new_id) == [reg.amina]
    # The new household did not exist before the split.
    from solidarity.errors import NotFoundError

    with pytest.raises(NotFoundError):
        service.get_household(session, new_id, as_of=BEFORE_CHANGES)


def test_split_must_leave_a_member(session: Session, reg: TinyRegistry) -> None:
    with pytest.raises(ValidationFailed) as info:
        changes.create_change_request(
            session,
            kind="split_household",
            household_id=reg.mwangi,
            payload={"person_ids": [reg.peter, reg.ruth], "head_person_id": reg.peter},
            actor="officer",
        )
    assert {
        "field": "person_ids",
        "message": "the original household must keep at least one member",
    } in info.value.errors


def test_merge_households(session: Session, reg: TinyRegistry) -> None:
    request = _apply(
        session,
        "merge_households",
        reg.okello,
        {"absorbed_household_id": reg.ali, "absorbed_head_relationship": "sibling"},
    )
    assert request.result["moved_person_ids"] == [reg.sara]
    absorbed = service.get_household(session, reg.ali)
    assert absorbed.status == "merged"
    assert absorbed.members == []
    merged = service.get_household(session, reg.okello)
    sara = next(m for m in merged.members if m.id == reg.sara)
    assert (sara.relationship, sara.area_code) == ("sibling", "R01-D01")
    assert _heads(session, reg.okello) == [reg.amina]
    old = service.get_household(session, reg.ali, as_of=BEFORE_CHANGES)
    assert (old.status, [m.id for m in old.members]) == ("active", [reg.sara])
    with pytest.raises(ConflictError):
        changes.create_change_request(
            session,
            kind="update_fields",
            household_id=reg.ali,
            payload={"household": {"roof": "tiles"}},
            actor="officer",
        )


def test_validation_errors_name_field_and_reason(session: Session, reg: TinyRegistry) -> None:
    with pytest.raises(ValidationFailed) as info:
        changes.create_change_request(
            session,
            kind="add_member",
            household_id=reg.okello,
            payload={
                "person": {
                    "given_name": "Baby",
                    "sex": "unknown",
                    "birth_date": "2999-01-01",
                    "relationship": "child",
                    "wg_seeing": 7,
                },
                "identifiers": [{"id_type": "national_id", "value": "NID-001"}],
            },
            actor="officer",
        )
    by_field = {e["field"]: e["message"] for e in info.value.errors}
    assert "not in code list sex" in by_field["person.sex"]
    assert by_field["person.birth_date"] == "birth date is in the future"
    assert "washington_group" in by_field["person.wg_seeing"]
    assert by_field["person.family_name"] == "is required"
    assert by_field["identifiers[0].value"] == f"already held by person {reg.amina}"
    # Nothing was filed.
    assert changes.list_change_requests(session).total == 0


def test_unknown_fields_and_bounds_are_refused(session: Session, reg: TinyRegistry) -> None:
    with pytest.raises(ValidationFailed) as info:
        changes.create_change_request(
            session,
            kind="update_fields",
            household_id=reg.okello,
            payload={"household": {"colour": "blue", "latitude": 123, "area_code": "R02"}},
            actor="officer",
        )
    by_field = {e["field"]: e["message"] for e in info.value.errors}
    assert by_field["household.colour"] == "unknown field"
    assert by_field["household.latitude"] == "must be at most 90"
    assert by_field["household.area_code"] == "use a move_household change request"


def test_maker_checker_and_decided_requests(session: Session, reg: TinyRegistry) -> None:
    request = changes.create_change_request(
        session,
        kind="update_fields",
        household_id=reg.okello,
        payload={"household": {"roof": "tiles"}},
        actor="officer",
    )
    with pytest.raises(PermissionDenied):
        changes.approve_change_request(session, request.id, actor="officer")
    changes.approve_change_request(session, request.id, actor="supervisor")
    with pytest.raises(ConflictError):
        changes.approve_change_request(session, request.id, actor="supervisor")
    with pytest.raises(ConflictError):
        changes.reject_change_request(session, request.id, actor="supervisor", reason="late")


def test_reject_with_reason_leaves_registry_untouched(session: Session, reg: TinyRegistry) -> None:
    request = changes.create_change_request(
        session,
        kind="move_household",
        household_id=reg.okello,
        payload={"area_code": "R02-D01"},
        actor="officer",
    )
    with pytest.raises(ValidationFailed):
        changes.reject_change_request(session, request.id, actor="supervisor", reason=" ")
    rejected = changes.reject_change_request(
        session, request.id, actor="supervisor", reason="No proof of new address"
    )
    assert (rejected.status, rejected.decision_reason) == ("rejected", "No proof of new address")
    household = service.get_household(session, reg.okello)
    assert (household.area_code, household.version) == ("R01-D01", 1)
    assert changes.list_change_requests(session, status="rejected").total == 1


def test_second_request_on_same_household_is_stale(session: Session, reg: TinyRegistry) -> None:
    first = changes.create_change_request(
        session,
        kind="update_fields",
        household_id=reg.okello,
        payload={"household": {"roof": "tiles"}},
        actor="officer",
    )
    second = changes.create_change_request(
        session,
        kind="update_fields",
        household_id=reg.okello,
        payload={"household": {"roof": "concrete"}},
        actor="officer2",
    )
    assert first.payload["base_version"] == second.payload["base_version"] == 1
    changes.approve_change_request(session, first.id, actor="supervisor")
    with pytest.raises(StaleVersionError):
        changes.approve_change_request(session, second.id, actor="supervisor")
    session.rollback()  # the entry point rolls back the failed unit of work


def test_stale_refusal_leaves_first_change_in_place(engine: Any) -> None:
    from solidarity.db.engine import unit_of_work

    with unit_of_work(engine) as s:
        reg = build_registry(s)
        ids = [
            changes.create_change_request(
                s,
                kind="update_fields",
                household_id=reg.okello,
                payload={"household": {"roof": roof}},
                actor="officer",
            ).id
            for roof in ("tiles", "concrete")
        ]
    with unit_of_work(engine) as s:
        changes.approve_change_request(s, ids[0], actor="supervisor")
    with pytest.raises(StaleVersionError), unit_of_work(engine) as s:
        changes.approve_change_request(s, ids[1], actor="supervisor")
    with unit_of_work(engine) as s:
        household = service.get_household(s, reg.okello)
        assert (household.roof, household.version) == ("tiles", 2)
        assert changes.get_change_request(s, ids[1]).status == "submitted"
        count = s.scalar(select(func.count()).select_from(HouseholdHistory))
        assert count == 1


def test_caller_base_version_must_be_current(session: Session, reg: TinyRegistry) -> None:
    with pytest.raises(StaleVersionError):
        changes.create_change_request(
            session,
            kind="update_fields",
            household_id=reg.okello,
            payload={"household": {"roof": "tiles"}, "base_version": 5},
            actor="officer",
        )


def test_timeline_lists_versions_with_change_requests(session: Session, reg: TinyRegistry) -> None:
    first = _apply(session, "update_fields", reg.okello, {"household": {"roof": "tiles"}})
    second = _apply(session, "move_household", reg.okello, {"area_code": "R01-D02"})
    timeline = service.household_timeline(session, reg.okello)
    assert [v.version for v in timeline.versions] == [1, 2, 3]
    assert [v.change_request_id for v in timeline.versions] == [None, first.id, second.id]
    assert [v.fields["roof"] for v in timeline.versions] == ["thatch", "tiles", "tiles"]
    assert [v.area_code for v in timeline.versions] == ["R01-D01", "R01-D01", "R01-D02"]
    assert timeline.versions[-1].valid_to is None
    assert timeline.versions[0].valid_to == timeline.versions[1].valid_from
