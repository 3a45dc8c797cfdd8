"""Referrals across sectors: the service catalogue, suggested referrals, the life-cycle.

A service's eligibility is a household-level rule of the rule language. Suggested
referrals are the catalogue's services whose rule holds for a household, that
serve its area and that it is not already referred to (sent, received, accepted
or served); in bulk they are computed with the rules' Polars plans over columns
read once (:func:`suggest_frame`, shared with ``benchmarks/referrals.py``).

Only fields a current data sharing agreement of the receiving agency allows for
the service's purpose travel with a referral; consent of the person is required
when the service says so or a covering agreement's legal basis is ``consent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from solidarity.governance import agreements, audit
from solidarity.governance.principal import Principal
from solidarity.governance.schemas import ConsentIn
from solidarity.grievances.errors import AreaNotServed, SharingRefused, TransitionRefused
from solidarity.grievances.events import feed_journey, record_step
from solidarity.grievances.models import CasePlanItem, Referral, SocialService
from solidarity.grievances.repository import AreaLookup, CaseRepository, ReferralRepository
from solidarity.grievances.schemas import (
    CounterReferralIn,
    EventOut,
    ReferralIn,
    ReferralOut,
    ServiceIn,
    ServiceOut,
    SuggestionOut,
    WorklistOut,
    WorklistRow,
)
from solidarity.registry import service as registry
from solidarity.registry.bulk import read_state
from solidarity.rules import (
    CheckedRule,
    RuleError,
    check,
    explain,
    resolve_parameters,
    to_polars_all,
)

#: The life-cycle: from each status, the steps allowed and the status each leads to.
TRANSITIONS: dict[str, dict[str, str]] = {
    "sent": {"receive": "received"},
    "received": {"accept": "accepted", "decline": "declined"},
    "accepted": {"serve": "served"},
    "served": {"close": "closed"},
    "declined": {"close": "closed"},
}
#: Steps only the receiving agency takes; ``close`` is the sender's.
RECEIVER_STEPS = frozenset({"receive", "accept", "decline", "serve"})
RECEIVING = ("sent", "received", "accepted", "served")


# --- the catalogue -------------------------------------------------------------------------


def _checked(expression: str, parameters: dict[str, Any], on: date) -> CheckedRule:
    from solidarity.programs.rules import programme_vocabulary

    values = resolve_parameters(parameters, on)
    return check(expression, "household", parameters=values, vocabulary=programme_vocabulary())


def create_service(session: Session, principal: Principal, body: ServiceIn) -> ServiceOut:
    """Add a service to the catalogue.

    Raises:
        ConflictError: The code is taken.
        ValidationFailed: Unknown agency or area, or the eligibility rule does not check.
    """
    repo = ReferralRepository(session)
    if repo.service(body.code) is not None:
        raise ConflictError(f"service {body.code!r} already exists")
    errors: list[dict[str, Any]] = []
    if body.agency_code not in {a.code for a in agreements.list_agencies(session)}:
        errors.append({"field": "agency_code", "value": body.agency_code, "message": "unknown"})
    lookup = AreaLookup(session)
    for code in body.area_codes:
        if lookup.by_code(code) is None:
            errors.append({"field": "area_codes", "value": code, "message": "unknown area"})
    try:
        _checked(body.eligibility, body.parameters, date.today())
    except RuleError as exc:
        errors.append({"field": "eligibility", "message": str(exc)})
    if errors:
        raise ValidationFailed("the service is not valid", errors)
    service = repo.add(
        SocialService(
            **body.model_dump(), created_by=principal.username, updated_by=principal.username
        )
    )
    audit.record_for(session, principal, "service.created", "service", body.code)
    return ServiceOut.model_validate(service)


def list_services(session: Session) -> list[ServiceOut]:
    """The active catalogue with each service's open referrals (against its capacity)."""
    repo = ReferralRepository(session)
    counts = repo.open_counts()
    return [
        ServiceOut.model_validate(s).model_copy(update={"open_referrals": counts.get(s.code, 0)})
        for s in repo.services()
    ]


def get_service(session: Session, code: str) -> ServiceOut:
    """One service.

    Raises:
        NotFoundError: No such service.
    """
    service = ReferralRepository(session).service(code)
    if service is None:
        raise NotFoundError(f"service {code!r} not found")
    counts = ReferralRepository(session).open_counts()
    return ServiceOut.model_validate(service).model_copy(
        update={"open_referrals": counts.get(code, 0)}
    )


# --- suggested referrals --------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledService:
    """A catalogue service ready for bulk evaluation."""

    code: str
    rule: CheckedRule
    area_ids: frozenset[int] | None  # None: every area


def compile_services(
    services: Sequence[SocialService], areas: pl.DataFrame, on: date
) -> list[CompiledService]:
    """Check each service's rule and resolve the areas it serves to area ids."""
    compiled = []
    for service in services:
        prefixes = []
        for code in service.area_codes:
            row = areas.filter(pl.col("code") == code)
            if row.height:
                prefixes.append(str(row["path"][0]))
        ids = areas.filter(
            pl.any_horizontal(*(pl.col("path").str.starts_with(p) for p in prefixes))
            if prefixes
            else pl.lit(False)
        )["area_id"]
        compiled.append(
            CompiledService(
                service.code,
                _checked(service.eligibility, dict(service.parameters), on),
                # Serving every area needs no area test at all.
                None if ids.len() == areas.height else frozenset(int(i) for i in ids),
            )
        )
    return compiled


def columns_of(services: Sequence[CompiledService]) -> tuple[list[str], list[str]]:
    """Household and person columns the services' rules read."""
    from solidarity.programs.rules import fields_read

    household: set[str] = set()
    person: set[str] = set()
    for service in services:
        h, p = fields_read(service.rule.tree)
        household |= h
        person |= p
    return sorted(household), sorted(person)


def suggest_frame(
    households: pl.DataFrame,
    persons: pl.DataFrame,
    services: Sequence[CompiledService],
    receiving: pl.DataFrame,
    on: date,
) -> pl.DataFrame:
    """``household_id``, ``area_id``, ``service_code`` for every suggested referral.

    Each rule runs as its compiled Polars plan over the whole frame; a household is
    suggested a service when the rule holds, the service serves its area and no
    referral to it is already sent, received, accepted or served.
    """
    plan = to_polars_all({f"__s{i}": service.rule for i, service in enumerate(services)}, as_of=on)
    lf = plan.apply(households, members=persons)

    def offered(index: int, service: CompiledService) -> pl.Expr:
        held = pl.col(f"__s{index}").fill_null(False)
        if service.area_ids is not None:
            held = held & pl.col("area_id").is_in(list(service.area_ids))
        return held.alias(f"__s{index}")

    # One pass computes every rule; each service's households are then a cheap filter.
    wide = lf.select("household_id", "area_id", *(offered(i, s) for i, s in enumerate(services)))
    flags = wide.collect()
    parts = [
        flags.filter(pl.col(f"__s{i}")).select(
            "household_id",
            "area_id",
            pl.lit(s.code).alias("service_code"),
            pl.lit(i, dtype=pl.Int32).alias("__rank"),
        )
        for i, s in enumerate(services)
    ]
    empty = pl.DataFrame(
        schema={
            "household_id": pl.Int64,
            "area_id": pl.Int64,
            "service_code": pl.String,
            "__rank": pl.Int32,
        }
    )
    long = pl.concat(parts) if parts else empty
    if receiving.height:
        long = long.join(
            receiving.select(
                pl.col("household_id").cast(long.schema["household_id"]),
                pl.col("service_code").cast(pl.String),
            ),
            on=["household_id", "service_code"],
            how="anti",
        )
    # Services are ranked by code (the catalogue's order), so this is (household, code) order.
    return long.sort("household_id", "__rank").drop("__rank")


def _compiled_catalogue(
    session: Session, on: date, service_code: str | None = None
) -> tuple[list[SocialService], list[CompiledService], pl.DataFrame]:
    repo = ReferralRepository(session)
    services = [s for s in repo.services() if service_code in (None, s.code)]
    if service_code is not None and not services:
        raise NotFoundError(f"service {service_code!r} not found")
    areas = AreaLookup(session).frame()
    return services, compile_services(services, areas, on), areas


def suggest_for_household(
    session: Session, principal: Principal, household_id: int, on: date | None = None
) -> list[SuggestionOut]:
    """Services the household is likely eligible for and not yet receiving, explained.

    Raises:
        NotFoundError: The household does not exist or is outside the reader's areas.
    """
    on = on or date.today()
    registry.require_household_in_scope(session, household_id, principal.area_paths)
    services, compiled, _areas = _compiled_catalogue(session, on)
    if not compiled:
        return []
    hh_cols, p_cols = columns_of(compiled)
    households, persons = read_state(session.connection(), hh_cols, p_cols, on, [household_id])
    receiving = ReferralRepository(session).receiving([household_id])
    from solidarity.programs.rules import UNMET

    households = households.with_columns(pl.lit(0, dtype=pl.Int64).alias(UNMET))
    found = suggest_frame(households, persons, compiled, receiving, on)
    by_code = {s.code: s for s in services}
    rules = {c.code: c.rule for c in compiled}
    record = households.row(0, named=True) if households.height else {}
    members = list(persons.iter_rows(named=True))
    out = []
    for code in found["service_code"].to_list():
        service = by_code[code]
        tree = explain(rules[code], record, members=members, as_of=on)
        out.append(
            SuggestionOut(
                service_code=code,
                service_name=service.name,
                sector=service.sector,
                agency_code=service.agency_code,
                explanation=tree.render(),
            )
        )
    return out


def worklist(
    session: Session,
    principal: Principal,
    *,
    programme_code: str | None = None,
    service_code: str | None = None,
    on: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> WorklistOut:
    """Suggested referrals in bulk, over the reader's areas (and a programme's active
    beneficiaries when ``programme_code`` is given), as a worklist."""
    from solidarity.programs.rules import UNMET

    on = on or date.today()
    _services, compiled, areas = _compiled_catalogue(session, on, service_code)
    if not compiled:
        return WorklistOut(households_evaluated=0, suggestions=0, by_service={}, items=[])
    hh_cols, p_cols = columns_of(compiled)
    households, persons = read_state(
        session.connection(), hh_cols, p_cols, on, None, principal.area_paths
    )
    if programme_code is not None:
        from solidarity.programs import service as programmes

        enrolled = programmes.active_beneficiaries(session, programme_code)
        households = households.join(enrolled, on="household_id", how="semi")
    households = households.with_columns(pl.lit(0, dtype=pl.Int64).alias(UNMET))
    receiving = ReferralRepository(session).receiving(None)
    found = suggest_frame(households, persons, compiled, receiving, on)
    codes = areas.select("area_id", pl.col("code").alias("area_code"))
    page = found.slice(offset, min(limit, 1000)).join(codes, on="area_id", how="left")
    counts = {
        str(r["service_code"]): int(r["len"])
        for r in found.group_by("service_code").len().iter_rows(named=True)
    }
    return WorklistOut(
        households_evaluated=households.height,
        suggestions=found.height,
        by_service=dict(sorted(counts.items())),
        items=[
            WorklistRow(
                household_id=r["household_id"],
                area_code=r["area_code"],
                service_code=r["service_code"],
            )
            for r in page.sort("household_id", "service_code").iter_rows(named=True)
        ],
    )


# --- the life-cycle ---------------------------------------------------------------------------


def _overdue(referral: Referral, today: date) -> bool:
    return referral.status in ("sent", "received") and referral.respond_by < today


def referral_out(referral: Referral, today: date | None = None) -> ReferralOut:
    """A referral with its overdue flag."""
    out = ReferralOut.model_validate(referral)
    return out.model_copy(update={"overdue": _overdue(referral, today or date.today())})


def _receiver(session: Session, principal: Principal, referral: Referral) -> bool:
    # The receiving agency's accounts, within their own areas (national ones everywhere).
    if principal.agency_code is None or principal.agency_code != referral.to_agency:
        return False
    if principal.area_paths is None:
        return True
    area = AreaLookup(session).get(referral.area_id)
    return principal.covers_path(area.path if area else None)


def _sender(session: Session, principal: Principal, referral: Referral) -> bool:
    if principal.agency_code is not None and principal.agency_code != referral.from_agency:
        return False
    area = AreaLookup(session).get(referral.area_id)
    return principal.covers_path(area.path if area else None)


def _visible(session: Session, principal: Principal, referral_id: int) -> Referral:
    referral = ReferralRepository(session).get(referral_id)
    if referral is None or not (
        _receiver(session, principal, referral) or _sender(session, principal, referral)
    ):
        raise NotFoundError(f"referral {referral_id} not found")
    return referral


def get_referral(session: Session, principal: Principal, referral_id: int) -> ReferralOut:
    """One referral, to its sender or its receiving agency.

    Raises:
        NotFoundError: No such referral, or the reader is neither side.
    """
    return referral_out(_visible(session, principal, referral_id))


def steps_for(session: Session, principal: Principal, referral_id: int) -> list[str]:
    """The life-cycle steps ``principal`` may take now (its side, the current status).

    ``counter`` is listed when the receiving agency may counter-refer.

    Raises:
        NotFoundError: No such referral, or the reader is neither side.
    """
    referral = _visible(session, principal, referral_id)
    receiver = _receiver(session, principal, referral)
    sender = _sender(session, principal, referral)
    steps = [
        step
        for step in TRANSITIONS.get(referral.status, {})
        if (step in RECEIVER_STEPS and receiver) or (step == "close" and sender)
    ]
    if receiver and referral.status in ("received", "accepted", "served", "declined"):
        steps.append("counter")
    return steps


def list_referrals(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    case_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    direction: str | None = None,
) -> tuple[list[ReferralOut], int]:
    """Referrals to the reader's agency, or sent within its areas (and by its agency).

    ``direction``: ``received`` (only those to the reader's agency) or ``sent``
    (only those to other agencies); both by default.
    """
    agency = principal.agency_code
    rows, total = ReferralRepository(session).search(
        principal.area_paths,
        agency,
        status=status,
        case_id=case_id,
        limit=min(limit, 500),
        offset=offset,
        to_agency=agency if direction == "received" and agency else None,
        not_to_agency=agency if direction == "sent" and agency else None,
    )
    if direction == "received" and agency is None:
        return [], 0
    today = date.today()
    return [referral_out(r, today) for r in rows], total


def events_of(session: Session, principal: Principal, referral_id: int) -> list[EventOut]:
    """Every step of a referral."""
    from solidarity.grievances.repository import GrievanceRepository

    _visible(session, principal, referral_id)
    rows = GrievanceRepository(session).events("referral", referral_id)
    return [EventOut.model_validate(e) for e in rows]


def sharing_terms(
    session: Session, service_code: str, on: date | None = None
) -> tuple[list[str], bool]:
    """The person fields a referral to ``service_code`` may carry, and whether consent is needed.

    Raises:
        ValidationFailed: No such active service.
    """
    on = on or date.today()
    service = _active_service(session, service_code)
    try:
        allowed = agreements.allowed_fields(
            session, _agency_principal(service.agency_code), service.purpose, on
        )
    except PermissionDenied:
        allowed = frozenset()
    return sorted(allowed), _consent_required(session, service, on)


def _served_area(session: Session, service: SocialService, area_code: str | None) -> bool:
    lookup = AreaLookup(session)
    area = lookup.by_code(area_code or "")
    if area is None:
        return False
    for code in service.area_codes:
        served = lookup.by_code(code)
        if served is not None and area.path.startswith(served.path):
            return True
    return False


def _agency_principal(agency_code: str) -> Principal:
    # The receiving agency as a client: what it may receive is what its agreements allow.
    return Principal(
        username=f"agency:{agency_code}",
        display_name=agency_code,
        kind="client",
        permissions=frozenset(),
        grants=(),
        agency_code=agency_code,
    )


def _consent_required(session: Session, service: SocialService, on: date) -> bool:
    if service.requires_consent:
        return True
    for agreement in agreements.list_agreements(session, service.agency_code):
        current = agreement.valid_from <= on and (
            agreement.valid_to is None or on <= agreement.valid_to
        )
        basis = (agreement.legal_basis or "").strip().lower()
        if current and service.purpose in agreement.purposes and basis.startswith("consent"):
            return True
    return False


def _check_sharing(
    session: Session, service: SocialService, fields: Sequence[str], on: date
) -> frozenset[str]:
    allowed = agreements.allowed_fields(
        session, _agency_principal(service.agency_code), service.purpose, on
    )
    refused = sorted(set(fields) - allowed)
    if refused:
        raise SharingRefused(
            f"no data sharing agreement of {service.agency_code} for {service.purpose!r} "
            f"covers {', '.join(refused)}; it allows {', '.join(sorted(allowed))}",
            fields=refused,
        )
    return frozenset(fields)


def _consent(
    session: Session,
    principal: Principal,
    service: SocialService,
    person_id: int,
    evidence: str | None,
    on: date,
) -> int | None:
    if not _consent_required(session, service, on):
        return None
    current = [
        c
        for c in agreements.list_consents(session, principal, person_id)
        if c.purpose == service.purpose and c.withdrawn_at is None
    ]
    if current:
        return current[0].id
    if not evidence:
        raise SharingRefused(
            f"referring to {service.code} needs person {person_id}'s consent to "
            f"{service.purpose!r}: none is recorded; record it (consent_evidence) first"
        )
    given = agreements.record_consent(
        session,
        principal,
        ConsentIn(person_id=person_id, purpose=service.purpose, evidence=evidence),
    )
    return given.id


def _active_service(session: Session, code: str) -> SocialService:
    service = ReferralRepository(session).service(code)
    if service is None or not service.active:
        raise ValidationFailed(
            f"unknown service {code!r}",
            [{"field": "service_code", "value": code, "message": "not in the catalogue"}],
        )
    return service


def send_referral(
    session: Session, principal: Principal, body: ReferralIn, now: datetime | None = None
) -> ReferralOut:
    """Send a household (one person of it) to a service of another agency.

    Raises:
        NotFoundError: The household is outside the sender's areas.
        ValidationFailed: Unknown service, person not of the household, unknown field.
        AreaNotServed: The service does not serve the household's area.
        ConflictError: The service is at capacity.
        AgreementRefused / SharingRefused: No agreement covers the purpose or a field,
            or consent is required and not recorded.
    """
    now = now or utcnow()
    service = _active_service(session, body.service_code)
    household = registry.get_household(session, body.household_id, scope=principal.area_paths)
    head = next((m for m in household.members if m.relationship == "head"), None)
    person_id = body.person_id or (head.id if head else None)
    person = next((m for m in household.members if m.id == person_id), None)
    if person is None:
        raise ValidationFailed(
            "the person is not an active member of the household",
            [{"field": "person_id", "value": body.person_id, "message": "not of the household"}],
        )
    area = AreaLookup(session).by_code(household.area_code or "")
    if area is None or not _served_area(session, service, household.area_code):
        raise AreaNotServed(
            f"service {service.code} does not serve area {household.area_code}",
            [
                {
                    "field": "service_code",
                    "value": service.code,
                    "message": f"serves {', '.join(service.area_codes)} only",
                }
            ],
        )
    record = person.model_dump(mode="json")
    unknown = sorted(set(body.fields) - set(record))
    if unknown:
        raise ValidationFailed(
            "unknown fields to share",
            [{"field": "fields", "value": f, "message": "not a person field"} for f in unknown],
        )
    fields = _check_sharing(session, service, body.fields, now.date())
    repo = ReferralRepository(session)
    if service.capacity is not None and repo.open_counts().get(service.code, 0) >= service.capacity:
        raise ConflictError(f"service {service.code} is at capacity ({service.capacity} open)")
    case = None
    if body.case_id is not None:
        case = CaseRepository(session).get(body.case_id)
        if case is None or case.household_id != household.id:
            raise NotFoundError(f"case {body.case_id} of household {household.id} not found")
    consent_id = _consent(session, principal, service, person.id, body.consent_evidence, now.date())
    referral = _create(
        session,
        principal,
        service,
        household_id=household.id,
        person_id=person.id,
        area_id=area.id,
        shared={**agreements.filter_record(record, fields), "household_id": household.id},
        fields=fields,
        consent_id=consent_id,
        reason=body.reason,
        case_id=body.case_id,
        grievance_id=body.grievance_id,
        programme_code=body.programme_code,
        counter_of=None,
        now=now,
    )
    if case is not None:
        CaseRepository(session).add(
            CasePlanItem(
                case_id=case.id,
                kind="referral",
                description=f"Referral to {service.name}",
                service_code=service.code,
                referral_id=referral.id,
                due_date=referral.respond_by,
                created_by=principal.username,
                updated_by=principal.username,
            )
        )
    return referral_out(referral)


def _create(
    session: Session,
    principal: Principal,
    service: SocialService,
    *,
    household_id: int,
    person_id: int | None,
    area_id: int,
    shared: dict[str, Any],
    fields: frozenset[str],
    consent_id: int | None,
    reason: str | None,
    case_id: int | None,
    grievance_id: int | None,
    programme_code: str | None,
    counter_of: int | None,
    now: datetime,
) -> Referral:
    referral: Referral = ReferralRepository(session).add(
        Referral(
            service_code=service.code,
            sector=service.sector,
            household_id=household_id,
            person_id=person_id,
            area_id=area_id,
            from_agency=principal.agency_code,
            to_agency=service.agency_code,
            status="sent",
            reason=reason,
            shared_fields=sorted(fields),
            shared_record=shared,
            consent_id=consent_id,
            case_id=case_id,
            grievance_id=grievance_id,
            programme_code=programme_code,
            counter_of=counter_of,
            respond_by=now.date() + timedelta(days=service.days_to_respond),
            sent_at=now,
            created_by=principal.username,
            updated_by=principal.username,
        )
    )
    record_step(
        session,
        "referral",
        referral.id,
        principal.username,
        "sent",
        to_status="sent",
        details={"service": service.code, "fields": sorted(fields), "counter_of": counter_of},
        at=now,
    )
    audit.record_for(
        session,
        principal,
        "referral.sent",
        "person",
        person_id,
        {"referral_id": referral.id, "to_agency": service.agency_code, "fields": sorted(fields)},
        purpose=service.purpose,
    )
    feed_journey(
        session,
        programme_code,
        household_id,
        person_id,
        "referred",
        now.date(),
        f"referral {referral.id} to {service.code}",
        principal.username,
    )
    return referral


def step(
    session: Session,
    principal: Principal,
    referral_id: int,
    action: str,
    version: int,
    *,
    reason: str | None = None,
    outcome: str | None = None,
    now: datetime | None = None,
) -> ReferralOut:
    """Move a referral one step: receive, accept, decline (with a reason), serve, close.

    The receiving agency receives, accepts, declines and serves; the sender closes.
    Outcomes (served, declined) return to the case plan and the journey.

    Raises:
        NotFoundError: The caller is neither side of the referral.
        PermissionDenied: The wrong side takes the step.
        TransitionRefused: The step is not allowed from the current status.
        ValidationFailed: A decline without a reason.
    """
    from solidarity.errors import StaleVersionError

    now = now or utcnow()
    referral = _visible(session, principal, referral_id)
    if action in RECEIVER_STEPS and not _receiver(session, principal, referral):
        raise PermissionDenied(
            f"only the receiving agency {referral.to_agency} can {action} referral {referral_id}"
        )
    if action == "close" and not _sender(session, principal, referral):
        raise PermissionDenied(f"only the sender closes referral {referral_id}")
    allowed = TRANSITIONS.get(referral.status, {})
    if action not in allowed:
        raise TransitionRefused(f"referral {referral_id}", referral.status, action, sorted(allowed))
    if action == "decline" and not reason:
        raise ValidationFailed(
            "a decline needs a reason", [{"field": "reason", "message": "required to decline"}]
        )
    if version != referral.version:
        raise StaleVersionError(
            f"referral {referral_id} changed since you read it (version {version}, "
            f"now {referral.version})"
        )
    before, after = referral.status, allowed[action]
    referral.status = after
    referral.updated_by = principal.username
    stamp = {"receive": "received_at", "accept": "accepted_at", "serve": "served_at"}
    if action in stamp:
        setattr(referral, stamp[action], now)
    if action == "close":
        referral.closed_at = now
    if action == "decline":
        referral.decline_reason = reason
    if outcome:
        referral.outcome = outcome
    session.flush()
    record_step(
        session,
        "referral",
        referral.id,
        principal.username,
        action,
        from_status=before,
        to_status=after,
        details={"reason": reason, "outcome": outcome},
        at=now,
    )
    audit.record_for(session, principal, f"referral.{action}", "referral", referral.id)
    if action in ("serve", "decline"):
        _outcome_to_case(session, principal, referral, action, reason or outcome, now)
        feed_journey(
            session,
            referral.programme_code,
            referral.household_id,
            referral.person_id,
            "referral_served" if action == "serve" else "referral_declined",
            now.date(),
            f"referral {referral.id} to {referral.service_code}",
            principal.username,
        )
    return referral_out(referral, now.date())


def _outcome_to_case(
    session: Session,
    principal: Principal,
    referral: Referral,
    action: str,
    text: str | None,
    now: datetime,
) -> None:
    item = CaseRepository(session).plan_item_for_referral(referral.id)
    if item is None:
        return
    item.status = "done" if action == "serve" else "dropped"
    item.outcome = text or action
    item.updated_by = principal.username
    session.flush()
    record_step(
        session,
        "case",
        item.case_id,
        principal.username,
        f"referral_{'served' if action == 'serve' else 'declined'}",
        details={"referral_id": referral.id, "outcome": item.outcome},
        at=now,
    )


def counter_refer(
    session: Session,
    principal: Principal,
    referral_id: int,
    body: CounterReferralIn,
    now: datetime | None = None,
) -> ReferralOut:
    """The receiving agency refers the person back (or onward) from a received referral.

    Only fields it received may travel on, and only those the target agency's
    agreements allow.

    Raises:
        PermissionDenied: The caller is not the receiving agency.
        SharingRefused: A field was not received, or no agreement covers it.
        AreaNotServed: The target service does not serve the household's area.
    """
    now = now or utcnow()
    original = _visible(session, principal, referral_id)
    if not _receiver(session, principal, original):
        raise PermissionDenied(
            f"only {original.to_agency} can counter-refer referral {referral_id}"
        )
    if original.status not in ("received", "accepted", "served", "declined"):
        raise TransitionRefused(
            f"referral {referral_id}", original.status, "counter-referred", ["receive"]
        )
    service = _active_service(session, body.service_code)
    not_received = sorted(set(body.fields) - set(original.shared_fields))
    if not_received:
        raise SharingRefused(
            f"{', '.join(not_received)} did not come with referral {referral_id}: "
            "only received fields can travel on",
            fields=not_received,
        )
    area = AreaLookup(session).get(original.area_id)
    if not _served_area(session, service, area.code if area else None):
        raise AreaNotServed(
            f"service {service.code} does not serve area {area.code if area else '?'}",
            [{"field": "service_code", "value": service.code, "message": "area not served"}],
        )
    fields = _check_sharing(session, service, body.fields, now.date())
    consent_id = original.consent_id
    if original.person_id is not None:
        consent_id = _consent(session, principal, service, original.person_id, None, now.date())
    shared = {
        k: v
        for k, v in original.shared_record.items()
        if k in fields or k in ("id", "household_id")
    }
    referral = _create(
        session,
        principal,
        service,
        household_id=original.household_id,
        person_id=original.person_id,
        area_id=original.area_id,
        shared=shared,
        fields=fields,
        consent_id=consent_id or original.consent_id,
        reason=body.reason,
        case_id=original.case_id,
        grievance_id=original.grievance_id,
        programme_code=original.programme_code,
        counter_of=original.id,
        now=now,
    )
    return referral_out(referral, now.date())
