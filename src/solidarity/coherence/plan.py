"""From diagnosis to action: results framework, coherence scorecard and action plan.

Indicators whose ``formula`` names a computed metric (see :func:`metrics`) are
computed from the data; others are entered. The scorecard suggests a score (1-4)
per dimension from the computed figures, keeps those figures as evidence, and
lets the assessor override the score and comment. Services flush, never commit.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from solidarity.coherence import service as diagnostics
from solidarity.coherence.errors import DuplicateRecord, InvalidCoherenceInput, UnknownRecord
from solidarity.coherence.institutions import institutional_map
from solidarity.coherence.models import (
    Action,
    ActionNote,
    Assessment,
    AssessmentScore,
    Indicator,
    IndicatorTarget,
    IndicatorValue,
)
from solidarity.coherence.repository import CoherenceRepository
from solidarity.coherence.schemas import (
    DIMENSIONS,
    ActionIn,
    ActionOut,
    ActionUpdate,
    AssessmentIn,
    AssessmentOut,
    IndicatorIn,
    IndicatorOut,
    IndicatorValueIn,
    NoteIn,
    ScoreOut,
)
from solidarity.errors import StaleVersionError

CLOSED = ("done", "cancelled")


def metrics(ctx: diagnostics.Context) -> dict[str, float | None]:
    """The headline figures of every diagnostic, by metric key (usable as indicator formulas)."""
    targeting = diagnostics.targeting_of(ctx)
    system = next((r for r in targeting.rows if r["programme"] == "ALL"), {})
    overlaps = diagnostics.overlaps_of(ctx)
    multi = sum(r["households"] for r in overlaps.multiplicity if r["programmes"] != "1")
    fiscal = diagnostics.fiscal_of(ctx)
    q1 = next(
        (r["share"] for r in fiscal.incidence if r["programme"] == "ALL" and r["quintile"] == "Q1"),
        None,
    )
    budget = sum(r["budget"] or 0.0 for r in fiscal.by_programme)
    spending = sum(r["spending"] or 0.0 for r in fiscal.by_programme)
    journey = diagnostics.journey_of(ctx)
    applying = journey.repeated_summary.get("households_applying", 0)
    rules = diagnostics.rules_of(ctx)
    institutions = institutional_map(ctx.session, ctx.as_of)
    vulnerable = targeting.vulnerable_households
    referrals = diagnostics.referrals_of(ctx)
    return {
        "coverage.system": system.get("coverage"),
        "exclusion_error.system": system.get("exclusion_error"),
        "inclusion_error.system": system.get("inclusion_error"),
        "vulnerable.uncovered_share": (
            targeting.uncovered_households / vulnerable if vulnerable else None
        ),
        "overlap.multi_share": multi / overlaps.beneficiaries if overlaps.beneficiaries else None,
        "overlap.exclusive_violations": float(len(overlaps.exclusive_violations)),
        "fiscal.incidence_q1": q1,
        "fiscal.execution_rate": spending / budget if budget else None,
        "journey.several_share": (
            journey.repeated_summary.get("households_applying_to_several", 0) / applying
            if applying
            else None
        ),
        "rules.problems": float(
            sum(1 for h in rules.hand_overs if h.get("problem"))
            + len(rules.contradictions)
            + sum(1 for e in rules.exclusive_eligible if e["eligible_for_both"])
        ),
        "institutions.flags": float(len(institutions.flags)),
        "referrals.sent": float(referrals.sent),
        "referrals.acceptance_share": referrals.acceptance_share,
        "referrals.served_share": referrals.served_share,
        "referrals.median_days_to_service": referrals.median_days_to_service,
    }


def _band(value: float | None, cuts: tuple[float, float, float], higher_is_better: bool) -> int:
    if value is None:
        return 1
    if not higher_is_better:
        value, cuts = -value, (-cuts[0], -cuts[1], -cuts[2])
    return 4 if value >= cuts[0] else 3 if value >= cuts[1] else 2 if value >= cuts[2] else 1


def suggest(
    figures: dict[str, float | None], indicators: int
) -> dict[str, tuple[int, dict[str, Any]]]:
    """A suggested score (1-4) and its evidence for each dimension."""

    def pick(*keys: str) -> dict[str, Any]:
        return {k: figures.get(k) for k in keys}

    return {
        "strategy": (2 if indicators else 1, {"indicators": indicators}),
        "institutions": (
            _band(figures["institutions.flags"], (0, 3, 10), False),
            pick("institutions.flags"),
        ),
        "registry_integration": (
            _band(figures["journey.several_share"], (0.05, 0.15, 0.3), False),
            pick("journey.several_share"),
        ),
        "programme_overlaps": (
            min(
                _band(figures["overlap.exclusive_violations"], (0, 10, 100), False),
                _band(figures["overlap.multi_share"], (0.1, 0.25, 0.5), False),
            ),
            pick("overlap.multi_share", "overlap.exclusive_violations"),
        ),
        "coverage": (
            _band(figures["coverage.system"], (0.8, 0.6, 0.4), True),
            pick("coverage.system", "exclusion_error.system", "vulnerable.uncovered_share"),
        ),
        "fiscal": (
            _band(figures["fiscal.incidence_q1"], (0.4, 0.3, 0.2), True),
            pick("fiscal.incidence_q1", "fiscal.execution_rate"),
        ),
        "data": (
            _band(figures["inclusion_error.system"], (0.1, 0.2, 0.35), False),
            pick("inclusion_error.system"),
        ),
        "rules": (_band(figures["rules.problems"], (0, 1, 3), False), pick("rules.problems")),
        "grievance": (
            (
                _band(figures["referrals.served_share"], (0.7, 0.5, 0.3), True),
                pick(
                    "referrals.sent",
                    "referrals.served_share",
                    "referrals.median_days_to_service",
                ),
            )
            if figures.get("referrals.sent")
            else (1, {"note": "no referral between sectors recorded yet"})
        ),
        "monitoring": (
            4 if indicators >= 8 else 3 if indicators >= 4 else 2 if indicators else 1,
            {"indicators": indicators},
        ),
    }


# --- results framework -------------------------------------------------------------------


def upsert_indicator(session: Session, body: IndicatorIn, *, actor: str) -> bool:
    """Create or update an indicator and its yearly targets. True when created."""
    repo = CoherenceRepository(session)
    row = repo.by_code(Indicator, body.code)
    created = row is None
    if row is None:
        row = Indicator(code=body.code, created_by=actor)
        session.add(row)
    for key, value in body.model_dump(exclude={"targets", "code"}).items():
        setattr(row, key, value)
    row.updated_by = actor
    session.flush()
    for year, value in body.targets.items():
        target = repo.indicator_target(row.id, year)
        if target is None:
            repo.add(IndicatorTarget(indicator_id=row.id, year=year, value=value, created_by=actor))
        else:
            target.value = value
    session.flush()
    return created


def require_indicator(session: Session, code: str) -> Indicator:
    """An indicator by code.

    Raises:
        UnknownRecord: No indicator has that code.
    """
    row = CoherenceRepository(session).by_code(Indicator, code)
    if row is None:
        raise UnknownRecord(f"no indicator has the code {code!r}")
    return row


def add_value(session: Session, code: str, body: IndicatorValueIn, *, actor: str) -> IndicatorOut:
    """Enter an observed value of an indicator."""
    row = require_indicator(session, code)
    CoherenceRepository(session).add(
        IndicatorValue(
            indicator_id=row.id,
            observed_on=body.observed_on,
            value=body.value,
            note=body.note,
            source="entered",
            created_by=actor,
            updated_by=actor,
        )
    )
    return indicator_out(session, row)


def compute_values(session: Session, ctx: diagnostics.Context, *, actor: str) -> list[IndicatorOut]:
    """Compute and store today's value of every indicator with a formula."""
    repo = CoherenceRepository(session)
    figures = metrics(ctx)
    out = []
    for row in repo.indicators():
        if row.formula:
            if row.formula not in figures:
                raise InvalidCoherenceInput(
                    f"indicator {row.code}: unknown formula {row.formula!r}; "
                    f"use one of {', '.join(sorted(figures))}"
                )
            value = figures[row.formula]
            if value is not None:
                repo.add(
                    IndicatorValue(
                        indicator_id=row.id,
                        observed_on=ctx.as_of,
                        value=float(value),
                        source="computed",
                        note=f"computed for {ctx.area_code or 'the whole country'}",
                        created_by=actor,
                        updated_by=actor,
                    )
                )
        out.append(indicator_out(session, row))
    return out


def indicator_out(session: Session, row: Indicator) -> IndicatorOut:
    """An indicator with targets, values, and progress from baseline towards the latest target."""
    repo = CoherenceRepository(session)
    targets = {t.year: t.value for t in repo.indicator_targets(row.id)}
    values = repo.indicator_values(row.id)
    latest = values[-1] if values else None
    progress = on_track = None
    if latest is not None and targets and row.baseline_value is not None:
        year = min((y for y in targets if y >= latest.observed_on.year), default=max(targets))
        span = targets[year] - row.baseline_value
        progress = (latest.value - row.baseline_value) / span if span else 1.0
        if row.baseline_year is not None and year > row.baseline_year:
            elapsed = (latest.observed_on.year - row.baseline_year) / (year - row.baseline_year)
            on_track = progress >= min(max(elapsed, 0.0), 1.0)
    return IndicatorOut(
        code=row.code,
        name=row.name,
        definition=row.definition,
        formula=row.formula,
        unit=row.unit,
        responsible_agency=row.responsible_agency,
        baseline_value=row.baseline_value,
        baseline_year=row.baseline_year,
        direction=row.direction,
        targets=targets,
        values=[
            {"observed_on": v.observed_on, "value": v.value, "source": v.source, "note": v.note}
            for v in values
        ],
        latest=latest.value if latest else None,
        progress=progress,
        on_track=on_track,
    )


def list_indicators(session: Session) -> list[IndicatorOut]:
    """Every indicator with its progress."""
    return [indicator_out(session, r) for r in CoherenceRepository(session).indicators()]


# --- scorecard ----------------------------------------------------------------------------


def assess(
    session: Session, ctx: diagnostics.Context, body: AssessmentIn, *, actor: str
) -> AssessmentOut:
    """Score every dimension: suggested from the data, overridden where the assessor says."""
    unknown = set(body.scores) - set(DIMENSIONS)
    if unknown:
        raise InvalidCoherenceInput(
            f"unknown dimension(s): {', '.join(sorted(unknown))}",
            errors=[{"field": f"scores.{d}", "message": "unknown dimension"} for d in unknown],
        )
    repo = CoherenceRepository(session)
    suggestions = suggest(metrics(ctx), len(repo.indicators()))
    row = repo.add(
        Assessment(
            title=body.title,
            as_of=body.as_of,
            area_code=body.area_code,
            assessor=actor,
            created_by=actor,
            updated_by=actor,
        )
    )
    for dimension in DIMENSIONS:
        suggested, evidence = suggestions[dimension]
        given = body.scores.get(dimension)
        repo.add(
            AssessmentScore(
                assessment_id=row.id,
                dimension=dimension,
                score=given.score if given and given.score else suggested,
                suggested_score=suggested,
                evidence={k: v for k, v in evidence.items()},
                comment=given.comment if given else "",
                created_by=actor,
                updated_by=actor,
            )
        )
    return assessment_out(session, row)


def assessment_out(session: Session, row: Assessment) -> AssessmentOut:
    """A stored scorecard."""
    scores = [
        ScoreOut(
            dimension=s.dimension,
            score=s.score,
            suggested_score=s.suggested_score,
            evidence=dict(s.evidence),
            comment=s.comment,
        )
        for s in CoherenceRepository(session).scores(row.id)
    ]
    average = sum(s.score for s in scores) / len(scores) if scores else 0.0
    return AssessmentOut(
        id=row.id,
        title=row.title,
        as_of=row.as_of,
        area_code=row.area_code,
        assessor=row.assessor,
        scores=scores,
        average=average,
    )


def get_assessment(session: Session, assessment_id: int | None = None) -> AssessmentOut | None:
    """A scorecard by id, or the latest (``None`` when there is none)."""
    repo = CoherenceRepository(session)
    row = repo.get(Assessment, assessment_id) if assessment_id else repo.latest_assessment()
    if row is None:
        if assessment_id:
            raise UnknownRecord(f"no assessment has the id {assessment_id}")
        return None
    return assessment_out(session, row)


# --- action plan --------------------------------------------------------------------------


def upsert_action(session: Session, body: ActionIn, *, actor: str) -> bool:
    """Create an action, or update one of the same code (from a YAML import)."""
    repo = CoherenceRepository(session)
    row = repo.by_code(Action, body.code)
    created = row is None
    if row is None:
        row = Action(code=body.code, created_by=actor)
        session.add(row)
    data = body.model_dump(exclude={"code", "agency"})
    for key, value in data.items():
        setattr(row, key, value)
    row.agency_code = body.agency
    row.updated_by = actor
    session.flush()
    return created


def create_action(session: Session, body: ActionIn, *, actor: str, as_of: date) -> ActionOut:
    """Add an action to the plan.

    Raises:
        DuplicateRecord: The code is taken.
    """
    if CoherenceRepository(session).by_code(Action, body.code) is not None:
        raise DuplicateRecord(f"action {body.code!r} already exists")
    upsert_action(session, body, actor=actor)
    return action_out(session, require_action(session, body.code), as_of)


def require_action(session: Session, code: str) -> Action:
    """An action by code.

    Raises:
        UnknownRecord: No action has that code.
    """
    row = CoherenceRepository(session).by_code(Action, code)
    if row is None:
        raise UnknownRecord(f"no action has the code {code!r}")
    return row


def update_action(
    session: Session, code: str, body: ActionUpdate, *, actor: str, as_of: date
) -> ActionOut:
    """Change an action; refused when it changed since the caller read it.

    Raises:
        StaleVersionError: ``body.version`` is not the stored version.
    """
    row = require_action(session, code)
    if row.version != body.version:
        raise StaleVersionError(
            f"action {code} is at version {row.version}, not {body.version}: read it again"
        )
    for key, value in body.model_dump(exclude={"version"}, exclude_unset=True).items():
        setattr(row, "agency_code" if key == "agency" else key, value)
    row.updated_by = actor
    session.flush()
    return action_out(session, row, as_of)


def add_note(session: Session, code: str, body: NoteIn, *, actor: str, as_of: date) -> ActionOut:
    """Add a progress note to an action."""
    row = require_action(session, code)
    CoherenceRepository(session).add(
        ActionNote(action_id=row.id, **body.model_dump(), created_by=actor, updated_by=actor)
    )
    return action_out(session, row, as_of)


def action_out(session: Session, row: Action, as_of: date) -> ActionOut:
    """An action with its notes; overdue when due before ``as_of`` and not done or cancelled."""
    notes = CoherenceRepository(session).notes(row.id)
    progress = next((n.progress for n in reversed(notes) if n.progress is not None), None)
    return ActionOut(
        code=row.code,
        title=row.title,
        description=row.description,
        finding=row.finding,
        dimension=row.dimension,
        agency=row.agency_code,
        responsible_person=row.responsible_person,
        start_on=row.start_on,
        due_on=row.due_on,
        status=row.status,
        version=row.version,
        overdue=row.due_on is not None and row.due_on < as_of and row.status not in CLOSED,
        progress=progress,
        notes=[{"noted_on": n.noted_on, "progress": n.progress, "note": n.note} for n in notes],
    )


def list_actions(session: Session, as_of: date, *, overdue_only: bool = False) -> list[ActionOut]:
    """The action plan, by due date."""
    rows = CoherenceRepository(session).all(Action, Action.due_on, Action.code)
    out = [action_out(session, r, as_of) for r in rows]
    return [a for a in out if a.overdue] if overdue_only else out
