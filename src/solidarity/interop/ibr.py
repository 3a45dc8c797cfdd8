"""The Integrated Beneficiary Registry view: who is enrolled where, and what they received.

Enrolments are per household in Solidarity; a Beneficiary record (digest
section 11) is one enrolment with its programme and the benefits paid (or
computed) per payment period. The programmes' tables are read here, read-only,
in bulk for one page of persons or households.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from solidarity.errors import ConflictError
from solidarity.interop.errors import DciError
from solidarity.interop.mapping import DataMapping
from solidarity.interop.query import QueryRejected, parse_identifier
from solidarity.interop.repository import RegistryReader
from solidarity.programs.models import Enrolment, Entitlement, PaymentCycle, Programme
from solidarity.programs.partner import (
    PARTNER,
    PartnerProgramme,
    ReportedEnrolment,
    partner_programme,
    report_enrolment,
)

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


def _status_code(enrolment: Enrolment) -> str:
    if enrolment.status == "exited" and enrolment.exit_reason in {"deceased", "death"}:
        return "2"
    return STATUS_CODES.get(enrolment.status, "4")


def _reported_benefits(enrolment: Enrolment, programme: Programme) -> list[dict[str, Any]]:
    """Benefits a partner programme declared when it reported the enrolment."""
    if programme.status != PARTNER or not enrolment.explanation:
        return []
    return list(enrolment.explanation.get("benefits") or [])


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
        query = query.where(Enrolment.status.in_(["active", "exited", "suspended"]))
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
            "enrollment_status": _status_code(enrolment),
            "benefits": benefits.get(enrolment.id) or _reported_benefits(enrolment, programme),
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


# --- enrolments reported by partner programmes -------------------------------------------------

#: IBR programme_type -> instrument of a partner programme registered from a report.
INSTRUMENTS = {code: instrument for instrument, code in PROGRAMME_TYPES.items()}
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


class ItemRefused(Exception):
    """One reported beneficiary that cannot be recorded (the others still are)."""


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [], {})), None)


def _date(value: Any, member: str) -> date:
    if not isinstance(value, str):
        raise ItemRefused(f"{member} is required (an ISO 8601 date)")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ItemRefused(f"{member} {value!r} is not an ISO 8601 date") from None


def _programme(beneficiary: dict[str, Any], agency: str) -> PartnerProgramme:
    member: dict[str, Any] = beneficiary.get("member") or {}
    if not isinstance(member, dict):
        member = {}
    described = _first(beneficiary.get("programme_identifier"), member.get("programme_identifier"))
    if isinstance(described, str):
        described = {"programme_identifier": described}
    if not isinstance(described, dict):
        raise ItemRefused("programme_identifier is required")
    code = str(described.get("programme_identifier") or "")
    if not CODE_PATTERN.match(code):
        raise ItemRefused(f"programme_identifier {code!r} must be 1-32 letters, digits, '-' or '_'")
    return PartnerProgramme(
        code=code,
        name=str(described.get("programme_name") or code)[:200],
        agency=agency,
        instrument=INSTRUMENTS.get(str(described.get("programme_type") or ""), "cash_transfer"),
        description=str(described.get("programme_description") or ""),
    )


def _identifiers(subject: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = _first(subject.get(key), subject.get("identifier"))
    if isinstance(found, dict):
        found = [found]
    return [i for i in found or [] if isinstance(i, dict)]


def _subject(
    session: Session, mapping: DataMapping, beneficiary: dict[str, Any], scope: Any
) -> tuple[int, int | None]:
    """The (household id, person id) a beneficiary names, by its identifiers."""
    member, group = beneficiary.get("member"), beneficiary.get("group")
    if isinstance(member, dict):
        entity, identifiers = "Member", _identifiers(member, "member_identifier")
    elif isinstance(group, dict):
        entity, identifiers = "Group", _identifiers(group, "group_identifier")
    else:
        raise ItemRefused("a beneficiary needs a member or a group with identifiers")
    if not identifiers:
        raise ItemRefused(f"the {entity.lower()} carries no identifier")
    reader = RegistryReader(session)
    for identifier in identifiers:
        query = {
            "type": identifier.get("identifier_type"),
            "value": identifier.get("identifier_value"),
        }
        try:
            node = parse_identifier(query, mapping)
        except (QueryRejected, DciError):
            continue
        ids, total = reader.search(node, entity, sort=[], page=1, page_size=2, scope_paths=scope)
        if total > 1:
            raise ItemRefused(f"identifier {query['type']} {query['value']} names several records")
        if ids:
            if entity == "Group":
                return ids[0], None
            data = reader.load(person_ids=ids)
            return int(data.persons[ids[0]]["household_id"]), ids[0]
    raise ItemRefused("no registry record in the client's scope has any of the identifiers given")


def report_enrolments(
    session: Session,
    mapping: DataMapping,
    beneficiaries: list[dict[str, Any]],
    *,
    agency: str,
    actor: str,
    scope: Any,
) -> list[tuple[dict[str, Any], str | None]]:
    """Record a partner's reported beneficiaries, each in its own savepoint.

    Returns:
        For each beneficiary, in order: the beneficiary and ``None`` when recorded,
        or the reason it was refused (nothing of it is then written).
    """
    outcomes: list[tuple[dict[str, Any], str | None]] = []
    for beneficiary in beneficiaries:
        try:
            with session.begin_nested():
                described = _programme(beneficiary, agency)
                household_id, person_id = _subject(session, mapping, beneficiary, scope)
                status = str(
                    _first(
                        beneficiary.get("enrollment_status"), beneficiary.get("enrolment_status")
                    )
                    or ""
                )
                line = ReportedEnrolment(
                    household_id=household_id,
                    person_id=person_id,
                    status_code=status,
                    enrolled_on=_date(
                        _first(
                            beneficiary.get("enrollment_date"), beneficiary.get("enrolment_date")
                        ),
                        "enrollment_date",
                    ),
                    status_changed_on=(
                        _date(beneficiary["status_change_date"], "status_change_date")
                        if beneficiary.get("status_change_date")
                        else None
                    ),
                    benefits=[b for b in beneficiary.get("benefits") or [] if isinstance(b, dict)],
                )
                programme = partner_programme(session, described, actor)
                try:
                    report_enrolment(session, programme, line, actor)
                except ValueError as exc:
                    raise ItemRefused(str(exc)) from exc
            outcomes.append((beneficiary, None))
        except ItemRefused as exc:
            outcomes.append((beneficiary, str(exc)))
        except ConflictError as exc:
            outcomes.append((beneficiary, str(exc)))
    return outcomes
