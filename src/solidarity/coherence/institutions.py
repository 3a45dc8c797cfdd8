"""The institutional map: who does what for which programme, how agencies coordinate.

Agencies are the governance domain's agencies (created there when new); their
profile (kind, mandate, the names programmes use for them) is kept here. Data
sharing agreements between the registry and an agency are governance's; the
memoranda here are between agencies. Services flush, never commit.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.coherence.errors import InvalidCoherenceInput, UnknownRecord
from solidarity.coherence.models import (
    AdminCost,
    AgencyProfile,
    BodyMember,
    CoordinationBody,
    DataDefinition,
    DeclaredTarget,
    DeliveryFunction,
    FocalPerson,
    Meeting,
    Memorandum,
    ProgrammeRelation,
)
from solidarity.coherence.repository import CoherenceRepository
from solidarity.coherence.schemas import (
    DELIVERY_FUNCTIONS,
    AdminCostIn,
    AgencyIn,
    BodyIn,
    DefinitionIn,
    FocalPersonIn,
    FunctionIn,
    ImportSummary,
    InstitutionalMapOut,
    InstitutionsFile,
    MemorandumIn,
    RelationIn,
    Rows,
    TargetIn,
)
from solidarity.governance import agreements as governance_agreements
from solidarity.governance.schemas import AgencyIn as GovernanceAgencyIn
from solidarity.programs import service as programs


def _stamp(row: Any, actor: str, created: bool) -> None:
    if created:
        row.created_by = actor
    row.updated_by = actor


def upsert_agency(session: Session, body: AgencyIn, *, actor: str) -> bool:
    """Create or update an agency's profile (and the agency itself when new). True if created."""
    known = {a.code for a in governance_agreements.list_agencies(session)}
    if body.code not in known:
        governance_agreements.create_agency(
            session, GovernanceAgencyIn(code=body.code, name=body.name), actor=actor
        )
    repo = CoherenceRepository(session)
    profile = repo.profile(body.code)
    created = profile is None
    if profile is None:
        profile = AgencyProfile(agency_code=body.code)
        session.add(profile)
    profile.kind = body.kind
    profile.mandate = body.mandate
    profile.aliases = list(dict.fromkeys([body.name, *body.aliases]))
    _stamp(profile, actor, created)
    session.flush()
    return created


def add_function(session: Session, body: FunctionIn, *, actor: str) -> bool:
    """Record that an agency performs a function for a programme. True if new."""
    repo = CoherenceRepository(session)
    if repo.delivery_function(body.programme, body.function, body.agency) is not None:
        return False
    repo.add(
        DeliveryFunction(
            programme_code=body.programme,
            function=body.function,
            agency_code=body.agency,
            created_by=actor,
            updated_by=actor,
        )
    )
    return True


def upsert_body(session: Session, body: BodyIn, *, actor: str) -> bool:
    """Create or update a coordination body, adding its members and new meetings."""
    repo = CoherenceRepository(session)
    row = repo.by_code(CoordinationBody, body.code)
    created = row is None
    if row is None:
        row = repo.add(CoordinationBody(code=body.code, name=body.name, created_by=actor))
    row.name, row.kind, row.mandate = body.name, body.kind, body.mandate
    _stamp(row, actor, created)
    for member in body.members:
        seat = repo.member(row.id, member.agency)
        if seat is None:
            repo.add(
                BodyMember(body_id=row.id, agency_code=member.agency, role=member.role,
                           created_by=actor, updated_by=actor)
            )  # fmt: skip
        else:
            seat.role = member.role
    held = {m.held_on for m in repo.meetings(row.id)}
    for meeting in body.meetings:
        if meeting.held_on not in held:
            repo.add(Meeting(body_id=row.id, **meeting.model_dump(), created_by=actor))
    session.flush()
    return created


def upsert_memorandum(session: Session, body: MemorandumIn, *, actor: str) -> bool:
    """Create or update a memorandum between agencies."""
    repo = CoherenceRepository(session)
    row = repo.by_code(Memorandum, body.code)
    created = row is None
    if row is None:
        row = Memorandum(code=body.code)
        session.add(row)
    for key, value in body.model_dump().items():
        setattr(row, key, value)
    _stamp(row, actor, created)
    session.flush()
    return created


def upsert_focal_person(session: Session, body: FocalPersonIn, *, actor: str) -> bool:
    """Create or update an agency's focal person (by agency and name)."""
    repo = CoherenceRepository(session)
    row = repo.focal_person(body.agency, body.name)
    created = row is None
    if row is None:
        row = FocalPerson(agency_code=body.agency, name=body.name)
        session.add(row)
    row.title, row.email, row.phone, row.active = body.title, body.email, body.phone, body.active
    _stamp(row, actor, created)
    session.flush()
    return created


def upsert_definition(session: Session, body: DefinitionIn, *, actor: str) -> bool:
    """Create or update a programme's definition of a concept."""
    repo = CoherenceRepository(session)
    row = repo.definition(body.programme, body.concept)
    created = row is None
    if row is None:
        row = DataDefinition(programme_code=body.programme, concept=body.concept)
        session.add(row)
    row.definition = body.definition
    _stamp(row, actor, created)
    session.flush()
    return created


def upsert_relation(session: Session, body: RelationIn, *, actor: str) -> bool:
    """Declare two programmes mutually exclusive, or a hand-over from A to B."""
    for code in (body.programme_a, body.programme_b):
        programs.get_programme(session, code)
    repo = CoherenceRepository(session)
    row = repo.relation(body.kind, body.programme_a, body.programme_b)
    created = row is None
    if row is None:
        row = ProgrammeRelation(
            kind=body.kind, programme_a=body.programme_a, programme_b=body.programme_b
        )
        session.add(row)
    row.note, row.legal_reference = body.note, body.legal_reference
    _stamp(row, actor, created)
    session.flush()
    return created


def add_target(session: Session, body: TargetIn, *, actor: str) -> bool:
    """Declare a target population (replacing one of the same programme and name)."""
    from solidarity.programs.rules import check_rule
    from solidarity.rules import RuleError

    if body.kind == "rule":
        try:
            check_rule(body.expression or "", {}, date.today())
        except RuleError as exc:
            raise InvalidCoherenceInput(
                f"target {body.name!r}: {exc}",
                errors=[{"field": "expression", "message": str(exc)}],
            ) from exc
    elif body.share is None:
        raise InvalidCoherenceInput(
            f"target {body.name!r}: a poorest_share target needs a share",
            errors=[{"field": "share", "message": "required for poorest_share"}],
        )
    repo = CoherenceRepository(session)
    existing = [t for t in repo.targets(body.programme) if t.name == body.name]
    row = existing[0] if existing else DeclaredTarget(programme_code=body.programme)
    if not existing:
        session.add(row)
    row.name, row.kind, row.expression, row.share = (
        body.name,
        body.kind,
        body.expression,
        body.share,
    )
    _stamp(row, actor, not existing)
    session.flush()
    return not existing


def upsert_admin_cost(session: Session, body: AdminCostIn, *, actor: str) -> bool:
    """Record a programme's administrative cost for a year."""
    repo = CoherenceRepository(session)
    row = repo.admin_cost(body.programme, body.year)
    created = row is None
    if row is None:
        row = AdminCost(programme_code=body.programme, year=body.year)
        session.add(row)
    row.amount = body.amount
    _stamp(row, actor, created)
    session.flush()
    return created


def import_file(session: Session, path: Path, *, actor: str) -> ImportSummary:
    """Create or update everything a coherence YAML file lists (all or nothing).

    Raises:
        InvalidCoherenceInput: The file is not valid YAML or does not match the format.
    """
    from solidarity.coherence import plan

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        data = InstitutionsFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise InvalidCoherenceInput(f"{path.name} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise InvalidCoherenceInput(f"{path.name} does not match the format", errors) from exc
    created: dict[str, int] = {}
    updated: dict[str, int] = {}

    def count(kind: str, was_created: bool) -> None:
        target = created if was_created else updated
        target[kind] = target.get(kind, 0) + 1

    for agency in data.agencies:
        count("agencies", upsert_agency(session, agency, actor=actor))
    for function in data.functions:
        count("functions", add_function(session, function, actor=actor))
    for body in data.bodies:
        count("bodies", upsert_body(session, body, actor=actor))
    for memorandum in data.agreements:
        count("agreements", upsert_memorandum(session, memorandum, actor=actor))
    for person in data.focal_persons:
        count("focal_persons", upsert_focal_person(session, person, actor=actor))
    for definition in data.definitions:
        count("definitions", upsert_definition(session, definition, actor=actor))
    for relation in data.relations:
        count("relations", upsert_relation(session, relation, actor=actor))
    for target in data.targets:
        count("targets", add_target(session, target, actor=actor))
    for cost in data.admin_costs:
        count("admin_costs", upsert_admin_cost(session, cost, actor=actor))
    for indicator in data.indicators:
        count("indicators", plan.upsert_indicator(session, indicator, actor=actor))
    for action in data.actions:
        count("actions", plan.upsert_action(session, action, actor=actor))
    return ImportSummary(created=created, updated=updated)


def institutional_map(session: Session, as_of: date) -> InstitutionalMapOut:
    """Agencies, functions, bodies, agreements and focal persons, with the flags on them."""
    repo = CoherenceRepository(session)
    agencies = {a.code: a.name for a in governance_agreements.list_agencies(session)}
    profiles = {p.agency_code: p for p in repo.all(AgencyProfile, AgencyProfile.agency_code)}
    functions = list(repo.all(DeliveryFunction, DeliveryFunction.programme_code, "function"))
    focal = [f for f in repo.all(FocalPerson, FocalPerson.agency_code) if f.active]
    flags: Rows = []
    performers: dict[tuple[str, str], list[str]] = {}
    for f in functions:
        performers.setdefault((f.programme_code, f.function), []).append(f.agency_code)
    for (code, function), who in sorted(performers.items()):
        if len(who) > 1:
            flags.append(
                {
                    "kind": "function_duplicated",
                    "subject": f"{code}/{function}",
                    "detail": f"{function} for {code} is done by {', '.join(sorted(who))}",
                }
            )
    for programme in programs.list_programmes(session):
        for function in DELIVERY_FUNCTIONS:
            if (programme.code, function) not in performers:
                flags.append(
                    {
                        "kind": "function_unassigned",
                        "subject": f"{programme.code}/{function}",
                        "detail": f"no agency performs {function} for {programme.code}",
                    }
                )
    agreements: Rows = []
    for m in repo.all(Memorandum, Memorandum.code):
        expired = m.expires_on is not None and m.expires_on < as_of
        agreements.append(
            {
                "code": m.code,
                "kind": m.kind,
                "parties": list(m.parties),
                "scope": m.scope,
                "signed_on": m.signed_on,
                "expires_on": m.expires_on,
                "expired": expired,
                "source": "coherence",
            }
        )
    for g in governance_agreements.list_agreements(session):
        expired = g.valid_to is not None and g.valid_to < as_of
        agreements.append(
            {
                "code": g.code,
                "kind": "data_sharing",
                "parties": ["registry", g.agency_code],
                "scope": ", ".join(g.purposes),
                "signed_on": g.valid_from,
                "expires_on": g.valid_to,
                "expired": expired,
                "source": "governance",
            }
        )
    for a in agreements:
        if a["expired"]:
            flags.append(
                {
                    "kind": "agreement_expired",
                    "subject": a["code"],
                    "detail": f"{a['kind']} between {' and '.join(a['parties'])} "
                    f"expired on {a['expires_on']}",
                }
            )
    with_focal = {f.agency_code for f in focal}
    for code in sorted(agencies):
        if code not in with_focal:
            flags.append(
                {
                    "kind": "no_focal_person",
                    "subject": code,
                    "detail": f"{agencies[code]} has no active focal person",
                }
            )
    bodies: Rows = []
    for body in repo.all(CoordinationBody, CoordinationBody.code):
        meetings = repo.meetings(body.id)
        bodies.append(
            {
                "code": body.code,
                "name": body.name,
                "kind": body.kind,
                "mandate": body.mandate,
                "members": [
                    {"agency": m.agency_code, "role": m.role} for m in repo.members(body.id)
                ],
                "meetings": [
                    {
                        "held_on": m.held_on,
                        "attendees": list(m.attendees),
                        "decisions": m.decisions,
                        "minutes_reference": m.minutes_reference,
                    }
                    for m in meetings
                ],
                "last_meeting": meetings[0].held_on if meetings else None,
            }
        )
    agency_rows: Rows = []
    for code, name in sorted(agencies.items()):
        profile = profiles.get(code)
        agency_rows.append(
            {
                "code": code,
                "name": name,
                "kind": profile.kind if profile else "",
                "mandate": profile.mandate if profile else "",
                "functions": sorted(
                    {f"{f.programme_code}/{f.function}" for f in functions if f.agency_code == code}
                ),
                "focal_persons": [f.name for f in focal if f.agency_code == code],
            }
        )
    return InstitutionalMapOut(
        as_of=as_of,
        agencies=agency_rows,
        functions=[
            {"programme": f.programme_code, "function": f.function, "agency": f.agency_code}
            for f in functions
        ],
        bodies=bodies,
        agreements=agreements,
        focal_persons=[
            {"agency": f.agency_code, "name": f.name, "title": f.title, "email": f.email}
            for f in focal
        ],
        flags=flags,
    )


def require_body(session: Session, code: str) -> CoordinationBody:
    """A coordination body by code.

    Raises:
        UnknownRecord: No body has that code.
    """
    row = CoherenceRepository(session).by_code(CoordinationBody, code)
    if row is None:
        raise UnknownRecord(f"no coordination body has the code {code!r}")
    return row
