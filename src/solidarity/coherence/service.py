"""Coherence diagnostics: read once in bulk, compute in Polars, return plain figures.

A :class:`Context` reads what the diagnostics need for one scope (as-of date,
area, breakdown level) lazily and once: the population and its groups, who is in
which programme (registry enrolments, plus outside lists linked to registry
persons when linkage has run), targets, spending and journeys. Each diagnostic
is a function of the context. Nothing here writes.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from solidarity.coherence import fiscal as fiscal_mod
from solidarity.coherence import journey as journey_mod
from solidarity.coherence import overlaps as overlaps_mod
from solidarity.coherence import repository as repo
from solidarity.coherence import targeting as targeting_mod
from solidarity.coherence.errors import InvalidCoherenceInput
from solidarity.coherence.models import DeclaredTarget, ProgrammeRelation
from solidarity.coherence.policy_map import flagged_cells, policy_map
from solidarity.coherence.population import DIMENSIONS, Population, load_population, poorest_share
from solidarity.coherence.rule_coherence import RuleFacts, facts_of, hand_over
from solidarity.coherence.schemas import (
    FiscalOut,
    JourneyOut,
    OverlapsOut,
    PolicyMapOut,
    ReferralLinkageOut,
    Rows,
    RuleCoherenceOut,
    Scope,
    TargetingOut,
)
from solidarity.programs.rules import UNMET, check_rule, fields_read
from solidarity.rules import CheckedRule, RuleError, to_polars

#: The system-wide "poor or vulnerable" population when none is declared.
DEFAULT_VULNERABLE_SHARE = 0.2
SAMPLE = 100


def rows(frame: pl.DataFrame) -> Rows:
    """A frame as JSON-ready rows."""
    return frame.to_dicts()


class Context:
    """What the diagnostics of one scope read, each piece read once when first needed."""

    def __init__(
        self,
        session: Session,
        as_of: date,
        area_code: str | None = None,
        area_level: int = 0,
    ) -> None:
        self.session = session
        self.as_of = as_of
        self.area_code = area_code
        self.area_level = area_level

    def scope(self, by: str | None = None) -> Scope:
        """The scope as reported with each result."""
        return Scope(as_of=self.as_of, area_code=self.area_code, area_level=self.area_level, by=by)

    # --- reads --------------------------------------------------------------------------

    @cached_property
    def programmes(self) -> pl.DataFrame:
        """Programme design columns."""
        return repo.read_programmes(self.session.connection())

    @cached_property
    def codes(self) -> list[str]:
        """Programme codes, sorted."""
        return sorted(self.programmes["programme"].to_list())

    @cached_property
    def relations(self) -> list[ProgrammeRelation]:
        """Declared mutual exclusions and hand-overs."""
        return list(repo.CoherenceRepository(self.session).all(ProgrammeRelation, "id"))

    @cached_property
    def rule_versions(self) -> pl.DataFrame:
        """Rule versions in force on the as-of date, with programme codes."""
        return repo.read_rules(self.session.connection(), self.as_of).join(
            self.programmes.select("programme_id", "programme"), on="programme_id"
        )

    @cached_property
    def checked_rules(self) -> dict[str, tuple[CheckedRule, dict[str, Any]]]:
        """Each programme's eligibility rule in force, checked with its parameters."""
        from solidarity.programs.models import ProgrammeRule

        out: dict[str, tuple[CheckedRule, dict[str, Any]]] = {}
        eligibility = self.rule_versions.filter(pl.col("kind") == "eligibility")
        for row in eligibility.iter_rows(named=True):
            version = self.session.get(ProgrammeRule, row["rule_id"])
            if version is None:
                continue
            try:
                rule = check_rule(version.expression, dict(version.parameters), self.as_of)
            except RuleError:
                continue
            out[row["programme"]] = (rule, row)
        return out

    @cached_property
    def declared_targets(self) -> list[DeclaredTarget]:
        """Every declared target."""
        return list(repo.CoherenceRepository(self.session).all(DeclaredTarget, "id"))

    def _declared_rules(self) -> list[tuple[DeclaredTarget, CheckedRule]]:
        out = []
        for target in self.declared_targets:
            if target.kind == "rule":
                try:
                    out.append((target, check_rule(target.expression or "", {}, self.as_of)))
                except RuleError as exc:
                    raise InvalidCoherenceInput(
                        f"declared target {target.name!r} does not check: {exc}"
                    ) from exc
        return out

    @cached_property
    def population(self) -> Population:
        """Households in scope with their groups, plus the columns every rule reads."""
        household: set[str] = set()
        person: set[str] = set()
        rules = [r for r, _row in self.checked_rules.values()]
        rules += [r for _t, r in self._declared_rules()]
        for rule in rules:
            h, p = fields_read(rule.tree)
            household |= h
            person |= p
        household.discard(UNMET)
        return load_population(
            self.session,
            self.as_of,
            self.area_code,
            self.area_level,
            household_columns=tuple(sorted(household)),
            person_columns=tuple(sorted(person)),
        )

    @cached_property
    def memberships(self) -> pl.DataFrame:
        """``programme``, ``household_id``: enrolled on the as-of date, or on a linked list."""
        enrolled = repo.read_enrolments(self.session.connection(), self.as_of).join(
            self.programmes.select("programme_id", "programme"), on="programme_id"
        )
        frames = [enrolled.select("programme", "household_id")]
        linked = self._linked_lists()
        if linked.height:
            frames.append(linked)
        members = pl.concat(frames).unique()
        return members.join(
            self.population.households.select("household_id"), on="household_id", how="semi"
        )

    def _linked_lists(self) -> pl.DataFrame:
        """Outside beneficiary lists linked to registry persons (source = programme code)."""
        empty = pl.DataFrame(schema={"programme": pl.String, "household_id": pl.Int64})
        try:
            from solidarity.linkage import service as linkage
        except ImportError:  # pragma: no cover - linkage is part of the package
            return empty
        links = linkage.linked_persons(self.session)
        if links.height == 0:
            return empty
        persons = self.population.persons.select("person_id", "household_id")
        return (
            links.filter(pl.col("source").is_in(self.codes))
            .join(persons, on="person_id", how="inner")
            .select(pl.col("source").alias("programme"), pl.col("household_id").cast(pl.Int64))
            .unique()
        )

    def _apply(self, rule: CheckedRule) -> pl.DataFrame:
        pop = self.population
        households = pop.households.with_columns(pl.lit(0, dtype=pl.Int64).alias(UNMET))
        result = (
            to_polars(rule, as_of=self.as_of)
            .apply(households, members=pop.persons, alias="_hit")
            .filter(pl.col("_hit").fill_null(False))
            .select("household_id")
            .collect()
        )
        return result

    @cached_property
    def eligible(self) -> pl.DataFrame:
        """``programme``, ``household_id`` eligible by the programme's own rule."""
        frames = [
            self._apply(rule).with_columns(pl.lit(code).alias("programme"))
            for code, (rule, _row) in self.checked_rules.items()
        ]
        if not frames:
            return pl.DataFrame(schema={"household_id": pl.Int64, "programme": pl.String})
        return pl.concat(frames).select("programme", "household_id")

    @cached_property
    def targets(self) -> tuple[pl.DataFrame, dict[str, str]]:
        """Each programme's target population (declared target, else its own rule)."""
        frames: list[pl.DataFrame] = []
        sources: dict[str, str] = {}
        declared_rules = {t.id: r for t, r in self._declared_rules()}
        for target in self.declared_targets:
            if target.programme_code is None or target.programme_code in sources:
                continue
            frames.append(
                self._declared(target, declared_rules).with_columns(
                    pl.lit(target.programme_code).alias("programme")
                )
            )
            sources[target.programme_code] = f"declared: {target.name}"
        for code in self.codes:
            if code not in sources and code in self.checked_rules:
                frames.append(self.eligible.filter(pl.col("programme") == code))
                sources[code] = "eligibility rule"
        frame = (
            pl.concat([f.select("programme", "household_id") for f in frames])
            if frames
            else pl.DataFrame(schema={"programme": pl.String, "household_id": pl.Int64})
        )
        return frame, sources

    def _declared(self, target: DeclaredTarget, checked: dict[int, CheckedRule]) -> pl.DataFrame:
        if target.kind == "poorest_share":
            return poorest_share(self.population.households, float(target.share or 0.0))
        return self._apply(checked[target.id])

    @cached_property
    def vulnerable(self) -> tuple[pl.DataFrame, str]:
        """The system's poor or vulnerable households (declared, else the poorest 20%)."""
        system = [t for t in self.declared_targets if t.programme_code is None]
        if not system:
            frame = poorest_share(self.population.households, DEFAULT_VULNERABLE_SHARE)
            return frame, "the poorest 20% of persons (default)"
        checked = {t.id: r for t, r in self._declared_rules()}
        frames = [self._declared(t, checked) for t in system]
        return pl.concat(frames).unique(), " or ".join(t.name for t in system)

    @cached_property
    def spending(self) -> pl.DataFrame:
        """``programme``, ``household_id``, ``spent`` in the year to the as-of date, in scope."""
        frame = repo.read_spending(self.session.connection(), self.as_of)
        return frame.join(
            self.programmes.select("programme_id", "programme"), on="programme_id"
        ).join(self.population.households.select("household_id"), on="household_id", how="semi")

    @cached_property
    def events(self) -> pl.DataFrame:
        """Journey events in scope with programme codes."""
        frame = repo.read_journey(self.session.connection(), self.as_of)
        return frame.join(
            self.programmes.select("programme_id", "programme"), on="programme_id"
        ).join(self.population.households.select("household_id"), on="household_id", how="semi")

    @cached_property
    def referrals(self) -> pl.DataFrame:
        """Referrals sent up to the as-of date in scope, one row each (grievances service)."""
        from datetime import UTC, datetime, time

        from solidarity.coherence.population import area_scope
        from solidarity.grievances import service as grievances

        prefix = area_scope(repo.read_areas(self.session.connection()), self.area_code)
        until = datetime.combine(self.as_of + timedelta(days=1), time(), tzinfo=UTC)
        scope = [prefix] if prefix is not None else None
        return grievances.referral_records(self.session, scope, until=until)

    @cached_property
    def overlap(self) -> overlaps_mod.Overlaps:
        """Overlap figures of the memberships in scope."""
        return overlaps_mod.overlaps(
            self.memberships, self.population.households.select("household_id", "size"), self.codes
        )


def _check_by(by: str | None) -> None:
    if by is not None and by not in DIMENSIONS:
        raise InvalidCoherenceInput(
            f"unknown breakdown {by!r}; use one of {', '.join(DIMENSIONS)}",
            errors=[{"field": "by", "message": f"one of {', '.join(DIMENSIONS)}"}],
        )


def beneficiary_counts(ctx: Context) -> pl.DataFrame:
    """Beneficiary households per programme."""
    return ctx.memberships.group_by("programme").agg(
        pl.col("household_id").n_unique().cast(pl.Int64).alias("beneficiaries")
    )


def policy_map_of(ctx: Context) -> PolicyMapOut:
    """The policy map of the scope."""
    grid = policy_map(ctx.programmes, beneficiary_counts(ctx))
    return PolicyMapOut(scope=ctx.scope(), cells=rows(grid), flagged=rows(flagged_cells(grid)))


def overlaps_of(ctx: Context) -> OverlapsOut:
    """Pairwise overlaps, multiplicity, combinations and mutual-exclusion violations."""
    result = ctx.overlap
    area = ctx.population.households.select("household_id", "area")
    violations = []
    for relation in ctx.relations:
        if relation.kind != "mutually_exclusive":
            continue
        both = overlaps_mod.in_both(
            result.masks, result.programmes, relation.programme_a, relation.programme_b
        ).join(area, on="household_id", how="left")
        for row in both.iter_rows(named=True):
            violations.append(
                {
                    "programme_a": relation.programme_a,
                    "programme_b": relation.programme_b,
                    "household_id": row["household_id"],
                    "area": row["area"],
                    "legal_reference": relation.legal_reference,
                }
            )
    return OverlapsOut(
        scope=ctx.scope(),
        programmes=result.programmes,
        beneficiaries=result.beneficiaries,
        pairs=rows(result.pairs),
        multiplicity=rows(result.multiplicity),
        combinations=rows(result.combinations),
        exclusive_violations=violations,
    )


def targeting_of(ctx: Context, by: str | None = None) -> TargetingOut:
    """Coverage and targeting errors per programme and for the system, by ``by``."""
    _check_by(by)
    targets, sources = ctx.targets
    households = ctx.population.households
    table = targeting_mod.targeting(targets, ctx.memberships, households, by)
    vulnerable, definition = ctx.vulnerable
    vulnerable = vulnerable.join(households.select("household_id"), on="household_id", how="semi")
    left_out = targeting_mod.uncovered(vulnerable, ctx.memberships, households)
    worst = targeting_mod.worst_areas(vulnerable, ctx.memberships, households)
    return TargetingOut(
        scope=ctx.scope(by),
        target_sources=sources,
        rows=rows(table),
        vulnerable_definition=definition,
        vulnerable_households=vulnerable.height,
        uncovered_households=left_out.height,
        uncovered_sample=left_out["household_id"].head(SAMPLE).to_list(),
        worst_areas=rows(worst),
    )


def fiscal_of(ctx: Context) -> FiscalOut:
    """Budget, spending, unit cost, by programme, ministry, funding source, area; incidence."""
    admin = repo.read_admin_costs(ctx.session.connection(), ctx.as_of.year)
    per = fiscal_mod.by_programme(ctx.programmes, ctx.spending, ctx.memberships, admin)
    vulnerable, _definition = ctx.vulnerable
    return FiscalOut(
        scope=ctx.scope(),
        period_start=ctx.as_of - timedelta(days=364),
        period_end=ctx.as_of,
        by_programme=rows(per),
        by_ministry=rows(fiscal_mod.by_column(per, "ministry")),
        by_funding_source=rows(fiscal_mod.by_column(per, "funding_source")),
        by_area=rows(
            fiscal_mod.by_area(ctx.spending, ctx.memberships, ctx.population.households, vulnerable)
        ),
        incidence=rows(fiscal_mod.incidence(ctx.spending, ctx.population.households)),
    )


def journey_of(ctx: Context, by: str | None = None) -> JourneyOut:
    """Funnel, drop-off and repeated steps; ``by`` splits the funnel by a population group."""
    _check_by(by)
    events = ctx.events
    if by is not None:
        groups = ctx.population.households.select("household_id", pl.col(by).cast(pl.String))
        events = events.join(groups, on="household_id").with_columns(
            (pl.col("programme") + " / " + pl.col(by)).alias("programme")
        )
    result = journey_mod.journey(events)
    return JourneyOut(
        scope=ctx.scope(by),
        funnel=rows(result.funnel),
        drop_off=rows(result.drop_off),
        repeated_summary=result.repeated_summary,
        repeated_sample=rows(result.repeated.head(SAMPLE)),
    )


def rules_of(ctx: Context) -> RuleCoherenceOut:
    """Age bands, hand-over gaps and overlaps, contradictions, eligibility for exclusive pairs."""
    facts: dict[str, RuleFacts] = {}
    rule_rows: Rows = []
    contradictions: Rows = []
    for code, (rule, row) in sorted(ctx.checked_rules.items()):
        found = facts_of(rule)
        facts[code] = found
        rule_rows.append(
            {
                "programme": code,
                "rule_id": row["rule_id"],
                "valid_from": row["valid_from"],
                "expression": rule.normalised,
                "age_band": found.age.text() if found.age else None,
                "legal_reference": row["legal_reference"],
            }
        )
        for text in found.contradictions:
            contradictions.append(
                {
                    "programme": code,
                    "rule_id": row["rule_id"],
                    "problem": text,
                    "legal_reference": row["legal_reference"],
                }
            )
    legal = {code: row["legal_reference"] for code, (_r, row) in ctx.checked_rules.items()}
    hand_overs: Rows = []
    exclusive: Rows = []
    for relation in ctx.relations:
        a, b = relation.programme_a, relation.programme_b
        if relation.kind == "hand_over":
            age_a = facts[a].age if a in facts else None
            age_b = facts[b].age if b in facts else None
            if age_a is None or age_b is None:
                hand_overs.append(
                    {
                        "programme_a": a,
                        "programme_b": b,
                        "problem": "no age band found in one of the eligibility rules",
                    }
                )
                continue
            result = hand_over(a, age_a, b, age_b)
            problem = (
                f"ages {result.gap} are covered by neither"
                if result.gap
                else f"ages {result.overlap} are covered by both"
                if result.overlap
                else ""
            )
            hand_overs.append(
                {
                    **result.__dict__,
                    "problem": problem,
                    "legal_reference_a": legal.get(a, ""),
                    "legal_reference_b": legal.get(b, ""),
                    "declared_in": relation.legal_reference,
                }
            )
        elif relation.kind == "mutually_exclusive":
            eligible = ctx.eligible
            in_a = eligible.filter(pl.col("programme") == a).select("household_id")
            in_b = eligible.filter(pl.col("programme") == b).select("household_id")
            both = in_a.join(in_b, on="household_id", how="semi").sort("household_id")
            exclusive.append(
                {
                    "programme_a": a,
                    "programme_b": b,
                    "eligible_for_both": both.height,
                    "households": both["household_id"].head(SAMPLE).to_list(),
                    "legal_reference_a": legal.get(a, ""),
                    "legal_reference_b": legal.get(b, ""),
                    "declared_in": relation.legal_reference,
                }
            )
    return RuleCoherenceOut(
        scope=ctx.scope(),
        rules=rule_rows,
        hand_overs=hand_overs,
        contradictions=contradictions,
        exclusive_eligible=exclusive,
    )


def referrals_of(ctx: Context) -> ReferralLinkageOut:
    """Cross-sectoral linkage: referrals sent, accepted, served and days to service,
    overall and by sector and area (the grievances service's referral statistics)."""
    from solidarity.grievances import service as grievances

    records = ctx.referrals
    sent = records.height
    accepted = int(records["accepted"].sum()) if sent else 0
    served = int(records["served"].sum()) if sent else 0
    median = records["days_to_service"].drop_nulls().median() if sent else None
    return ReferralLinkageOut(
        scope=ctx.scope(),
        sent=sent,
        accepted=accepted,
        declined=int(records["declined"].sum()) if sent else 0,
        served=served,
        acceptance_share=round(accepted / sent, 4) if sent else None,
        served_share=round(served / sent, 4) if sent else None,
        median_days_to_service=round(float(median), 2) if median is not None else None,  # type: ignore[arg-type]
        by_sector_area=[r.model_dump() for r in grievances.summarise_referrals(records)],
    )
