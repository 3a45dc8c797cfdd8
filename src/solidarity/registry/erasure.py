"""Anonymising a person's (or a household's) data in the registry. Flush, never commit.

Erasure keeps what aggregate figures need and nothing that names, contacts or
precisely dates a person: names become ``[erased]``; other names, phone numbers,
occupation, free-form extra fields and health answers (Washington Group,
chronic illness, pregnancy) are cleared; the birth date becomes 1 January of its
year; identifier values are replaced and the identifiers ended. Area, sex,
relationship, status, coded socio-economic fields and income stay, so counts by
area, sex and age group, eligibility scores and programme and payment figures do
not move. The current rows *and* every history row are rewritten in place (no
new version is written: a version would copy the data it is meant to remove).
Change requests about the person lose the same values from their payloads and
free text. A household's own data (address, GPS point, extra fields) is erased
when the whole household is.

Everything goes through the ORM, so encrypted columns are written encrypted.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import NotFoundError
from solidarity.registry.models import (
    ChangeRequest,
    Household,
    HouseholdHistory,
    Person,
    PersonHistory,
)
from solidarity.registry.repository import (
    ERASED,
    ERASURE_ACTOR,
    ErasureRepository,
    HouseholdRepository,
    PersonRepository,
)

#: Person fields cleared (set to ``None``); names are set to ``ERASED``.
PERSON_CLEARED = (
    "other_names",
    "phone",
    "occupation",
    "extra",
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_cognition",
    "wg_selfcare",
    "wg_communication",
    "chronic_illness",
    "pregnant",
)
#: Household fields cleared when the whole household is erased.
HOUSEHOLD_CLEARED = ("address", "latitude", "longitude", "extra")
_NAMES = ("given_name", "family_name")
_SHORTEST = 3  # shorter strings are not searched for inside free text


@dataclass
class ErasureSubject:
    """Whose data is erased, and the personal values to remove from text that quotes them.

    Attributes:
        person_ids: The persons erased.
        household_ids: Households whose own data (address, GPS) is erased too.
        related_household_ids: Every household the persons are or were in.
        values: Identifier values, phone numbers, full names and addresses: removed
            wherever they appear in structured payloads and free text.
        name_parts: Given and family names: removed from free text.
        name_pairs: (given name, family name) of every version: a JSON record or a
            file row holding both is the person's (see :mod:`solidarity.registry.scrub`).
        area_id: The area of the (first) person, for scope checks.
    """

    person_ids: list[int]
    household_ids: list[int] = field(default_factory=list)
    related_household_ids: list[int] = field(default_factory=list)
    values: set[str] = field(default_factory=set)
    name_parts: set[str] = field(default_factory=set)
    name_pairs: set[tuple[str, str]] = field(default_factory=set)
    area_id: int | None = None


def _person_rows(session: Session, person_ids: list[int]) -> list[Person | PersonHistory]:
    current = PersonRepository(session).get_many(person_ids)
    return [*current.values(), *ErasureRepository(session).person_history(person_ids)]


def subject_of(
    session: Session, *, person_id: int | None = None, household_id: int | None = None
) -> ErasureSubject:
    """The subject of an erasure: one person, or a household with everyone ever in it.

    Raises:
        NotFoundError: No such person or household.
    """
    if household_id is not None:
        household = HouseholdRepository(session).get(household_id)
        if household is None:
            raise NotFoundError(f"household {household_id} not found")
        persons = ErasureRepository(session).persons_of_households([household_id])
        subject = subject_of_persons(session, persons, [household_id])
        subject.area_id = household.area_id
        return subject
    person = PersonRepository(session).get(person_id or 0)
    if person is None:
        raise NotFoundError(f"person {person_id} not found")
    return subject_of_persons(session, [person.id])


def subject_of_persons(
    session: Session, person_ids: list[int], household_ids: list[int] | None = None
) -> ErasureSubject:
    """The subject made of these persons (and these households' own data)."""
    repo = ErasureRepository(session)
    subject = ErasureSubject(list(person_ids), list(household_ids or []))
    subject.related_household_ids = sorted(
        set(repo.households_of_persons(subject.person_ids)) | set(subject.household_ids)
    )
    current = PersonRepository(session).get_many(subject.person_ids)
    if subject.person_ids and subject.person_ids[0] in current:
        subject.area_id = current[subject.person_ids[0]].area_id
    for row in _person_rows(session, subject.person_ids):
        if row.given_name == ERASED:
            continue
        parts = [p for p in (row.given_name, row.other_names, row.family_name) if p]
        subject.values.add(" ".join(parts))
        subject.values.add(f"{row.given_name} {row.family_name}")
        subject.name_parts.update(p for p in parts if len(p) >= _SHORTEST)
        if row.given_name and row.family_name:
            subject.name_pairs.add((row.given_name, row.family_name))
        if row.phone:
            subject.values.add(row.phone)
    for ident in repo.identifiers(subject.person_ids):
        if not ident.value.startswith(ERASED):
            subject.values.add(ident.value)
    add_addresses(session, subject)
    return subject


def add_addresses(session: Session, subject: ErasureSubject) -> None:
    """Add the addresses of the subject's households to the values to remove."""
    repo = ErasureRepository(session)
    addresses = [h.address for h in repo.household_history(subject.household_ids)]
    for household_id in subject.household_ids:
        household = HouseholdRepository(session).get(household_id)
        addresses.append(household.address if household else None)
    subject.values.update(a for a in addresses if a)
    subject.values = {v for v in subject.values if len(v) >= _SHORTEST}


def _anonymise_person(row: Person | PersonHistory) -> None:
    for name in _NAMES:
        setattr(row, name, ERASED)
    for name in PERSON_CLEARED:
        setattr(row, name, None)
    if row.birth_date is not None:
        row.birth_date = date(row.birth_date.year, 1, 1)
    row.birth_date_estimated = True


def _anonymise_household(row: Household | HouseholdHistory) -> None:
    for name in HOUSEHOLD_CLEARED:
        setattr(row, name, None)


def scrub_text(text: str | None, subject: ErasureSubject) -> str | None:
    """``text`` with every personal value and name of the subject replaced by ``[erased]``."""
    if not text:
        return text
    for value in sorted(subject.values | subject.name_parts, key=len, reverse=True):
        text = text.replace(value, ERASED)
    return text


def scrub_values(value: Any, subject: ErasureSubject) -> Any:
    """A JSON value with the subject's identifiers, phones, full names and addresses removed."""
    if isinstance(value, dict):
        return {k: scrub_values(v, subject) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_values(v, subject) for v in value]
    if isinstance(value, str):
        for known in sorted(subject.values, key=len, reverse=True):
            if known in value:
                value = value.replace(known, ERASED)
    return value


def scrub_person_fields(person: Any) -> Any:
    """Person fields (a payload, a snapshot) without names, contacts and health answers."""
    if not isinstance(person, dict):
        return person
    out = dict(person)
    for name in _NAMES:
        if name in out:
            out[name] = ERASED
    for name in PERSON_CLEARED:
        if name in out:
            out[name] = None
    if isinstance(out.get("birth_date"), str) and len(out["birth_date"]) >= 4:
        out["birth_date"] = f"{out['birth_date'][:4]}-01-01"
    return out


def scrub_change_request(request: ChangeRequest, subject: ErasureSubject) -> bool:
    """Remove the subject's data from a change request; whether anything changed."""
    payload = copy.deepcopy(request.payload or {})
    result = request.result or {}
    target = payload.get("person_id") if request.kind == "update_fields" else None
    if request.kind == "add_member":
        target = result.get("person_id")
    if target in subject.person_ids:
        if "person" in payload:
            payload["person"] = scrub_person_fields(payload["person"])
        if isinstance(payload.get("identifiers"), list):
            payload["identifiers"] = [
                {**i, "value": ERASED} if isinstance(i, dict) else i for i in payload["identifiers"]
            ]
    if request.household_id in subject.household_ids and isinstance(payload.get("household"), dict):
        payload["household"] = {
            k: (None if k in HOUSEHOLD_CLEARED else v) for k, v in payload["household"].items()
        }
    payload = scrub_values(payload, subject)
    errors = scrub_values(request.validation_errors, subject)
    scrubbed_result = scrub_values(request.result, subject)
    reason = scrub_text(request.reason, subject)
    decision = scrub_text(request.decision_reason, subject)
    before = (
        request.payload,
        request.validation_errors,
        request.result,
        request.reason,
        request.decision_reason,
    )
    after = (payload, errors, scrubbed_result, reason, decision)
    if before == after:
        return False
    request.payload = payload
    request.validation_errors = errors
    request.result = scrubbed_result
    request.reason = reason
    request.decision_reason = decision
    request.updated_by = ERASURE_ACTOR
    return True


def anonymise(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Anonymise the subject's rows in every registry table; counts of rows rewritten."""
    repo = ErasureRepository(session)
    counts = {"person": 0, "person_history": 0, "identifier": 0}
    counts |= {"household": 0, "household_history": 0, "change_request": 0}
    for person in PersonRepository(session).get_many(subject.person_ids).values():
        _anonymise_person(person)
        person.source_key = None
        person.updated_by = ERASURE_ACTOR
        counts["person"] += 1
    for past in repo.person_history(subject.person_ids):
        _anonymise_person(past)
        counts["person_history"] += 1
    now = utcnow()
    for ident in repo.identifiers(subject.person_ids):
        ident.value = f"{ERASED}#{ident.id}"
        ident.issuer = None
        ident.active = False
        ident.valid_to = ident.valid_to or now
        ident.updated_by = ERASURE_ACTOR
        counts["identifier"] += 1
    for household_id in subject.household_ids:
        household = HouseholdRepository(session).get(household_id)
        if household is not None:
            _anonymise_household(household)
            household.source_key = None
            household.updated_by = ERASURE_ACTOR
            counts["household"] += 1
    for past_hh in repo.household_history(subject.household_ids):
        _anonymise_household(past_hh)
        counts["household_history"] += 1
    for request in repo.change_requests(subject.related_household_ids, subject.person_ids):
        counts["change_request"] += scrub_change_request(request, subject)
    session.flush()
    return counts


def persons_past_retention(session: Session, before: Any, limit: int) -> list[int]:
    """Removed or deceased persons unchanged since before ``before`` and not yet erased."""
    return ErasureRepository(session).persons_left_before(before, limit)


def households_past_retention(session: Session, before: Any, limit: int) -> list[int]:
    """Dissolved or merged households unchanged since before ``before`` and not yet erased."""
    return ErasureRepository(session).households_closed_before(before, limit)


def change_requests_past_retention(
    session: Session, before: Any, limit: int
) -> list[ChangeRequest]:
    """Decided change requests older than ``before`` carrying person data in their payload."""
    return ErasureRepository(session).change_requests_decided_before(before, limit)


def scrub_payload_of(request: ChangeRequest) -> bool:
    """Remove person data from a decided request's payload (retention); whether it changed."""
    payload = copy.deepcopy(request.payload or {})
    if "person" in payload:
        payload["person"] = scrub_person_fields(payload["person"])
    if isinstance(payload.get("identifiers"), list):
        payload["identifiers"] = [
            {**i, "value": ERASED} if isinstance(i, dict) else i for i in payload["identifiers"]
        ]
    request.updated_by = ERASURE_ACTOR  # marks it handled even when nothing was left
    if payload == request.payload:
        return False
    request.payload = payload
    return True
