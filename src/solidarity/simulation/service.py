"""Reform scenarios: stored versions, runs against the baseline, comparison.

A run reads the registry once (as of a date, only the columns the rules read) and
evaluates baseline and scenario programmes through the rule language's compiled
Polars back-end (:mod:`solidarity.simulation.engine`); nothing loops over households.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.coherence.population import age_years, build_population
from solidarity.programs import service as programmes
from solidarity.programs.rules import UNMET, check_rule, fields_read
from solidarity.registry.bulk import read_state
from solidarity.rules import CheckedRule, RuleError
from solidarity.simulation import engine
from solidarity.simulation.errors import ScenarioInvalid, UnknownScenario
from solidarity.simulation.models import SimulationScenario
from solidarity.simulation.repository import SimulationRepository
from solidarity.simulation.schemas import (
    AddProgramme,
    BudgetCap,
    MergeProgrammes,
    RemoveProgramme,
    ReplaceRule,
    Result,
    ScenarioIn,
    SetParameters,
)

PERSON_GROUP_COLUMNS = (
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


#: Why a programme changed: ``kind`` (parameters, rule, new, stopped, merged_into,
#: merges, cap) and its details; see :func:`describe_reason`.
Reason = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Side:
    """Programme specs of one side of a run, with why each scenario programme changed."""

    specs: list[engine.ProgrammeSpec]
    #: Why each programme changed, as reasons (see :func:`describe_reason`).
    causes: dict[str, list[Reason]]
    names: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Population:
    """The registry as of a date, read once, with groups and life-cycle flags."""

    as_of: date
    households: pl.DataFrame
    persons: pl.DataFrame


# --- scenarios -------------------------------------------------------------------------


def parse_scenario(data: Any, source: str = "scenario") -> ScenarioIn:
    """Validate a scenario mapping (from YAML or JSON).

    Raises:
        ScenarioInvalid: A field is missing or malformed (each field with its reason).
    """
    try:
        return ScenarioIn.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise ScenarioInvalid(f"{source} is not a valid scenario", errors) from exc


def load_scenario_file(path: Path) -> ScenarioIn:
    """Read a scenario from YAML.

    Raises:
        ScenarioInvalid: The file cannot be read or is not a valid scenario.
    """
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioInvalid(f"cannot read {path}: {exc}") from exc
    return parse_scenario(data, str(path))


def save_scenario(session: Session, scenario: ScenarioIn, actor: str) -> SimulationScenario:
    """Store a new version of the scenario, after checking it against the rules in force.

    Raises:
        ScenarioInvalid: Unknown programme or parameter, or a rule that does not check.
    """
    baseline = baseline_side(session, scenario.baseline_date)
    apply_changes(baseline, scenario)
    repo = SimulationRepository(session)
    latest = repo.latest(scenario.name)
    row = SimulationScenario(
        name=scenario.name,
        version=(latest.version + 1) if latest else 1,
        description=scenario.description,
        baseline_date=scenario.baseline_date,
        definition=scenario.model_dump(mode="json"),
        base_rules={s.code: s.rule_ids for s in baseline.specs},
        created_by=actor,
        updated_by=actor,
    )
    return repo.add(row)  # type: ignore[no-any-return]


def stored_scenario(session: Session, name: str, version: int | None = None) -> SimulationScenario:
    """A stored scenario version (the newest by default).

    Raises:
        UnknownScenario: No such scenario or version.
    """
    repo = SimulationRepository(session)
    row = repo.latest(name) if version is None else repo.version(name, version)
    if row is None:
        suffix = "" if version is None else f" version {version}"
        raise UnknownScenario(f"no stored scenario '{name}'{suffix}")
    return row


def list_scenarios(session: Session) -> Sequence[SimulationScenario]:
    """Every stored scenario version."""
    return SimulationRepository(session).scenarios()


# --- programme specs -------------------------------------------------------------------


def _check(expression: str, parameters: dict[str, Any], when: date, where: str) -> CheckedRule:
    try:
        return check_rule(expression, parameters, when)
    except RuleError as exc:
        raise ScenarioInvalid(
            f"{where}: {exc.detail}", [{"field": where, "message": exc.detail}]
        ) from exc


def baseline_side(session: Session, as_of: date) -> Side:
    """Every active programme with an eligibility rule in force on ``as_of``."""
    specs = []
    names = {}
    for programme in programmes.list_programmes(session):
        if programme.status != "active":
            continue
        versions = {
            kind: programmes.optional_rule_in_force(session, programme, kind, as_of)
            for kind in ("eligibility", "benefit", "priority")
        }
        eligibility = versions["eligibility"]
        if eligibility is None:
            continue
        rules = {
            kind: _check(v.expression, dict(v.parameters), as_of, f"{programme.code}.{kind}")
            if v is not None
            else None
            for kind, v in versions.items()
        }
        specs.append(
            engine.ProgrammeSpec(
                code=programme.code,
                name=programme.name,
                eligibility=(rules["eligibility"],),  # type: ignore[arg-type]
                benefit=rules["benefit"],
                priority=rules["priority"],
                per_year=engine.PAYMENTS_PER_YEAR.get(programme.benefit_frequency, 1),
                budget_cap=programme.budget_cap,
                rule_ids={k: (v.id if v is not None else None) for k, v in versions.items()},
            )
        )
        names[programme.code] = programme.name
    return Side(specs, {}, names)


def _raw_parameters(spec: engine.ProgrammeSpec, kind: str) -> dict[str, Any]:
    rule = {"eligibility": spec.eligibility[0], "benefit": spec.benefit, "priority": spec.priority}[
        kind
    ]
    return dict(rule.parameters) if rule is not None else {}


def apply_changes(baseline: Side, scenario: ScenarioIn) -> Side:
    """The scenario's programmes: the baseline with each change applied in order.

    Raises:
        ScenarioInvalid: A change names an unknown programme or parameter, or a rule
            that does not check (all problems are listed at once).
    """
    when = scenario.baseline_date
    specs = {s.code: s for s in baseline.specs}
    names = dict(baseline.names)
    causes: dict[str, list[Reason]] = {}
    errors: list[dict[str, Any]] = []

    def known(code: str, where: str) -> engine.ProgrammeSpec | None:
        if code not in specs:
            errors.append(
                {
                    "field": where,
                    "message": f"unknown programme '{code}' (known: {', '.join(sorted(specs))})",
                }
            )
            return None
        return specs[code]

    for i, change in enumerate(scenario.changes):
        where = f"changes[{i}]"
        try:
            if isinstance(change, SetParameters):
                spec = known(change.programme, f"{where}.programme")
                if spec is None:
                    continue
                current = _raw_parameters(spec, change.rule)
                unknown = sorted(set(change.set) - set(current))
                if unknown:
                    errors.extend(
                        {
                            "field": f"{where}.set.{name}",
                            "message": f"the {change.rule} rule of '{spec.code}' has no parameter "
                            f"'{name}' (it has: {', '.join(sorted(current)) or 'none'})",
                        }
                        for name in unknown
                    )
                    continue
                specs[spec.code] = _with_rule(
                    spec,
                    change.rule,
                    _expression(spec, change.rule),
                    {**current, **change.set},
                    when,
                    where,
                )
                causes.setdefault(spec.code, []).append(
                    {
                        "kind": "parameters",
                        "rule": change.rule,
                        "changes": [
                            {"name": k, "before": current[k], "after": v}
                            for k, v in change.set.items()
                        ],
                    }
                )
            elif isinstance(change, ReplaceRule):
                spec = known(change.programme, f"{where}.programme")
                if spec is None:
                    continue
                specs[spec.code] = _with_rule(
                    spec, change.rule, change.expression, change.parameters, when, where
                )
                causes.setdefault(spec.code, []).append(
                    {"kind": "rule", "rule": change.rule, "expression": change.expression}
                )
            elif isinstance(change, AddProgramme):
                if change.programme in specs:
                    errors.append(
                        {
                            "field": f"{where}.programme",
                            "message": f"programme '{change.programme}' already exists",
                        }
                    )
                    continue
                specs[change.programme] = engine.ProgrammeSpec(
                    code=change.programme,
                    name=change.name or change.programme,
                    eligibility=(
                        _check(change.eligibility, change.parameters, when, f"{where}.eligibility"),
                    ),
                    benefit=_check(change.benefit, change.parameters, when, f"{where}.benefit"),
                    priority=None,
                    per_year=engine.PAYMENTS_PER_YEAR[change.benefit_frequency],
                    budget_cap=change.budget_cap,
                    rule_ids={},
                )
                names[change.programme] = change.name or change.programme
                causes[change.programme] = [{"kind": "new"}]
            elif isinstance(change, RemoveProgramme):
                if known(change.programme, f"{where}.programme") is not None:
                    del specs[change.programme]
                    causes[change.programme] = [{"kind": "stopped"}]
            elif isinstance(change, MergeProgrammes):
                merged = [known(c, f"{where}.programmes") for c in change.programmes]
                if any(m is None for m in merged):
                    continue
                parts = [m for m in merged if m is not None]
                if change.eligibility is not None:
                    eligibility: tuple[CheckedRule, ...] = (
                        _check(change.eligibility, change.parameters, when, f"{where}.eligibility"),
                    )
                else:
                    eligibility = tuple(r for p in parts for r in p.eligibility)
                for p in parts:
                    del specs[p.code]
                    causes[p.code] = [{"kind": "merged_into", "into": change.into}]
                specs[change.into] = engine.ProgrammeSpec(
                    code=change.into,
                    name=change.name or change.into,
                    eligibility=eligibility,
                    benefit=_check(change.benefit, change.parameters, when, f"{where}.benefit"),
                    priority=None,
                    per_year=engine.PAYMENTS_PER_YEAR[change.benefit_frequency],
                    budget_cap=change.budget_cap,
                    rule_ids={},
                )
                names[change.into] = change.name or change.into
                causes[change.into] = [{"kind": "merges", "programmes": list(change.programmes)}]
            elif isinstance(change, BudgetCap):
                spec = known(change.programme, f"{where}.programme")
                if spec is None:
                    continue
                specs[spec.code] = dataclasses.replace(spec, budget_cap=change.cap)
                causes.setdefault(spec.code, []).append({"kind": "cap", "cap": change.cap})
        except ScenarioInvalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise ScenarioInvalid(
            f"scenario '{scenario.name}' has {len(errors)} problem(s): {errors[0]['message']}",
            errors,
        )
    return Side(list(specs.values()), causes, names)


def describe_reason(reason: Reason) -> str:
    """One reason a programme changed, in English (the web pages translate it)."""
    match reason["kind"]:
        case "parameters":
            described = ", ".join(
                f"{c['name']} from {c['before']} to {c['after']}" for c in reason["changes"]
            )
            return f"its {reason['rule']} parameter {described}"
        case "rule":
            return f"its {reason['rule']} rule becomes '{reason['expression']}'"
        case "new":
            return "it is a new programme"
        case "stopped":
            return "the programme is stopped"
        case "merged_into":
            return f"it is merged into {reason['into']}"
        case "merges":
            return f"it merges {', '.join(reason['programmes'])} into one programme with one rule"
        case "cap":
            cap = reason["cap"]
            return f"its budget gets {'no cap' if cap is None else f'a cap of {cap:,.0f} a year'}"
    raise ValueError(f"unknown reason {reason['kind']}")  # pragma: no cover


def _expression(spec: engine.ProgrammeSpec, kind: str) -> str:
    rule = {"eligibility": spec.eligibility[0], "benefit": spec.benefit, "priority": spec.priority}[
        kind
    ]
    if rule is None:
        raise ScenarioInvalid(
            f"programme '{spec.code}' has no {kind} rule in force",
            [{"field": "rule", "message": f"no {kind} rule in force for '{spec.code}'"}],
        )
    return rule.source


def _with_rule(
    spec: engine.ProgrammeSpec,
    kind: str,
    expression: str,
    parameters: dict[str, Any],
    when: date,
    where: str,
) -> engine.ProgrammeSpec:
    rule = _check(expression, parameters, when, where)
    if kind == "eligibility":
        return dataclasses.replace(spec, eligibility=(rule,))
    if kind == "benefit":
        return dataclasses.replace(spec, benefit=rule)
    return dataclasses.replace(spec, priority=rule)


# --- population ------------------------------------------------------------------------


def read_population(
    session: Session,
    as_of: date,
    sides: Sequence[Side],
    *,
    scope_paths: Sequence[str] | None = None,
    consumption: pl.DataFrame | None = None,
    area_level: int = 0,
    household_columns: Sequence[str] = (),
    person_columns: Sequence[str] = (),
) -> Population:
    """Read the registry once for every rule of ``sides``, with groups and flags.

    ``consumption`` (``household_id``, ``consumption_per_capita``), e.g. from a
    survey, replaces the registry's consumption where given.
    """
    household: set[str] = {"consumption_per_capita", "urban_rural", *household_columns}
    person: set[str] = {*PERSON_GROUP_COLUMNS, *person_columns}
    for side in sides:
        for spec in side.specs:
            for rule in (*spec.eligibility, spec.benefit, spec.priority):
                if rule is not None:
                    h, p = fields_read(rule.tree)
                    household |= h
                    person |= p
    households, persons = read_state(
        session.connection(), sorted(household), sorted(person), as_of, None, scope_paths
    )
    if consumption is not None:
        households = (
            households.join(
                consumption.select(
                    pl.col("household_id").cast(pl.Int64),
                    pl.col("consumption_per_capita").cast(pl.Float64).alias("_survey"),
                ),
                on="household_id",
                how="left",
            )
            .with_columns(
                pl.coalesce("_survey", "consumption_per_capita").alias("consumption_per_capita")
            )
            .drop("_survey")
        )
    areas = SimulationRepository(session).areas()
    built = build_population(as_of, None, area_level, households, persons, areas)
    active = persons.filter(pl.col("status").is_null() | (pl.col("status") == "active"))
    age = age_years(pl.col("birth_date"), as_of)
    wg = [pl.col(c).fill_null(0) >= 3 for c in PERSON_GROUP_COLUMNS if c.startswith("wg_")]
    flags = active.group_by("household_id").agg(
        (age < 18).any().alias("has_child"),
        ((age >= 18) & (age < 65)).any().alias("has_working_age"),
        (age >= 65).any().alias("has_elderly"),
        pl.any_horizontal(wg).any().alias("has_disabled"),
    )
    # The groups fill a missing urban/rural with 'unknown'; rules must see the stored null.
    raw = households.select("household_id", "urban_rural")
    hh = (
        built.households.drop("urban_rural")
        .join(raw, on="household_id", how="left")
        .join(flags, on="household_id", how="left")
    ).with_columns(pl.col(f).fill_null(False) for f in engine.LIFE_CYCLE.values())
    hh = (
        hh.with_columns(engine.ntile(hh, 10).alias("_d"), pl.lit(0, dtype=pl.Int64).alias(UNMET))
        .with_columns(
            pl.when(pl.col("_d").is_null())
            .then(pl.lit("unknown"))
            .otherwise(pl.format("D{}", pl.col("_d")))
            .alias("decile")
        )
        .drop("_d")
    )
    return Population(as_of, hh, built.persons)


# --- runs ------------------------------------------------------------------------------


def _periods(scenario: ScenarioIn) -> int:
    return 12 if scenario.consumption_period == "monthly" else 1


def evaluate(
    population: Population, side: Side, scenario: ScenarioIn
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Transfers and measures of one side over a population already read."""
    paid = engine.transfers(population.households, population.persons, side.specs, population.as_of)
    figures = engine.measures(
        population.households,
        paid,
        [s.code for s in side.specs],
        scenario.poverty_line,
        _periods(scenario),
    )
    return paid, figures


def run(
    session: Session,
    scenario: ScenarioIn,
    as_of: date | None = None,
    *,
    scope_paths: Sequence[str] | None = None,
    consumption: pl.DataFrame | None = None,
    with_households: bool = False,
) -> Result:
    """Evaluate baseline and scenario over the registry and report them side by side.

    Raises:
        ScenarioInvalid: The scenario names an unknown programme or parameter, or a
            rule that does not check (before any population is read).
    """
    when = as_of or scenario.baseline_date
    baseline = baseline_side(session, scenario.baseline_date)
    reform = apply_changes(baseline, scenario)
    population = read_population(
        session, when, [baseline, reform], scope_paths=scope_paths, consumption=consumption
    )
    base_paid, base = evaluate(population, baseline, scenario)
    reform_paid, figures = evaluate(population, reform, scenario)
    changes, changed = engine.winners_and_losers(population.households, base_paid, reform_paid)
    programme_changes = _programme_changes(base, figures, baseline, reform)
    largest = largest_changes(programme_changes)
    result: Result = {
        "scenario": scenario.name,
        "as_of": when.isoformat(),
        "baseline_date": scenario.baseline_date.isoformat(),
        "poverty_line": scenario.poverty_line,
        "households": population.households.height,
        "persons": int(population.households["size"].sum()),
        "base_rules": {s.code: s.rule_ids for s in baseline.specs},
        "baseline": base,
        "scenario_figures": figures,
        "programme_changes": programme_changes,
        "winners_and_losers": changes,
        "largest_changes": largest,
        "explanations": [explain_change(r) for r in largest],
    }
    if with_households:
        result["households_changed"] = changed.to_dicts()
    return result


def _programme_changes(
    base: dict[str, Any], figures: dict[str, Any], baseline: Side, reform: Side
) -> list[dict[str, Any]]:
    before = {p["programme"]: p for p in base["programmes"]}
    after = {p["programme"]: p for p in figures["programmes"]}
    empty = {"households": 0, "cost": 0.0}
    rows = []
    for code in dict.fromkeys([*before, *after]):
        b, a = before.get(code, empty), after.get(code, empty)
        rows.append(
            {
                "programme": code,
                "name": reform.names.get(code) or baseline.names.get(code, code),
                "households_before": b["households"],
                "households_after": a["households"],
                "cost_before": b["cost"],
                "cost_after": a["cost"],
                "cost_change": round(a["cost"] - b["cost"], 2),
                "reasons": reform.causes.get(code, []),
                "cause": ", and ".join(map(describe_reason, reform.causes.get(code, []))) or None,
            }
        )
    return rows


def largest_changes(rows: list[dict[str, Any]], top: int = 3) -> list[dict[str, Any]]:
    """The ``top`` programme changes (rows of ``programme_changes``) largest by annual cost."""
    moved = [r for r in rows if r["cost_change"] or r["households_after"] != r["households_before"]]
    return sorted(moved, key=lambda r: (-abs(r["cost_change"]), r["programme"]))[:top]


def explain_change(r: dict[str, Any]) -> str:
    """A programme change in words a minister can read (English; the web page translates)."""
    reach = r["households_after"] - r["households_before"]
    if r["households_after"] == 0:
        who = f"no longer reaches its {r['households_before']:,} households"
    elif r["households_before"] == 0:
        who = f"reaches {r['households_after']:,} households"
    elif reach:
        more = "more" if reach > 0 else "fewer"
        who = (
            f"reaches {abs(reach):,} {more} households "
            f"({r['households_after']:,} instead of {r['households_before']:,})"
        )
    else:
        who = f"reaches the same {r['households_after']:,} households"
    change = r["cost_change"]
    money = (
        f"costs {abs(change):,.0f} {'more' if change > 0 else 'less'} a year "
        f"({r['cost_after']:,.0f} instead of {r['cost_before']:,.0f})"
        if change
        else "costs the same"
    )
    cause = f", because {r['cause']}" if r["cause"] else ""
    return f"{r['name']} ({r['programme']}) {who} and {money}{cause}."


def run_stored(
    session: Session,
    name: str,
    version: int | None = None,
    as_of: date | None = None,
    *,
    refresh: bool = False,
) -> Result:
    """Run a stored scenario version; results are cached by (version, date, registry snapshot)."""
    from solidarity.simulation.models import SimulationResult

    row = stored_scenario(session, name, version)
    scenario = parse_scenario(row.definition)
    when = as_of or row.baseline_date
    repo = SimulationRepository(session)
    snapshot = repo.snapshot()
    cached = repo.cached(row.id, when, snapshot)
    if cached is not None and not refresh:
        return {**cached.result, "cached": True}
    result = {**run(session, scenario, when), "version": row.version, "snapshot": snapshot}
    if cached is None:
        repo.add(SimulationResult(scenario_id=row.id, as_of=when, snapshot=snapshot, result=result))
    else:
        cached.result = result
    return {**result, "cached": False}


def compare(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One row per scenario (and the common baseline first) with the headline figures."""
    rows = []
    if results:
        rows.append(_headline("baseline", results[0]["baseline"]))
    for r in results:
        rows.append(_headline(r["scenario"], r["scenario_figures"]))
    return rows


def _headline(name: str, figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "scenario": name,
        "total_cost": figures["total_cost"],
        "beneficiary_households": figures["beneficiary_households"],
        "coverage_of_poor": figures["targeting"]["coverage_of_poor"],
        "exclusion_error": figures["targeting"]["exclusion_error"],
        "inclusion_error": figures["targeting"]["inclusion_error"],
        "poverty_headcount": figures["poverty_after"]["headcount"],
        "poverty_gap": figures["poverty_after"]["gap"],
        "gini": figures["poverty_after"]["gini"],
        "incidence_q1": figures["incidence"][0]["share"],
    }
