"""Rules of the programmes domain: programmes, their rule versions, and maker-checker.

Services flush, never commit: the entry point owns the unit of work. Population-wide
work (preview, enrolment, entitlements) lives in :mod:`solidarity.programs.eligibility`
and :mod:`solidarity.programs.payments`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from solidarity.errors import (
    ConflictError,
    NotFoundError,
    StaleVersionError,
    ValidationFailed,
)
from solidarity.programs.models import JourneyEvent, Programme, ProgrammeRule
from solidarity.programs.repository import ProgrammeRepository
from solidarity.programs.rules import validate_version
from solidarity.programs.schemas import ProgrammeIn, ProgrammeUpdate, RuleVersionIn
from solidarity.rules import RuleVersionError


def get_programme(session: Session, code: str) -> Programme:
    """The programme with ``code``.

    Raises:
        NotFoundError: No programme has that code.
    """
    programme = ProgrammeRepository(session).programme_by_code(code)
    if programme is None:
        raise NotFoundError(f"no programme has the code '{code}'")
    return programme


def list_programmes(session: Session) -> Sequence[Programme]:
    """Every programme, by code."""
    return ProgrammeRepository(session).programmes()


def create_programme(session: Session, data: ProgrammeIn, actor: str) -> Programme:
    """Create a programme.

    Raises:
        ConflictError: The code is taken.
    """
    repo = ProgrammeRepository(session)
    if repo.programme_by_code(data.code) is not None:
        raise ConflictError(f"a programme with the code '{data.code}' already exists")
    programme = Programme(**data.model_dump(), created_by=actor, updated_by=actor)
    return repo.add(programme)  # type: ignore[no-any-return]


def update_programme(session: Session, code: str, data: ProgrammeUpdate, actor: str) -> Programme:
    """Change a programme, refusing if it changed since the caller read ``data.version``.

    Raises:
        NotFoundError: No such programme.
        StaleVersionError: Someone else changed it first.
    """
    programme = get_programme(session, code)
    if programme.version != data.version:
        raise StaleVersionError(
            f"programme '{code}' is at version {programme.version}, not {data.version}",
            current_version=programme.version,
        )
    for name, value in data.model_dump(exclude_unset=True, exclude={"version"}).items():
        setattr(programme, name, value)
    programme.updated_by = actor
    try:
        session.flush()
    except StaleDataError as exc:
        raise StaleVersionError(f"programme '{code}' changed while it was being updated") from exc
    return programme


def import_programmes(session: Session, path: Path, actor: str) -> list[Programme]:
    """Create or update programmes (with their rule versions) from a YAML file.

    The file holds ``programmes:``, a list of programme fields with an optional
    ``rules:`` list of rule versions. Existing programmes are updated; a rule version
    already stored (same kind and ``valid_from``) is left as it is.

    Raises:
        ValidationFailed: The file cannot be read or a programme is invalid.
        RuleError: A rule version does not check (line, column, reason).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"cannot read {path}: {exc}") from exc
    items = data.get("programmes") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationFailed(f"{path}: expected a list under 'programmes'")
    stored: list[Programme] = []
    repo = ProgrammeRepository(session)
    for row, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValidationFailed(f"{path}: programme {row} is not a mapping")
        raw_rules = item.pop("rules", []) or []
        try:
            fields = ProgrammeIn.model_validate(item)
            versions = [RuleVersionIn.model_validate(r) for r in raw_rules]
        except ValidationError as exc:
            errors = [
                {"row": row, "field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ]
            raise ValidationFailed(f"{path}: programme {row} is not valid", errors) from exc
        programme = repo.programme_by_code(fields.code)
        if programme is None:
            programme = create_programme(session, fields, actor)
        else:
            for name, value in fields.model_dump().items():
                setattr(programme, name, value)
            programme.updated_by = actor
            session.flush()
        existing = {(r.kind, r.valid_from) for r in repo.rules(programme.id)}
        for version in versions:
            if (version.kind, version.valid_from) not in existing:
                add_rule_version(session, programme.code, version, actor)
        stored.append(programme)
    return stored


def rule_versions(session: Session, code: str, kind: str | None = None) -> Sequence[ProgrammeRule]:
    """The rule versions of a programme."""
    programme = get_programme(session, code)
    return ProgrammeRepository(session).rules(programme.id, kind)


def add_rule_version(session: Session, code: str, data: RuleVersionIn, actor: str) -> ProgrammeRule:
    """Store a rule version after it checks, its test cases pass and it overlaps no other.

    Raises:
        RuleSyntaxError: The expression does not parse (line, column, reason).
        RuleTypeError: It does not type-check (unknown field, date vs number ...).
        ValidationFailed: Wrong result type or failing test cases.
        ConflictError: It overlaps another version of the same kind in time.
    """
    programme = get_programme(session, code)
    validate_version(
        data.kind,
        data.expression,
        data.parameters,
        data.valid_from,
        data.valid_to,
        data.test_cases,
    )
    for other in ProgrammeRepository(session).rules(programme.id, data.kind):
        other_end = other.valid_to or date.max
        end = data.valid_to or date.max
        if other.valid_from < end and data.valid_from < other_end:
            raise ConflictError(
                f"the {data.kind} version from {data.valid_from} overlaps version "
                f"{other.id} valid from {other.valid_from} to {other.valid_to or 'open end'}",
                overlapping_version=other.id,
            )
    version = ProgrammeRule(
        programme_id=programme.id,
        kind=data.kind,
        level="household",
        expression=data.expression,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        parameters=data.parameters,
        legal_reference=data.legal_reference,
        test_cases=data.test_cases,
        created_by=actor,
        updated_by=actor,
    )
    return ProgrammeRepository(session).add(version)  # type: ignore[no-any-return]


def close_rule_version(session: Session, rule_id: int, valid_to: date, actor: str) -> ProgrammeRule:
    """End an open-ended version so that a new one can follow it.

    Raises:
        NotFoundError: No such version.
        ValidationFailed: ``valid_to`` is not after its ``valid_from``.
    """
    version = ProgrammeRepository(session).rule(rule_id)
    if version is None:
        raise NotFoundError(f"rule version {rule_id} does not exist")
    if valid_to <= version.valid_from:
        raise ValidationFailed("valid_to must be after valid_from")
    version.valid_to = valid_to
    version.updated_by = actor
    session.flush()
    return version


def rule_in_force(session: Session, programme: Programme, kind: str, when: date) -> ProgrammeRule:
    """The version of a programme's rule of ``kind`` in force on ``when``.

    Raises:
        RuleVersionError: None is in force then.
    """
    found = optional_rule_in_force(session, programme, kind, when)
    if found is None:
        raise RuleVersionError(
            f"programme '{programme.code}' has no {kind} rule in force on {when.isoformat()}"
        )
    return found


def optional_rule_in_force(
    session: Session, programme: Programme, kind: str, when: date
) -> ProgrammeRule | None:
    """Like :func:`rule_in_force` but ``None`` when there is none."""
    for version in ProgrammeRepository(session).rules(programme.id, kind):
        if version.valid_from <= when and (version.valid_to is None or when < version.valid_to):
            return version
    return None


def load_rule_file(path: Path, kind: str | None = None) -> list[RuleVersionIn]:
    """Read rule versions from YAML (a single version, or ``versions:`` with a ``kind``).

    Raises:
        ValidationFailed: The file cannot be read or a version is malformed.
    """
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationFailed(f"{path}: a rule file holds a mapping")
    file_kind = data.get("kind", kind)
    raw = data.get("versions", [data])
    out: list[RuleVersionIn] = []
    for row, item in enumerate(raw, start=1):
        item = {k: v for k, v in item.items() if k not in ("level",)}
        item.setdefault("kind", kind or file_kind)
        if kind:
            item["kind"] = kind
        try:
            out.append(RuleVersionIn.model_validate(item))
        except ValidationError as exc:
            errors = [
                {"row": row, "field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ]
            raise ValidationFailed(f"{path}: version {row} is not valid", errors) from exc
    return out


def household_enrolments(session: Session, household_id: int) -> list[dict[str, Any]]:
    """The household's enrolment in each programme it has been in, with its journey."""
    repository = ProgrammeRepository(session)
    found = []
    for programme in list_programmes(session):
        enrolment = repository.enrolment(programme.id, household_id)
        if enrolment is not None:
            found.append(
                {
                    "programme": programme,
                    "enrolment": enrolment,
                    "journey": list(repository.journey(programme.id, household_id)),
                }
            )
    return found


def household_payments(session: Session, household_id: int) -> list[dict[str, Any]]:
    """What each programme the household is enrolled in owed and paid it, cycle by cycle.

    Returns:
        Newest cycle first per programme: ``programme``, ``cycle`` and ``entitlement``
        (amount, status, paid amount and date, failure reason).
    """
    repository = ProgrammeRepository(session)
    found: list[dict[str, Any]] = []
    for programme in list_programmes(session):
        if repository.enrolment(programme.id, household_id) is None:
            continue
        cycles = {c.id: c for c in repository.cycles(programme.id)}
        for entitlement in repository.household_entitlements(list(cycles), household_id):
            found.append(
                {
                    "programme": programme,
                    "cycle": cycles[entitlement.cycle_id],
                    "entitlement": entitlement,
                }
            )
    return found


def record_journey_event(
    session: Session,
    programme_code: str,
    household_id: int,
    event: str,
    on: date,
    *,
    person_id: int | None = None,
    reason: str | None = None,
    actor: str,
) -> JourneyEvent:
    """Add a step to a household's journey through a programme.

    Other domains (grievances, referrals) record their steps here, beside the
    enrolment and payment steps; the coherence journey funnel ignores events that
    are not its stages. ``event`` is cut to the column's 32 characters.

    Raises:
        NotFoundError: No programme has ``programme_code``.
    """
    programme = get_programme(session, programme_code)
    row = JourneyEvent(
        programme_id=programme.id,
        household_id=household_id,
        person_id=person_id,
        event=event[:32],
        event_date=on,
        reason=reason,
        created_by=actor,
    )
    return ProgrammeRepository(session).add(row)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PaymentReissue:
    """A payment marked for re-issue: the entitlement, what it was, its amount."""

    entitlement_id: int
    previous_status: str
    amount: float


def reissue_in_later_cycle(
    session: Session, entitlement_id: int, *, household_id: int, reason: str, actor: str
) -> PaymentReissue:
    """Have a payment that did not reach the household re-issued in a later cycle.

    The entitlement is marked ``failed`` with ``reason``; the programme's next cycle
    re-issues failed entitlements (``reissue_of``) when it computes its own.

    Returns:
        The entitlement marked failed, with the status it had before.

    Raises:
        NotFoundError: No such entitlement of ``household_id``.
        ConflictError: It has not been paid out yet (computed or approved), or a
            later entitlement already re-issues it.
    """
    repo = ProgrammeRepository(session)
    entitlement = repo.entitlement(entitlement_id)
    if entitlement is None or entitlement.household_id != household_id:
        raise NotFoundError(f"entitlement {entitlement_id} of household {household_id} not found")
    if entitlement.status in ("computed", "approved"):
        raise ConflictError(
            f"entitlement {entitlement_id} is {entitlement.status}: it has not been paid out yet"
        )
    if repo.reissued(entitlement_id):
        raise ConflictError(f"entitlement {entitlement_id} was already re-issued")
    previous = entitlement.status
    entitlement.status = "failed"
    entitlement.failure_reason = reason
    entitlement.updated_by = actor
    session.flush()
    return PaymentReissue(entitlement.id, previous, entitlement.amount)


def active_beneficiaries(session: Session, code: str) -> pl.DataFrame:
    """``household_id`` of every active enrolment of programme ``code``.

    Raises:
        NotFoundError: No programme has ``code``.
    """
    programme = get_programme(session, code)
    frame = ProgrammeRepository(session).enrolment_frame(programme.id, "active")
    return frame.select(pl.col("household_id").cast(pl.Int64))
