"""Merging duplicate persons moves their household's programme enrolments; unmerge restores them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from solidarity.linkage import service as linkage
from solidarity.programs import service as programmes
from solidarity.programs.models import Enrolment, Programme
from solidarity.programs.schemas import ProgrammeIn
from solidarity.registry.models import Household
from tests.integration.test_registry_builders import build_registry


def _programme(session: Session, code: str) -> Programme:
    return programmes.create_programme(session, ProgrammeIn(code=code, name=code), "t")


def _enrol(session: Session, programme: Programme, household_id: int) -> Enrolment:
    enrolment = Enrolment(
        programme_id=programme.id,
        household_id=household_id,
        status="active",
        as_of=date(2024, 1, 1),
        benefit_amount=10.0,
        enrolled_on=date(2024, 1, 1),
        created_by="t",
        updated_by="t",
    )
    session.add(enrolment)
    session.flush()
    return enrolment


def test_merge_moves_enrolments_of_the_emptied_household_and_unmerge_restores_them(
    session: Session,
) -> None:
    reg = build_registry(session)
    # Sara Ali is alone in her household: registered again as a duplicate of Amina.
    child_grant, pension = _programme(session, "CG"), _programme(session, "OAP")
    moved = _enrol(session, child_grant, reg.ali)
    duplicate = _enrol(session, pension, reg.ali)
    kept = _enrol(session, pension, reg.okello)
    before = {e.id: (e.household_id, e.status, e.exit_reason) for e in (moved, duplicate, kept)}

    merge = linkage.merge_persons(session, reg.amina, reg.sara, actor="steward")
    session.flush()
    session.expire_all()
    assert session.get(Household, reg.ali).status == "merged"  # type: ignore[union-attr]
    after = {e.id: e for e in session.scalars(select(Enrolment))}
    # The child grant follows the survivor's household; the second pension enrolment
    # closes as a duplicate; the survivor's own enrolment is untouched.
    assert (after[moved.id].household_id, after[moved.id].status) == (reg.okello, "active")
    assert after[duplicate.id].status == "exited"
    assert after[duplicate.id].exit_reason == "duplicate registration (merged)"
    assert (after[kept.id].household_id, after[kept.id].status) == (reg.okello, "active")

    linkage.unmerge(session, merge.id, actor="steward")
    session.flush()
    session.expire_all()
    restored = {
        e.id: (e.household_id, e.status, e.exit_reason) for e in session.scalars(select(Enrolment))
    }
    assert restored == before
