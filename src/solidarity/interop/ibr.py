"""The Integrated Beneficiary Registry view: who is enrolled where, and what they received.

Enrolments are per household in Solidarity; a Beneficiary record (digest
section 11) is one enrolment with its programme and the benefits paid (or
computed) per payment period. The programmes' tables are read here, read-only,
in bulk for one page of persons or households.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from solidarity.interop.mapping import DataMapping
from solidarity.interop.repository import RegistryReader
from solidarity.programs.models import Enrolment, Entitlement, PaymentCycle, Programme

#: Enrolment status -> IBR enrolment status code (1 active, 2 deceased, 3 graduated, 4 suspended).
STATUS_CODES = {"active": "1", "exited": "3", "waitlisted": "4", "suspended": "4"}
#: Programme instrument -> IBR programme_type (1 unconditional cash ... 14 other).
PROGRAMME_TYPES = {"cash_transfer": "1", "in_kind": "4", "fee_waiver": "9", "public_works": "12"}


def _benefit(entitlement: Entitlement, cycle: PaymentCycle) -> dict[str, Any]:
    benefit: dict[str, Any] = {
        "benefit_type": "1",
        "benefit_date": (entitlement.paid_on or cycle.window_end).isoformat(),
        "benefit_value": entitlement.paid_amount
        if entitlement.paid_amount is not None
        else entitlement.amount,
        "benefit_description": f"period {cycle.period}: {entitlement.status}",
    }
    return benefit


def enrolments_of(
    session: Session, household_ids: Sequence[int], active_only: bool = False
) -> list[tuple[Enrolment, Programme]]:
    """Enrolments (not waiting lists) of the households with their programmes."""
    if not household_ids:
        return []
    query = (
        select(Enrolment, Programme)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .where(Enrolment.household_id.in_(list(household_ids)))
        .order_by(Enrolment.household_id, Programme.code)
    )
    if active_only:
        query = query.where(Enrolment.status == "active")
    else:
        query = query.where(Enrolment.status.in_(["active", "exited"]))
    return [(row[0], row[1]) for row in session.execute(query)]


def beneficiaries(
    session: Session,
    mapping: DataMapping,
    entity: str,
    ids: list[int],
    allowed: frozenset[str],
) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    """Beneficiary records of the persons or households ``ids``, and the ids disclosed."""
    reader = RegistryReader(session)
    if entity == "Member":
        data = reader.load(person_ids=ids)
        household_of = {
            pid: data.persons[pid]["household_id"] for pid in ids if pid in data.persons
        }
        household_ids = sorted(set(household_of.values()))
    else:
        data = reader.load(household_ids=ids)
        household_ids = [h for h in ids if h in data.households]
        household_of = {}
    pairs = enrolments_of(session, household_ids)
    enrolment_ids = [e.id for e, _ in pairs]
    benefits: dict[int, list[dict[str, Any]]] = {}
    if enrolment_ids:
        rows = session.execute(
            select(Entitlement, PaymentCycle)
            .join(PaymentCycle, PaymentCycle.id == Entitlement.cycle_id)
            .where(Entitlement.enrolment_id.in_(enrolment_ids))
            .order_by(PaymentCycle.period)
        )
        for entitlement, cycle in rows:
            benefits.setdefault(entitlement.enrolment_id, []).append(_benefit(entitlement, cycle))
    by_household: dict[int, list[tuple[Enrolment, Programme]]] = {}
    for enrolment, programme in pairs:
        by_household.setdefault(enrolment.household_id, []).append((enrolment, programme))
    records: list[dict[str, Any]] = []

    def record(
        enrolment: Enrolment, programme: Programme, subject: dict[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "assistance_unit": "2",
            "programme_identifier": {
                "programme_identifier": programme.code,
                "programme_name": programme.name,
                "implementing_institution": programme.ministry,
                "institution_type": "1",
                "contribution_type": "3",
                "programme_type": PROGRAMME_TYPES.get(programme.instrument, "14"),
            },
            "enrollment_date": (enrolment.enrolled_on or enrolment.as_of).isoformat(),
            "enrollment_status": STATUS_CODES.get(enrolment.status, "4"),
            "benefits": benefits.get(enrolment.id, []),
            **subject,
        }
        if enrolment.exited_on:
            out["status_change_date"] = enrolment.exited_on.isoformat()
        return out

    if entity == "Member":
        for pid in ids:
            if pid not in household_of:
                continue
            member = mapping.member(data, pid, allowed)
            for enrolment, programme in by_household.get(household_of[pid], []):
                records.append(record(enrolment, programme, {"member": member}))
        return records, [p for p in ids if p in household_of], household_ids
    for hid in household_ids:
        group = mapping.group(data, hid, allowed)
        for enrolment, programme in by_household.get(hid, []):
            records.append(record(enrolment, programme, {"group": group}))
    return records, [], household_ids
