"""Grievance redress: intake, workflow, escalation, visibility, resolution actions, indicators.

Services flush, never commit. Every function that reads a clock takes ``now`` so
tests and the escalation job can control time.

Visibility: a grievance is seen inside the reader's area subtrees; a sensitive
category (abuse, fraud by staff) only by holders of ``grievances.sensitive`` over
the area; never by the staff member it is about. With ``withhold_identity`` the
complainant's name, contact and person are shown only to who lodged it and to
holders of ``grievances.sensitive``; readers without ``pii.names`` never see them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import NotFoundError, StaleVersionError, ValidationFailed
from solidarity.governance import audit
from solidarity.governance.principal import Principal
from solidarity.grievances.errors import AssignmentRefused, TransitionRefused, UnknownCategory
from solidarity.grievances.events import feed_journey, record_step
from solidarity.grievances.models import Grievance, GrievanceCategory
from solidarity.grievances.repository import AreaLookup, GrievanceRepository, ReferralRepository
from solidarity.grievances.schemas import (
    ActionOut,
    CategoryIn,
    CategoryOut,
    EscalationOut,
    EventOut,
    GrievanceIn,
    GrievanceOut,
    GrievancePage,
    IndicatorsOut,
    ReferralIn,
    ReferralStatRow,
    RepeatRow,
)
from solidarity.registry import service as registry

CATEGORIES_FILE = Path(__file__).with_name("categories.yaml")
SENSITIVE = "grievances.sensitive"
MANAGE = "grievances.manage"

#: The workflow: from each status, the steps allowed and the status each leads to.
TRANSITIONS: dict[str, dict[str, str]] = {
    "received": {"acknowledge": "acknowledged"},
    "acknowledged": {"assign": "assigned"},
    "assigned": {"assign": "assigned", "investigate": "under_investigation"},
    "under_investigation": {"resolve": "resolved"},
    "resolved": {"close": "closed", "appeal": "appealed"},
    "closed": {"appeal": "appealed"},
    "appealed": {"assign": "assigned"},
}
#: Statuses in which resolution actions may be taken.
ACTIONABLE = ("assigned", "under_investigation")
OPEN = ("received", "acknowledged", "assigned", "under_investigation", "appealed")


def aware(moment: datetime) -> datetime:
    """SQLite gives naive UTC back; compare everything as aware UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _maybe_aware(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment is not None else None


# --- categories --------------------------------------------------------------------------


def load_categories(
    session: Session, rows: Iterable[Mapping[str, Any]], *, actor: str
) -> list[CategoryOut]:
    """Create or update categories (by code) from mappings.

    Raises:
        ValidationFailed: A row is invalid; nothing is changed.
    """
    checked: list[CategoryIn] = []
    errors: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        try:
            checked.append(CategoryIn.model_validate(row))
        except ValidationError as exc:
            for e in exc.errors():
                field = ".".join(str(p) for p in e["loc"])
                errors.append({"row": number, "field": field, "message": e["msg"]})
    if errors:
        raise ValidationFailed("the categories are not valid", errors)
    repo = GrievanceRepository(session)
    out = []
    for body in checked:
        category = repo.category(body.code)
        if category is None:
            category = repo.add(GrievanceCategory(**body.model_dump(), created_by=actor))
        else:
            for key, value in body.model_dump().items():
                setattr(category, key, value)
        category.updated_by = actor
        out.append(category)
    session.flush()
    return [CategoryOut.model_validate(c) for c in out]


def ensure_categories(session: Session) -> None:
    """Load the default categories when the deployment has none yet."""
    if not GrievanceRepository(session).categories():
        data = yaml.safe_load(CATEGORIES_FILE.read_text(encoding="utf-8"))
        load_categories(session, data["categories"], actor="system")


def list_categories(session: Session) -> list[CategoryOut]:
    """The deployment's categories (the defaults when none were loaded)."""
    ensure_categories(session)
    return [CategoryOut.model_validate(c) for c in GrievanceRepository(session).categories()]


def _category(session: Session, code: str) -> GrievanceCategory:
    ensure_categories(session)
    repo = GrievanceRepository(session)
    category = repo.category(code)
    if category is None:
        known = ", ".join(c.code for c in repo.categories())
        raise UnknownCategory(
            f"unknown grievance category {code!r}",
            [{"field": "category", "value": code, "message": f"use one of {known}"}],
        )
    return category


# --- visibility and output -----------------------------------------------------------------


def _path(session: Session, grievance: Grievance) -> str | None:
    area = AreaLookup(session).get(grievance.area_id)
    return area.path if area else None


def _holds_sensitive(principal: Principal, path: str | None) -> bool:
    return principal.has(SENSITIVE) and principal.scoped_to(SENSITIVE).covers_path(path)


def may_see(
    session: Session, principal: Principal, grievance: Grievance, category: GrievanceCategory
) -> bool:
    """Whether ``principal`` may see ``grievance`` (see the module docstring)."""
    if grievance.subject_staff is not None and grievance.subject_staff == principal.username:
        return False
    path = _path(session, grievance)
    if not principal.covers_path(path):
        return False
    return not category.sensitive or _holds_sensitive(principal, path)


def _overdue(grievance: Grievance, now: datetime) -> bool:
    if grievance.status == "received" and aware(grievance.acknowledge_due) < now:
        return True
    return grievance.status in OPEN and aware(grievance.resolve_due) < now


def grievance_out(
    session: Session,
    principal: Principal,
    grievance: Grievance,
    category: GrievanceCategory,
    now: datetime | None = None,
) -> GrievanceOut:
    """``grievance`` as ``principal`` may see it."""
    path = _path(session, grievance)
    privileged = grievance.created_by == principal.username or _holds_sensitive(principal, path)
    withheld = grievance.anonymous or (grievance.withhold_identity and not privileged)
    show_name = not withheld and not principal.pseudonymised
    show_contact = show_name and principal.has("pii.contact")
    codes = AreaLookup(session).codes({grievance.area_id})
    return GrievanceOut(
        id=grievance.id,
        reference=f"GRV-{grievance.id:06d}",
        kind=grievance.kind,
        category=grievance.category_code,
        sensitive=category.sensitive,
        channel=grievance.channel,
        status=grievance.status,
        area_code=codes.get(grievance.area_id),
        household_id=grievance.household_id,
        person_id=grievance.person_id if not withheld else None,
        programme_code=grievance.programme_code,
        anonymous=grievance.anonymous,
        identity_withheld=withheld,
        complainant_name=grievance.complainant_name if show_name else None,
        complainant_contact=grievance.complainant_contact if show_contact else None,
        description=grievance.description,
        subject_staff=grievance.subject_staff,
        assigned_to=grievance.assigned_to,
        escalation_level=grievance.escalation_level,
        escalations=grievance.escalations,
        received_at=aware(grievance.received_at),
        acknowledge_due=aware(grievance.acknowledge_due),
        resolve_due=aware(grievance.resolve_due),
        acknowledged_at=_maybe_aware(grievance.acknowledged_at),
        resolved_at=_maybe_aware(grievance.resolved_at),
        closed_at=_maybe_aware(grievance.closed_at),
        within_standard=grievance.within_standard,
        overdue=_overdue(grievance, now or utcnow()),
        resolution=grievance.resolution,
        decision=grievance.decision,
        version=grievance.version,
    )


def _visible(
    session: Session, principal: Principal, grievance_id: int
) -> tuple[Grievance, GrievanceCategory]:
    repo = GrievanceRepository(session)
    grievance = repo.get(grievance_id)
    category = repo.category(grievance.category_code) if grievance else None
    if (
        grievance is None
        or category is None
        or not may_see(session, principal, grievance, category)
    ):
        # Out of scope, sensitive or about the reader: exactly like one that does not exist.
        raise NotFoundError(f"grievance {grievance_id} not found")
    return grievance, category


def get_grievance(session: Session, principal: Principal, grievance_id: int) -> GrievanceOut:
    """One grievance as the reader may see it.

    Raises:
        NotFoundError: No such grievance, or the reader may not see it.
    """
    grievance, category = _visible(session, principal, grievance_id)
    return grievance_out(session, principal, grievance, category)


def list_grievances(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    assigned_to: str | None = None,
    limit: int = 50,
    offset: int = 0,
    household_id: int | None = None,
    statuses: Sequence[str] | None = None,
) -> GrievancePage:
    """Grievances the reader may see, newest first (only ``household_id``'s when given;
    ``statuses``: only those)."""
    ensure_categories(session)
    repo = GrievanceRepository(session)
    categories = {c.code: c for c in repo.categories()}
    # Sensitive categories are hidden in the query unless the reader holds the
    # permission somewhere; where that grant is narrower, rows are checked one by one.
    hidden = [] if principal.has(SENSITIVE) else [c for c, v in categories.items() if v.sensitive]
    size = min(limit, 500)
    if _sensitive_covers_reading(principal):
        # Every remaining row is visible: page in the database.
        rows, total = repo.search(
            principal.area_paths,
            hidden_categories=hidden,
            not_about=principal.username,
            status=status,
            assigned_to=assigned_to,
            limit=size,
            offset=offset,
            household_id=household_id,
            statuses=statuses,
        )
        items = [grievance_out(session, principal, g, categories[g.category_code]) for g in rows]
        return GrievancePage(items=items, total=total)
    # The sensitive grant is narrower than the reading scope: check each row.
    rows, _total = repo.search(
        principal.area_paths,
        hidden_categories=[],
        not_about=principal.username,
        status=status,
        assigned_to=assigned_to,
        limit=None,
        offset=0,
        household_id=household_id,
    )
    visible = [g for g in rows if may_see(session, principal, g, categories[g.category_code])]
    page = visible[offset : offset + size]
    return GrievancePage(
        items=[grievance_out(session, principal, g, categories[g.category_code]) for g in page],
        total=len(visible),
    )


def _sensitive_covers_reading(principal: Principal) -> bool:
    """Whether sensitive grievances are either hidden outright or visible wherever read."""
    if not principal.has(SENSITIVE):
        return True
    sensitive = principal.scoped_to(SENSITIVE).area_paths
    if sensitive is None:
        return True
    reading = principal.area_paths
    return reading is not None and all(any(p.startswith(s) for s in sensitive) for p in reading)


@dataclass(frozen=True)
class InboxItem:
    """A grievance of an inbox with its service-standard timer."""

    grievance: GrievanceOut
    due_for: str | None  # acknowledge | resolve | None (resolved or closed)
    due: datetime | None
    seconds_left: float | None  # negative once breached
    breached: bool


def timer(grievance: GrievanceOut, now: datetime) -> InboxItem:
    """The next service-standard deadline of ``grievance`` and the time left to it."""
    if grievance.status == "received":
        due_for, due = "acknowledge", grievance.acknowledge_due
    elif grievance.status in OPEN:
        due_for, due = "resolve", grievance.resolve_due
    else:
        return InboxItem(grievance, None, None, None, False)
    left = (aware(due) - now).total_seconds()
    return InboxItem(grievance, due_for, due, left, left < 0)


def inbox(
    session: Session,
    principal: Principal,
    *,
    mine: bool = False,
    open_only: bool = True,
    now: datetime | None = None,
    limit: int = 500,
) -> list[InboxItem]:
    """The reader's inbox: grievances it may see (``mine``: assigned to it), most urgent first.

    Breached deadlines come first (longest overdue first), then the least time
    left; resolved and closed grievances (when ``open_only`` is false) come last.
    """
    now = now or utcnow()
    page = list_grievances(
        session,
        principal,
        assigned_to=principal.username if mine else None,
        statuses=OPEN if open_only else None,
        limit=limit,
    )
    items = [timer(g, now) for g in page.items]
    return sorted(
        items,
        key=lambda i: (i.seconds_left is None, i.seconds_left or 0.0, -i.grievance.id),
    )


def allowed_steps(status: str) -> list[str]:
    """The workflow steps allowed from ``status``, in workflow order."""
    return list(TRANSITIONS.get(status, {}))


def assignable_users(session: Session, principal: Principal, grievance_id: int) -> list[str]:
    """Accounts the grievance may be assigned to (the rules of :func:`assign`).

    Raises:
        NotFoundError: No such grievance, or the reader may not see it.
    """
    from solidarity.governance import service as governance

    grievance, category = _visible(session, principal, grievance_id)
    path = _path(session, grievance)
    out = []
    for user in governance.list_users(session, kind="person"):
        if not user.active or user.username == grievance.subject_staff:
            continue
        other = governance.cli_principal(session, user.username)
        if not other.has(MANAGE) or not other.scoped_to(MANAGE).covers_path(path):
            continue
        if category.sensitive and not _holds_sensitive(other, path):
            continue
        out.append(user.username)
    return sorted(out)


def events_of(session: Session, principal: Principal, grievance_id: int) -> list[EventOut]:
    """Every recorded step of a grievance.

    Raises:
        NotFoundError: No such grievance, or the reader may not see it.
    """
    _visible(session, principal, grievance_id)
    rows = GrievanceRepository(session).events("grievance", grievance_id)
    return [EventOut.model_validate(e) for e in rows]


# --- intake --------------------------------------------------------------------------------


def lodge(
    session: Session, principal: Principal, body: GrievanceIn, now: datetime | None = None
) -> GrievanceOut:
    """Take in a complaint or an appeal from any channel.

    Raises:
        UnknownCategory: The category is not defined.
        ValidationFailed: No household or area, an appeal without a programme...
        NotFoundError: The household or person is outside the officer's areas.
    """
    now = now or utcnow()
    category = _category(session, body.category)
    errors: list[dict[str, Any]] = []
    area_id: int | None = None
    if body.household_id is not None:
        household = registry.get_household(session, body.household_id, scope=principal.area_paths)
        area = AreaLookup(session).by_code(household.area_code or "")
        area_id = area.id if area is not None else None
        if body.person_id is not None and body.person_id not in {m.id for m in household.members}:
            errors.append(
                {"field": "person_id", "value": body.person_id, "message": "not of the household"}
            )
    elif body.area_code:
        area = AreaLookup(session).by_code(body.area_code)
        if area is None:
            errors.append({"field": "area_code", "value": body.area_code, "message": "unknown"})
        else:
            registry.require_area_in_scope(session, body.area_code, principal.area_paths)
            area_id = area.id
    else:
        errors.append({"field": "household_id", "message": "give a household_id or an area_code"})
    if body.kind == "appeal" and (body.programme_code is None or body.household_id is None):
        errors.append(
            {"field": "programme_code", "message": "an appeal names the programme and household"}
        )
    if body.anonymous and (body.complainant_name or body.complainant_contact):
        errors.append(
            {"field": "anonymous", "message": "an anonymous grievance carries no name or contact"}
        )
    if errors or area_id is None:
        raise ValidationFailed("the grievance is not valid", errors)
    decision = None
    if body.programme_code is not None:
        from solidarity.programs import service as programmes

        programme = programmes.get_programme(session, body.programme_code)
        if body.kind == "appeal":
            decision = _decision(session, programme, body, now)
    grievance = GrievanceRepository(session).add(
        Grievance(
            kind=body.kind,
            category_code=category.code,
            channel=body.channel,
            status="received",
            area_id=area_id,
            household_id=body.household_id,
            person_id=body.person_id,
            programme_code=body.programme_code,
            anonymous=body.anonymous,
            withhold_identity=body.withhold_identity,
            complainant_name=body.complainant_name,
            complainant_contact=body.complainant_contact,
            description=body.description,
            subject_staff=body.subject_staff,
            escalation_level=category.escalation_path[0],
            received_at=now,
            acknowledge_due=now + timedelta(days=category.days_to_acknowledge),
            resolve_due=now + timedelta(days=category.days_to_resolve),
            decision=decision,
            created_by=principal.username,
            updated_by=principal.username,
        )
    )
    record_step(
        session,
        "grievance",
        grievance.id,
        principal.username,
        "received",
        to_status="received",
        details={"channel": body.channel, "category": category.code, "kind": body.kind},
        at=now,
    )
    feed_journey(
        session,
        body.programme_code,
        body.household_id,
        body.person_id,
        "appeal_lodged" if body.kind == "appeal" else "grievance_received",
        now.date(),
        f"GRV-{grievance.id:06d} {category.code}",
        principal.username,
    )
    audit.record_for(
        session,
        principal,
        "grievance.received",
        "grievance",
        grievance.id,
        {"channel": body.channel},
    )
    return grievance_out(session, principal, grievance, category, now)


def _decision(session: Session, programme: Any, body: GrievanceIn, now: datetime) -> dict[str, Any]:
    from solidarity.programs.eligibility import explain_household

    assert body.household_id is not None
    on = body.decision_date or now.date()
    explained = explain_household(session, programme, body.household_id, on)
    return {
        "programme": explained.programme,
        "household_id": explained.household_id,
        "as_of": on.isoformat(),
        "rule_version_id": explained.rule_version_id,
        "eligible": explained.eligible,
        "benefit": explained.benefit,
        "text": explained.text,
        "explanation": explained.explanation,
    }


# --- workflow ------------------------------------------------------------------------------


def _step(
    session: Session,
    principal: Principal,
    grievance_id: int,
    step: str,
    version: int,
) -> tuple[Grievance, GrievanceCategory, str, str]:
    grievance, category = _visible(session, principal, grievance_id)
    allowed = TRANSITIONS.get(grievance.status, {})
    if step not in allowed:
        raise TransitionRefused(
            f"grievance {grievance_id}", grievance.status, _participle(step), sorted(allowed)
        )
    if version != grievance.version:
        raise StaleVersionError(
            f"grievance {grievance_id} changed since you read it (version {version}, "
            f"now {grievance.version}): read it again"
        )
    return grievance, category, grievance.status, allowed[step]


def _participle(step: str) -> str:
    return {
        "acknowledge": "acknowledged",
        "assign": "assigned",
        "investigate": "put under investigation",
        "resolve": "resolved",
        "close": "closed",
        "appeal": "appealed",
    }.get(step, step)


def _finish(
    session: Session,
    principal: Principal,
    grievance: Grievance,
    category: GrievanceCategory,
    step: str,
    before: str,
    after: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> GrievanceOut:
    grievance.status = after
    grievance.updated_by = principal.username
    session.flush()
    record_step(
        session,
        "grievance",
        grievance.id,
        principal.username,
        step,
        from_status=before,
        to_status=after,
        details=details,
        at=now,
    )
    audit.record_for(session, principal, f"grievance.{step}", "grievance", grievance.id)
    return grievance_out(session, principal, grievance, category, now)


def acknowledge(
    session: Session,
    principal: Principal,
    grievance_id: int,
    version: int,
    note: str | None = None,
    now: datetime | None = None,
) -> GrievanceOut:
    """Acknowledge receipt.

    Raises:
        TransitionRefused: Not in ``received``.
        StaleVersionError: ``version`` is not the current one.
    """
    now = now or utcnow()
    grievance, category, before, after = _step(
        session, principal, grievance_id, "acknowledge", version
    )
    grievance.acknowledged_at = now
    return _finish(
        session, principal, grievance, category, "acknowledge", before, after, now, {"note": note}
    )


def assign(
    session: Session,
    principal: Principal,
    grievance_id: int,
    assignee: str,
    version: int,
    note: str | None = None,
    now: datetime | None = None,
) -> GrievanceOut:
    """Assign an investigator who may handle the grievance.

    Raises:
        TransitionRefused: Not in ``acknowledged``, ``assigned`` or ``appealed``.
        AssignmentRefused: The assignee has no account, lacks ``grievances.manage``
            (or ``grievances.sensitive``) over the grievance's area, or is the
            staff member complained about.
    """
    from solidarity.governance import service as governance

    now = now or utcnow()
    grievance, category, before, after = _step(session, principal, grievance_id, "assign", version)
    if grievance.subject_staff == assignee:
        raise AssignmentRefused(
            f"{assignee} is the staff member this grievance is about and cannot investigate it"
        )
    try:
        other = governance.cli_principal(session, assignee)
    except NotFoundError:
        raise AssignmentRefused(f"no active account {assignee!r} to assign") from None
    path = _path(session, grievance)
    if not other.has(MANAGE) or not other.scoped_to(MANAGE).covers_path(path):
        raise AssignmentRefused(
            f"{assignee} does not handle grievances in this grievance's area "
            "(grievances.manage over it is needed)"
        )
    if category.sensitive and not _holds_sensitive(other, path):
        raise AssignmentRefused(
            f"{assignee} is not designated for sensitive grievances (grievances.sensitive)"
        )
    previous = grievance.assigned_to
    grievance.assigned_to = assignee
    return _finish(
        session,
        principal,
        grievance,
        category,
        "assign",
        before,
        after,
        now,
        {"assignee": assignee, "previous": previous, "note": note},
    )


def investigate(
    session: Session,
    principal: Principal,
    grievance_id: int,
    version: int,
    note: str | None = None,
    now: datetime | None = None,
) -> GrievanceOut:
    """Start the investigation.

    Raises:
        TransitionRefused: Not in ``assigned``.
    """
    now = now or utcnow()
    grievance, category, before, after = _step(
        session, principal, grievance_id, "investigate", version
    )
    return _finish(
        session, principal, grievance, category, "investigate", before, after, now, {"note": note}
    )


def resolve(
    session: Session,
    principal: Principal,
    grievance_id: int,
    resolution: str,
    version: int,
    now: datetime | None = None,
) -> GrievanceOut:
    """Resolve with what was done; notes whether it was within the service standard.

    Raises:
        TransitionRefused: Not ``under_investigation``.
    """
    now = now or utcnow()
    grievance, category, before, after = _step(session, principal, grievance_id, "resolve", version)
    grievance.resolution = resolution
    grievance.resolved_at = now
    standard = aware(grievance.received_at) + timedelta(days=category.days_to_resolve)
    grievance.within_standard = now <= standard
    feed_journey(
        session,
        grievance.programme_code,
        grievance.household_id,
        grievance.person_id,
        "appeal_decided" if grievance.kind == "appeal" else "grievance_resolved",
        now.date(),
        f"GRV-{grievance.id:06d}",
        principal.username,
    )
    return _finish(
        session,
        principal,
        grievance,
        category,
        "resolve",
        before,
        after,
        now,
        {"resolution": resolution, "within_standard": grievance.within_standard},
    )


def close(
    session: Session,
    principal: Principal,
    grievance_id: int,
    version: int,
    note: str | None = None,
    now: datetime | None = None,
) -> GrievanceOut:
    """Close a resolved grievance.

    Raises:
        TransitionRefused: Not ``resolved``.
    """
    now = now or utcnow()
    grievance, category, before, after = _step(session, principal, grievance_id, "close", version)
    grievance.closed_at = now
    return _finish(
        session, principal, grievance, category, "close", before, after, now, {"note": note}
    )


def appeal(
    session: Session,
    principal: Principal,
    grievance_id: int,
    version: int,
    note: str | None = None,
    now: datetime | None = None,
) -> GrievanceOut:
    """Appeal the resolution: the grievance goes one level up its escalation path.

    Raises:
        TransitionRefused: Not ``resolved`` or ``closed``.
    """
    now = now or utcnow()
    grievance, category, before, after = _step(session, principal, grievance_id, "appeal", version)
    level = _next_level(category, grievance.escalation_level)
    if level is not None:
        grievance.escalation_level = level
    grievance.assigned_to = None
    grievance.resolve_due = now + timedelta(days=category.days_to_resolve)
    feed_journey(
        session,
        grievance.programme_code,
        grievance.household_id,
        grievance.person_id,
        "grievance_appealed",
        now.date(),
        f"GRV-{grievance.id:06d}",
        principal.username,
    )
    return _finish(
        session,
        principal,
        grievance,
        category,
        "appeal",
        before,
        after,
        now,
        {"note": note, "level": grievance.escalation_level},
    )


def _next_level(category: GrievanceCategory, current: str) -> str | None:
    path = list(category.escalation_path)
    index = path.index(current) if current in path else -1
    return path[index + 1] if index + 1 < len(path) else None


def escalate_overdue(session: Session, now: datetime | None = None) -> EscalationOut:
    """Escalate every open grievance whose service standard is breached.

    A grievance not acknowledged in time, or not resolved in time, moves one level
    up its category's escalation path (the breach is recorded even at the top) and
    gets a new due time from ``now``, so one breach escalates once.
    """
    now = now or utcnow()
    repo = GrievanceRepository(session)
    categories = {c.code: c for c in repo.categories()}
    escalated = []
    for grievance in repo.open_breaching(now):
        category = categories[grievance.category_code]
        unacknowledged = grievance.status == "received" and aware(grievance.acknowledge_due) < now
        breached = "acknowledge" if unacknowledged else "resolve"
        level = _next_level(category, grievance.escalation_level)
        details = {
            "breached": breached,
            "due": (grievance.acknowledge_due if unacknowledged else grievance.resolve_due),
            "from_level": grievance.escalation_level,
            "to_level": level or grievance.escalation_level,
            "agency": category.agency_code,
        }
        if level is not None:
            grievance.escalation_level = level
        grievance.escalations += 1
        if unacknowledged:
            grievance.acknowledge_due = now + timedelta(days=max(category.days_to_acknowledge, 1))
        else:
            grievance.resolve_due = now + timedelta(days=category.days_to_resolve)
        grievance.updated_by = "system"
        session.flush()
        record_step(
            session,
            "grievance",
            grievance.id,
            "system",
            "escalated" if level is not None else "breached_at_top",
            from_status=grievance.status,
            to_status=grievance.status,
            details={k: str(v) if isinstance(v, datetime) else v for k, v in details.items()},
            at=now,
        )
        escalated.append(grievance.id)
    if escalated:
        audit.record(
            session,
            actor="system",
            action="grievance.escalated",
            object_type="grievance",
            details={"grievances": escalated},
        )
    return EscalationOut(escalated=escalated, at=now)


# --- resolution actions ----------------------------------------------------------------------


def _actionable(
    session: Session, principal: Principal, grievance_id: int
) -> tuple[Grievance, GrievanceCategory]:
    grievance, category = _visible(session, principal, grievance_id)
    if grievance.status not in ACTIONABLE:
        raise TransitionRefused(
            f"grievance {grievance_id}",
            grievance.status,
            "acted on (actions are taken while it is assigned or under investigation)",
            sorted(TRANSITIONS.get(grievance.status, {})),
        )
    return grievance, category


def _action_done(
    session: Session,
    principal: Principal,
    grievance: Grievance,
    category: GrievanceCategory,
    action: str,
    details: dict[str, Any],
) -> ActionOut:
    record_step(
        session,
        "grievance",
        grievance.id,
        principal.username,
        action,
        from_status=grievance.status,
        to_status=grievance.status,
        details=details,
    )
    audit.record_for(session, principal, f"grievance.{action}", "grievance", grievance.id, details)
    return ActionOut(
        action=action,
        grievance=grievance_out(session, principal, grievance, category),
        details=details,
    )


def _household_of(grievance: Grievance) -> int:
    if grievance.household_id is None:
        raise ValidationFailed(
            "this grievance concerns no household",
            [{"field": "household_id", "message": "the action needs the grievance's household"}],
        )
    return grievance.household_id


def file_change_request(
    session: Session,
    principal: Principal,
    grievance_id: int,
    kind: str,
    payload: dict[str, Any],
) -> ActionOut:
    """Open a change request of the grievance's household (decided by someone else).

    Raises:
        TransitionRefused: The grievance is not assigned or under investigation.
        ValidationFailed: The change request is invalid (nothing is filed).
    """
    from solidarity.registry.changes import create_change_request

    grievance, category = _actionable(session, principal, grievance_id)
    household_id = _household_of(grievance)
    registry.require_household_in_scope(session, household_id, principal.area_paths)
    request = create_change_request(
        session,
        kind=kind,
        household_id=household_id,
        payload=payload,
        actor=principal.username,
        reason=f"grievance GRV-{grievance.id:06d}",
    )
    return _action_done(
        session,
        principal,
        grievance,
        category,
        "change_request_filed",
        {"change_request_id": request.id, "kind": kind},
    )


def reassess(
    session: Session,
    principal: Principal,
    grievance_id: int,
    programme_code: str | None = None,
    on: date | None = None,
) -> ActionOut:
    """Re-run the eligibility assessment of the household against the registry of today.

    Raises:
        ValidationFailed: No programme given or on the grievance.
    """
    from solidarity.programs import service as programmes
    from solidarity.programs.eligibility import explain_household

    grievance, category = _actionable(session, principal, grievance_id)
    household_id = _household_of(grievance)
    code = programme_code or grievance.programme_code
    if code is None:
        raise ValidationFailed(
            "name the programme to reassess",
            [{"field": "programme_code", "message": "required: the grievance names none"}],
        )
    programme = programmes.get_programme(session, code)
    when = on or date.today()
    explained = explain_household(session, programme, household_id, when)
    feed_journey(
        session,
        code,
        household_id,
        grievance.person_id,
        "reassessed",
        when,
        f"GRV-{grievance.id:06d}: {'eligible' if explained.eligible else 'not eligible'}",
        principal.username,
    )
    return _action_done(
        session,
        principal,
        grievance,
        category,
        "reassessed",
        {
            "programme": code,
            "as_of": when.isoformat(),
            "eligible": explained.eligible,
            "benefit": explained.benefit,
            "text": explained.text,
        },
    )


def reissue_payment(
    session: Session, principal: Principal, grievance_id: int, entitlement_id: int
) -> ActionOut:
    """Have a payment of the grievance's household re-issued in the programme's next cycle.

    The entitlement is marked failed (with the grievance as the reason); the next
    cycle's entitlement computation re-issues failed payments (``reissue_of``).

    Raises:
        NotFoundError: No such entitlement of the grievance's household.
        ConflictError: The payment is not yet out, or it is already re-issued.
    """
    from solidarity.programs import service as programmes

    grievance, category = _actionable(session, principal, grievance_id)
    household_id = _household_of(grievance)
    reissue = programmes.reissue_in_later_cycle(
        session,
        entitlement_id,
        household_id=household_id,
        reason=f"not received: grievance GRV-{grievance.id:06d}",
        actor=principal.username,
    )
    return _action_done(
        session,
        principal,
        grievance,
        category,
        "payment_reissue",
        {
            "entitlement_id": reissue.entitlement_id,
            "previous_status": reissue.previous_status,
            "amount": reissue.amount,
        },
    )


def refer(session: Session, principal: Principal, grievance_id: int, body: ReferralIn) -> ActionOut:
    """Refer the grievance's household to a service of another agency.

    Raises:
        See :func:`solidarity.grievances.referrals.send_referral`.
    """
    from solidarity.grievances import referrals

    grievance, category = _actionable(session, principal, grievance_id)
    household_id = _household_of(grievance)
    sent = referrals.send_referral(
        session,
        principal,
        body.model_copy(
            update={
                "household_id": household_id,
                "grievance_id": grievance.id,
                "programme_code": body.programme_code or grievance.programme_code,
            }
        ),
    )
    return _action_done(
        session,
        principal,
        grievance,
        category,
        "referred",
        {"referral_id": sent.id, "service": sent.service_code},
    )


# --- indicators ------------------------------------------------------------------------------


def indicators(
    session: Session,
    principal: Principal,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> IndicatorsOut:
    """Monitoring indicators over the reader's areas: resolution time, share within
    standard, open overdue, repeat complaints by area and programme, referral figures."""
    now = now or utcnow()
    repo = GrievanceRepository(session)
    frame = repo.frame(principal.area_paths, since, until)
    areas = AreaLookup(session).frame().select("area_id", pl.col("code").alias("area_code"))
    resolved = frame.filter(pl.col("resolved_at").is_not_null()) if frame.height else frame
    median = None
    share = None
    if resolved.height:
        days = (pl.col("resolved_at") - pl.col("received_at")).dt.total_seconds() / 86400
        median = round(float(resolved.select(days.median()).to_series().cast(pl.Float64).sum()), 2)
        within = resolved["within_standard"].cast(pl.Float64).fill_null(0.0).sum()
        share = round(float(within) / resolved.height, 4)
    open_overdue = 0
    by_category: dict[str, int] = {}
    repeats: list[RepeatRow] = []
    if frame.height:
        open_overdue = frame.filter(
            pl.col("status").is_in(list(OPEN)) & (pl.col("resolve_due") < now)
        ).height
        by_category = {
            str(r["category_code"]): int(r["len"])
            for r in frame.group_by("category_code").len().iter_rows(named=True)
        }
        per = (
            frame.filter(pl.col("household_id").is_not_null())
            .group_by("area_id", "programme_code", "household_id")
            .len()
            .filter(pl.col("len") > 1)
            .group_by("area_id", "programme_code")
            .agg(pl.len().alias("households"), pl.col("len").sum().alias("grievances"))
            .join(areas, on="area_id", how="left")
            .sort("area_code", "programme_code", nulls_last=True)
        )
        repeats = [
            RepeatRow(
                area_code=r["area_code"],
                programme_code=r["programme_code"],
                households=int(r["households"]),
                grievances=int(r["grievances"]),
            )
            for r in per.iter_rows(named=True)
        ]
    return IndicatorsOut(
        grievances=frame.height,
        resolved=resolved.height,
        median_days_to_resolve=median,
        share_within_standard=share,
        open_overdue=open_overdue,
        by_category=by_category,
        repeat_complaints=repeats,
        referrals=referral_statistics(session, principal.area_paths),
    )


def referral_records(
    session: Session,
    scope: Any,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """One row per referral sent in ``[since, until)`` inside ``scope`` (area paths or national).

    Columns: ``referral_id``, ``sector``, ``service_code``, ``area_code``, ``status``,
    ``sent_on`` (date), ``accepted``, ``declined``, ``served`` (yes/no),
    ``days_to_service`` (days from sending to service, null until served). This is
    what other domains read (coherence diagnostics, monitoring indicators).
    """
    frame = ReferralRepository(session).frame(scope, since, until)
    areas = AreaLookup(session).frame().select("area_id", pl.col("code").alias("area_code"))
    days = (pl.col("served_at") - pl.col("sent_at")).dt.total_seconds() / 86400
    return (
        frame.join(areas, on="area_id", how="left")
        .select(
            pl.col("id").cast(pl.Int64).alias("referral_id"),
            pl.col("sector").cast(pl.String),
            pl.col("service_code").cast(pl.String),
            pl.col("area_code").cast(pl.String),
            pl.col("status").cast(pl.String),
            pl.col("sent_at").dt.date().alias("sent_on"),
            pl.col("accepted_at").is_not_null().alias("accepted"),
            (pl.col("status") == "declined").alias("declined"),
            pl.col("served_at").is_not_null().alias("served"),
            days.cast(pl.Float64).alias("days_to_service"),
        )
        .sort("referral_id")
    )


def referral_statistics(
    session: Session,
    scope: Any,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ReferralStatRow]:
    """Referrals sent, accepted, declined, served and median days to service, by sector and area."""
    return summarise_referrals(referral_records(session, scope, since, until))


def summarise_referrals(records: pl.DataFrame) -> list[ReferralStatRow]:
    """:func:`referral_records` grouped by sector and area."""
    if records.height == 0:
        return []
    grouped = (
        records.group_by("sector", "area_code")
        .agg(
            pl.len().alias("sent"),
            pl.col("accepted").sum().alias("accepted"),
            pl.col("declined").sum().alias("declined"),
            pl.col("served").sum().alias("served"),
            pl.col("days_to_service").median().alias("median_days"),
        )
        .sort("sector", "area_code")
    )
    return [
        ReferralStatRow(
            sector=r["sector"],
            area_code=r["area_code"],
            sent=int(r["sent"]),
            accepted=int(r["accepted"]),
            declined=int(r["declined"]),
            served=int(r["served"]),
            median_days_to_service=(
                round(float(r["median_days"]), 2) if r["median_days"] is not None else None
            ),
        )
        for r in grouped.iter_rows(named=True)
    ]
