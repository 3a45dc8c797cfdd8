"""Eligibility over the whole registry: preview, enrolment, recertification, explanation.

Every population-wide step reads the registry columns a rule needs in bulk (as of
the evaluation date), runs the compiled Polars rule, and writes results back in
bulk; no step loops over households with the ORM.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from solidarity.analytics.frames import read_frame
from solidarity.db.base import utcnow
from solidarity.db.encrypted import EncryptedJSON, EncryptedText
from solidarity.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from solidarity.programs.models import Enrolment, EnrolmentRequest, JourneyEvent, Programme
from solidarity.programs.repository import (
    EnrolmentCandidate,
    ProgrammeRepository,
    insert_frame,
    read_areas,
)
from solidarity.programs.rules import UNMET, BoundRule, bind, field_refs, fields_read
from solidarity.programs.schemas import (
    PAYMENTS_PER_YEAR,
    BreakdownRow,
    EligibleHousehold,
    EnrolResult,
    ExplanationOut,
    PreviewOut,
)
from solidarity.programs.service import optional_rule_in_force, rule_in_force
from solidarity.registry.bulk import end_of_day, read_state
from solidarity.registry.models import Household, Person
from solidarity.rules import CheckedRule, explain, to_polars_all

Progress = Callable[[int, int, str], None]

#: Person columns the demographic breakdowns read.
DEMOGRAPHIC_COLUMNS = (
    "sex",
    "birth_date",
    "relationship",
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_cognition",
    "wg_selfcare",
    "wg_communication",
)


@dataclass(frozen=True)
class ProgrammeRules:
    """The rule versions of a programme in force on a date, bound to their parameters."""

    as_of: date
    eligibility: BoundRule
    benefit: BoundRule | None
    priority: BoundRule | None

    def by_name(self) -> dict[str, CheckedRule]:
        """The checked rules in force by the column they give: ``eligible``, and
        ``benefit`` and ``priority`` when the programme has them."""
        named = {"eligible": self.eligibility, "benefit": self.benefit, "priority": self.priority}
        return {name: bound.rule for name, bound in named.items() if bound is not None}

    def columns(self) -> tuple[list[str], list[str]]:
        """Household and person columns the rules read."""
        household: set[str] = set()
        person: set[str] = set()
        for rule in self.by_name().values():
            h, p = fields_read(rule.tree)
            household |= h
            person |= p
        return sorted(household), sorted(person)


def rules_on(session: Session, programme: Programme, as_of: date) -> ProgrammeRules:
    """The programme's rules in force on ``as_of``.

    Raises:
        RuleVersionError: No eligibility rule is in force then.
    """
    benefit = optional_rule_in_force(session, programme, "benefit", as_of)
    priority = optional_rule_in_force(session, programme, "priority", as_of)
    return ProgrammeRules(
        as_of,
        bind(rule_in_force(session, programme, "eligibility", as_of), as_of),
        bind(benefit, as_of) if benefit else None,
        bind(priority, as_of) if priority else None,
    )


def evaluate_population(
    session: Session,
    rules: ProgrammeRules,
    *,
    household_ids: list[int] | None = None,
    unmet: pl.DataFrame | None = None,
    extra_person_columns: tuple[str, ...] = (),
    scope_paths: Sequence[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Evaluate a programme's rules over the registry as of ``rules.as_of``.

    Returns:
        ``(households, persons)``: households with ``eligible``, ``benefit`` and
        ``priority`` columns, and the persons read (for breakdowns).
    """
    hh_cols, person_cols = rules.columns()
    households, persons = read_state(
        session.connection(),
        hh_cols,
        sorted({*person_cols, *extra_person_columns}),
        rules.as_of,
        household_ids,
        scope_paths,
    )
    if unmet is not None and unmet.height:
        households = households.join(
            unmet.select("household_id", pl.col("unmet").cast(pl.Int64).alias(UNMET)),
            on="household_id",
            how="left",
            maintain_order="left",
        ).with_columns(pl.col(UNMET).fill_null(0))
    else:
        households = households.with_columns(pl.lit(0, dtype=pl.Int64).alias(UNMET))
    # One plan for the three rules: the members are grouped once for all of them.
    frame = to_polars_all(rules.by_name(), as_of=rules.as_of).apply(households, members=persons)
    if rules.benefit is None:
        frame = frame.with_columns(pl.lit(0.0).alias("benefit"))
    if rules.priority is None:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("priority"))
    active = persons.filter(pl.col("status").is_null() | (pl.col("status") == "active"))
    sizes = active.group_by("household_id").agg(pl.len().cast(pl.Int64).alias("size"))
    result = (
        frame.with_columns(
            pl.col("eligible").fill_null(False),
            pl.col("benefit").cast(pl.Float64).fill_null(0.0).clip(lower_bound=0.0),
            pl.col("priority").cast(pl.Float64),
        )
        .join(sizes.lazy(), on="household_id", how="left", maintain_order="left")
        .with_columns(pl.col("size").fill_null(0))
        .collect()
    )
    return result, persons


def _area_codes(session: Session, frame: pl.DataFrame, level: int) -> pl.DataFrame:
    areas = read_areas(session.connection()).with_columns(
        pl.col("path")
        .str.strip_chars("/")
        .str.split("/")
        .list.get(level, null_on_oob=True)
        .alias("group"),
        pl.col("code").alias("area_code"),
    )
    return frame.join(
        areas.select("area_id", "area_code", "group"), on="area_id", how="left"
    ).with_columns(pl.col("group").fill_null(pl.col("area_code")))


def _breakdown(frame: pl.DataFrame, group: pl.Expr) -> list[BreakdownRow]:
    rows = (
        frame.group_by(group.fill_null("unknown").cast(pl.String).alias("group"))
        .agg(pl.len().alias("households"), pl.col("benefit").sum().alias("cost"))
        .sort("group")
    )
    return [BreakdownRow(**r) for r in rows.iter_rows(named=True)]


def _demographics(persons: pl.DataFrame, as_of: date) -> pl.DataFrame:
    wg = [c for c in DEMOGRAPHIC_COLUMNS if c.startswith("wg_")]
    people = persons.filter(pl.col("status").is_null() | (pl.col("status") == "active"))
    disabled = pl.any_horizontal([pl.col(c).fill_null(0) >= 3 for c in wg])
    by_household = people.group_by("household_id").agg(disabled.any().alias("disability"))
    age = (pl.lit(as_of).dt.year() - pl.col("birth_date").dt.year()) - (
        (pl.lit(as_of).dt.ordinal_day() < pl.col("birth_date").dt.ordinal_day()).cast(pl.Int32)
    )
    heads = (
        people.filter(pl.col("relationship") == "head")
        .unique("household_id", keep="first")
        .select(
            "household_id",
            pl.col("sex").alias("head_sex"),
            pl.when(age < 25)
            .then(pl.lit("under 25"))
            .when(age < 60)
            .then(pl.lit("25-59"))
            .otherwise(pl.lit("60 and over"))
            .alias("head_age_group"),
        )
    )
    return by_household.join(heads, on="household_id", how="left")


def preview(
    session: Session,
    programme: Programme,
    as_of: date,
    *,
    area_level: int = 0,
    limit: int = 50,
    offset: int = 0,
    scope_paths: Sequence[str] | None = None,
    draft: BoundRule | None = None,
) -> PreviewOut:
    """Who would be eligible on ``as_of`` and at what cost; nothing is written.

    ``scope_paths`` limits the population to those area subtrees (``None``: national).
    ``draft`` replaces the eligibility rule in force by an unsaved one (the rule
    editor's live preview), with the benefit rule in force.
    """
    if draft is None:
        rules = rules_on(session, programme, as_of)
    else:
        benefit = optional_rule_in_force(session, programme, "benefit", as_of)
        rules = ProgrammeRules(as_of, draft, bind(benefit, as_of) if benefit else None, None)
    households, persons = evaluate_population(
        session, rules, extra_person_columns=DEMOGRAPHIC_COLUMNS, scope_paths=scope_paths
    )
    eligible = households.filter(pl.col("eligible"))
    eligible = _area_codes(session, eligible, area_level).join(
        _demographics(persons, as_of), on="household_id", how="left"
    )
    total = float(eligible["benefit"].sum() or 0.0)
    page = eligible.sort("household_id").slice(offset, limit)
    return PreviewOut(
        programme=programme.code,
        as_of=as_of,
        rule_version_id=rules.eligibility.version.id,
        benefit_rule_version_id=rules.benefit.version.id if rules.benefit else None,
        households_evaluated=households.height,
        eligible=eligible.height,
        total_cost=round(total, 2),
        annual_cost=round(total * PAYMENTS_PER_YEAR.get(programme.benefit_frequency, 1), 2),
        page=[
            EligibleHousehold(**r)
            for r in page.select(
                "household_id", "area_code", "size", "benefit", "priority"
            ).iter_rows(named=True)
        ],
        by_area=_breakdown(eligible, pl.col("group")),
        by_sex_of_head=_breakdown(eligible, pl.col("head_sex")),
        by_age_of_head=_breakdown(eligible, pl.col("head_age_group")),
        by_disability=_breakdown(
            eligible,
            pl.when(pl.col("disability"))
            .then(pl.lit("with disability"))
            .otherwise(pl.lit("without disability")),
        ),
    )


def journey_frame(
    programme_id: int,
    household_ids: pl.Series,
    event: str,
    when: date,
    reason: str | None,
    actor: str,
) -> pl.DataFrame:
    """Rows of the journey-event table for many households."""
    return pl.DataFrame({"household_id": household_ids.cast(pl.Int64)}).with_columns(
        pl.lit(programme_id).alias("programme_id"),
        pl.lit(event).alias("event"),
        pl.lit(when, dtype=pl.Date).alias("event_date"),
        pl.lit(reason, dtype=pl.String).alias("reason"),
        pl.lit(actor).alias("created_by"),
    )


def enrol_eligible(
    session: Session,
    programme: Programme,
    as_of: date,
    actor: str,
    *,
    household_ids: list[int] | None = None,
    progress: Progress | None = None,
    scope_paths: Sequence[str] | None = None,
    in_database: bool | None = None,
) -> EnrolResult:
    """Enrol every eligible household not yet enrolled; over the budget cap, waitlist.

    Households are taken in priority order: ascending value of the programme's
    priority rule (e.g. lowest PMT score first) when it has one, else by household
    id (registration order). The first household whose annual cost would exceed
    what is left of the budget cap, and every one after it, is waitlisted in that
    order. A household is enrolled once per programme, so re-running changes nothing.

    The whole population is evaluated and enrolled inside the database whenever it
    can be (``in_database=None``; see :func:`_in_database`), else read and evaluated
    in Polars; both give the same enrolments. A list of ``household_ids`` always
    goes through Polars.
    """
    step = progress or (lambda *_: None)
    step(0, 3, "evaluating eligibility")
    rules = rules_on(session, programme, as_of)
    repo = ProgrammeRepository(session)
    per_year = PAYMENTS_PER_YEAR.get(programme.benefit_frequency, 1)
    if household_ids is None and (
        in_database if in_database is not None else _in_database(repo, rules)
    ):
        return _enrol_in_database(repo, programme, rules, actor, per_year, scope_paths, step)
    households, _ = evaluate_population(
        session, rules, household_ids=household_ids, scope_paths=scope_paths
    )
    eligible = households.filter(pl.col("eligible"))
    existing = repo.enrolment_frame(programme.id)
    new = eligible.join(existing.select("household_id"), on="household_id", how="anti")
    step(1, 3, "ranking by priority")
    order = ["priority", "household_id"] if rules.priority else ["household_id"]
    new = new.sort(order, nulls_last=True)
    annual = pl.col("benefit") * per_year
    if programme.budget_cap is not None:
        active = existing.filter(pl.col("status") == "active")
        used = float(active["benefit_amount"].sum() or 0.0) * per_year
        remaining = programme.budget_cap - used
        fits = (annual.cum_sum() <= remaining).cast(pl.Int8).cum_min().cast(pl.Boolean)
    else:
        fits = pl.lit(True)
    start_rank = int(existing["waitlist_rank"].fill_null(0).max() or 0) if existing.height else 0  # type: ignore[arg-type]
    new = new.with_columns(fits.alias("fits"))
    new = new.with_columns(
        pl.when(pl.col("fits"))
        .then(pl.lit("active"))
        .otherwise(pl.lit("waitlisted"))
        .alias("status"),
        pl.when(pl.col("fits"))
        .then(pl.lit(None, dtype=pl.Int64))
        .otherwise(pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + start_rank)
        .alias("waitlist_rank"),
    )
    # Ranks count only waitlisted rows.
    new = new.with_columns(
        pl.when(pl.col("fits"))
        .then(None)
        .otherwise(pl.col("waitlist_rank") - pl.col("fits").cast(pl.Int64).sum())
        .alias("waitlist_rank")
    )
    # The last report comes before the first write: on SQLite a progress update
    # (its own transaction) would wait for this one's write lock.
    step(2, 3, "writing enrolments")
    rows = new.select(
        pl.lit(programme.id).alias("programme_id"),
        "household_id",
        "status",
        pl.lit(rules.eligibility.version.id).alias("rule_version_id"),
        pl.lit(as_of, dtype=pl.Date).alias("as_of"),
        pl.col("benefit").alias("benefit_amount"),
        "priority",
        "waitlist_rank",
        pl.when(pl.col("fits")).then(pl.lit(as_of, dtype=pl.Date)).alias("enrolled_on"),
        pl.lit(1).alias("version"),
        pl.lit(actor).alias("created_by"),
        pl.lit(actor).alias("updated_by"),
    )
    insert_frame(session, Enrolment, rows, with_ids=True)
    enrolled = new.filter(pl.col("fits"))
    waiting = new.filter(~pl.col("fits"))
    events = pl.concat(
        [
            journey_frame(programme.id, enrolled["household_id"], "enrolled", as_of, None, actor),
            journey_frame(
                programme.id, waiting["household_id"], "waitlisted", as_of, "budget cap", actor
            ),
        ]
    )
    insert_frame(session, JourneyEvent, events, with_ids=True)
    session.flush()
    return EnrolResult(
        programme=programme.code,
        as_of=as_of,
        rule_version_id=rules.eligibility.version.id,
        eligible=eligible.height,
        already_enrolled=eligible.height - new.height,
        enrolled=enrolled.height,
        waitlisted=waiting.height,
        annual_cost_enrolled=round(float(enrolled["benefit"].sum() or 0.0) * per_year, 2),
    )


def _in_database(repo: ProgrammeRepository, rules: ProgrammeRules) -> bool:
    """Whether the enrolment can run inside the database (see :func:`_enrol_in_database`).

    It can when the current registry tables are the registry as of the date (nothing
    changed since) and the rules read only stored columns in the clear (not
    ``unmet_conditions``, which is a programme's, nor a deployment's extra field,
    nor anything sealed at rest).
    """
    tables = {"household": Household.__table__, "person": Person.__table__}
    for rule in rules.by_name().values():
        for ref in field_refs(rule.tree):
            table = tables["household" if ref.scope in ("household", "parent") else "person"]
            # Extra fields: the Polars path cannot read them yet, so neither path does.
            column = None if ref.extra else table.columns.get(ref.name)
            if column is None or isinstance(column.type, EncryptedText | EncryptedJSON):
                return False
    return rules.as_of >= date.today() or repo.registry_settled(end_of_day(rules.as_of))


def _enrol_in_database(
    repo: ProgrammeRepository,
    programme: Programme,
    rules: ProgrammeRules,
    actor: str,
    per_year: int,
    scope_paths: Sequence[str] | None,
    step: Progress,
) -> EnrolResult:
    """Enrol with the rules compiled to SQL: one pass over the registry in the database.

    Same outcome as the Polars path of :func:`enrol_eligible` (the tests compare them),
    without reading the registry into the process.
    """
    existing = repo.enrolment_totals(programme.id)
    remaining = (
        programme.budget_cap - existing.active_amount * per_year
        if programme.budget_cap is not None
        else None
    )
    step(2, 3, "evaluating and writing enrolments in the database")
    counts = repo.enrol_in_database(
        programme.id,
        rules.by_name(),
        EnrolmentCandidate(
            as_of=rules.as_of,
            rule_version_id=rules.eligibility.version.id,
            per_year=per_year,
            remaining=remaining,
            start_rank=existing.last_rank,
            actor=actor,
            scope_paths=scope_paths,
        ),
    )
    repo.session.flush()
    return EnrolResult(
        programme=programme.code,
        as_of=rules.as_of,
        rule_version_id=rules.eligibility.version.id,
        **counts,
    )


def recertify(
    session: Session, programme: Programme, as_of: date, actor: str
) -> tuple[str | None, int, list[EnrolmentRequest]]:
    """Re-evaluate active enrolments and propose exits (a pending batch; nothing exits yet).

    Returns:
        The batch name (``None`` when nothing is proposed), the number of enrolments
        reviewed, and the proposals.
    """
    repo = ProgrammeRepository(session)
    active = repo.enrolment_frame(programme.id, "active")
    rules = rules_on(session, programme, as_of)
    households, _ = evaluate_population(session, rules)
    pending = read_frame(
        session.connection(),
        EnrolmentRequest.__table__.select()  # type: ignore[attr-defined]
        .with_only_columns(EnrolmentRequest.household_id)
        .where(EnrolmentRequest.programme_id == programme.id, EnrolmentRequest.status == "pending"),
    )
    reviewed = active.join(
        households.select("household_id", "eligible"), on="household_id", how="left"
    ).join(pending, on="household_id", how="anti")
    leaving = reviewed.filter(~pl.col("eligible").fill_null(False)).with_columns(
        pl.when(pl.col("eligible").is_null())
        .then(pl.lit(f"household not active in the registry on {as_of.isoformat()}"))
        .otherwise(
            pl.lit(
                f"no longer eligible on {as_of.isoformat()} under rule version "
                f"{rules.eligibility.version.id}"
            )
        )
        .alias("reason")
    )
    if leaving.height == 0:
        return None, active.height, []
    batch = f"recert-{programme.code}-{as_of.isoformat()}-{uuid.uuid4().hex[:6]}"
    rows = leaving.select(
        pl.lit(programme.id).alias("programme_id"),
        "household_id",
        pl.lit("exit").alias("action"),
        pl.lit("recertification").alias("origin"),
        pl.lit(batch).alias("batch"),
        "reason",
        pl.lit("pending").alias("status"),
        pl.lit(actor).alias("requested_by"),
        pl.lit(as_of, dtype=pl.Date).alias("as_of"),
        pl.lit(actor).alias("created_by"),
        pl.lit(actor).alias("updated_by"),
    )
    insert_frame(session, EnrolmentRequest, rows, with_ids=True)
    session.flush()
    return batch, active.height, list(repo.requests(programme.id, batch=batch))


def request_change(
    session: Session,
    programme: Programme,
    household_id: int,
    action: str,
    reason: str,
    actor: str,
    as_of: date,
) -> EnrolmentRequest:
    """File a manual enrolment or exit; it applies only after another user approves.

    Raises:
        ConflictError: The household is already in that state or has a pending request.
    """
    repo = ProgrammeRepository(session)
    if repo.pending_request(programme.id, household_id) is not None:
        raise ConflictError(f"household {household_id} already has a pending request")
    enrolment = repo.enrolment(programme.id, household_id)
    if action == "enrol" and enrolment is not None and enrolment.status == "active":
        raise ConflictError(f"household {household_id} is already enrolled")
    if action == "exit" and (enrolment is None or enrolment.status == "exited"):
        raise ConflictError(f"household {household_id} is not enrolled")
    request = EnrolmentRequest(
        programme_id=programme.id,
        household_id=household_id,
        action=action,
        origin="manual",
        reason=reason,
        status="pending",
        requested_by=actor,
        as_of=as_of,
        created_by=actor,
        updated_by=actor,
    )
    return repo.add(request)  # type: ignore[no-any-return]


def decide(
    session: Session,
    programme: Programme,
    actor: str,
    *,
    approve: bool,
    request_ids: list[int] | None = None,
    batch: str | None = None,
) -> list[EnrolmentRequest]:
    """Approve or reject pending requests; the checker must not be the maker.

    Raises:
        ValidationFailed: Neither ids nor a batch were given.
        NotFoundError: A request does not exist.
        ConflictError: A request was already decided.
        PermissionDenied: The actor filed one of the requests.
    """
    repo = ProgrammeRepository(session)
    if batch is not None:
        requests = list(repo.requests(programme.id, batch=batch))
    elif request_ids:
        requests = []
        for rid in request_ids:
            found = repo.request(rid)
            if found is None or found.programme_id != programme.id:
                raise NotFoundError(f"request {rid} does not exist in '{programme.code}'")
            requests.append(found)
    else:
        raise ValidationFailed("name the requests to decide, or a batch")
    if not requests:
        raise NotFoundError("no request matches")
    for request in requests:
        if request.status != "pending":
            raise ConflictError(f"request {request.id} is already {request.status}")
        if request.requested_by == actor:
            raise PermissionDenied(
                f"request {request.id} was filed by {actor}: another user must decide it"
            )
    now = utcnow()
    for request in requests:
        request.status = "approved" if approve else "rejected"
        request.decided_by = actor
        request.decided_at = now
        request.updated_by = actor
    if approve:
        _apply(session, programme, requests, actor)
    session.flush()
    return requests


def _apply(
    session: Session, programme: Programme, requests: list[EnrolmentRequest], actor: str
) -> None:
    repo = ProgrammeRepository(session)
    exits = [r for r in requests if r.action == "exit"]
    if exits:
        enrolments = repo.enrolment_frame(programme.id).filter(
            pl.col("household_id").is_in([r.household_id for r in exits])
        )
        by_household = dict(
            zip(enrolments["household_id"], enrolments["enrolment_id"], strict=True)
        )
        repo.update_enrolments(
            [
                {
                    "id": by_household[r.household_id],
                    "status": "exited",
                    "exited_on": r.as_of,
                    "exit_reason": r.reason,
                    "updated_by": actor,
                }
                for r in exits
                if r.household_id in by_household
            ]
        )
        for day in {r.as_of for r in exits}:
            ids = pl.Series([r.household_id for r in exits if r.as_of == day])
            reasons = [r.reason for r in exits if r.as_of == day]
            frame = journey_frame(programme.id, ids, "exited", day, None, actor).with_columns(
                pl.Series("reason", reasons)
            )
            insert_frame(session, JourneyEvent, frame, with_ids=True)
    for request in (r for r in requests if r.action == "enrol"):
        detail = explain_household(session, programme, request.household_id, request.as_of)
        enrolment = repo.enrolment(programme.id, request.household_id)
        if enrolment is None:
            enrolment = Enrolment(
                programme_id=programme.id,
                household_id=request.household_id,
                created_by=actor,
            )
            session.add(enrolment)
        enrolment.status = "active"
        enrolment.rule_version_id = detail.rule_version_id
        enrolment.as_of = request.as_of
        enrolment.benefit_amount = detail.benefit or 0.0
        enrolment.enrolled_on = request.as_of
        enrolment.waitlist_rank = None
        enrolment.exited_on = None
        enrolment.exit_reason = None
        enrolment.explanation = {
            "manual_reason": request.reason,
            "eligible_by_rule": detail.eligible,
            "explanation": detail.explanation,
        }
        enrolment.updated_by = actor
        session.add(
            JourneyEvent(
                programme_id=programme.id,
                household_id=request.household_id,
                event="enrolled",
                event_date=request.as_of,
                reason=f"manual: {request.reason}",
                created_by=actor,
            )
        )


def explain_household(
    session: Session, programme: Programme, household_id: int, as_of: date
) -> ExplanationOut:
    """Explain a household's eligibility and benefit from the registry state of ``as_of``.

    Raises:
        NotFoundError: The household did not exist (or was not active) on that date.
    """
    rules = rules_on(session, programme, as_of)
    hh_cols, person_cols = rules.columns()
    households, persons = read_state(
        session.connection(), hh_cols, person_cols, as_of, [household_id]
    )
    if households.height == 0:
        raise NotFoundError(f"household {household_id} was not active on {as_of.isoformat()}")
    record: dict[str, Any] = {UNMET: 0, **households.row(0, named=True)}
    members = list(persons.iter_rows(named=True))
    tree = explain(rules.eligibility.rule, record, members=members, as_of=as_of)
    benefit_tree = None
    benefit: float | None = None
    if rules.benefit is not None:
        benefit_tree = explain(rules.benefit.rule, record, members=members, as_of=as_of)
        value = benefit_tree.value
        benefit = max(float(value), 0.0) if isinstance(value, int | float) else None
    text = tree.render()
    if benefit_tree is not None:
        text += "\nBenefit:\n" + benefit_tree.render(indent=1)
    return ExplanationOut(
        programme=programme.code,
        household_id=household_id,
        as_of=as_of,
        rule_version_id=rules.eligibility.version.id,
        eligible=bool(tree.held),
        benefit=benefit,
        text=text,
        explanation=tree.to_dict(),
        benefit_explanation=benefit_tree.to_dict() if benefit_tree else None,
    )
