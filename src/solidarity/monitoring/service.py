"""Indicators as data: define, version, compute, snapshot and reproduce.

An indicator's numerator, denominator and filter are rules of the rule language,
checked against the vocabulary of its unit (households, persons, payments,
grievances) when it is saved, and compiled to Polars to run over the whole unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.monitoring import repository as repo
from solidarity.monitoring.errors import IndicatorInvalid, UnknownIndicator
from solidarity.monitoring.library import STANDARD
from solidarity.monitoring.models import IndicatorSnapshot, IndicatorVersion
from solidarity.monitoring.repository import MonitoringRepository
from solidarity.monitoring.schemas import IndicatorDefinition, IndicatorValue
from solidarity.monitoring.units import Base, Unit, load_unit, read_base, vocabulary_of
from solidarity.programs.rules import fields_read
from solidarity.rules import CheckedRule, RuleError, check, to_polars_all

SCALE = {"percent": 100.0}


def parse_definition(data: Any) -> IndicatorDefinition:
    """Validate an indicator mapping.

    Raises:
        IndicatorInvalid: A field is missing or malformed.
    """
    try:
        return IndicatorDefinition.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise IndicatorInvalid("the indicator definition is not valid", errors) from exc


def compile_definition(definition: IndicatorDefinition) -> dict[str, CheckedRule]:
    """Check numerator, denominator and filter against the unit's vocabulary.

    Raises:
        IndicatorInvalid: Unknown field (with the closest name), type error, a
            non-yes/no filter, or an unknown disaggregation.
    """
    vocabulary, groups = vocabulary_of(definition.unit_of_analysis)
    rules: dict[str, CheckedRule] = {}
    errors: list[dict[str, Any]] = []
    parts = {"numerator": definition.numerator, "denominator": definition.denominator}
    if definition.filter:
        parts["filter"] = definition.filter
    for part, text in parts.items():
        try:
            rule = check(text, "household", parameters=definition.parameters, vocabulary=vocabulary)
        except RuleError as exc:
            errors.append({"field": part, "message": exc.detail})
            continue
        wanted = ("boolean",) if part == "filter" else ("number", "boolean")
        if rule.type not in (*wanted, "null", "any"):
            errors.append(
                {"field": part, "message": f"gives a {rule.type}, not a {' or '.join(wanted)}"}
            )
            continue
        rules[part] = rule
    unknown = [g for g in definition.disaggregations if g not in groups]
    if unknown:
        errors.append(
            {
                "field": "disaggregations",
                "message": f"unknown {', '.join(unknown)} (a {definition.unit_of_analysis} "
                f"indicator can be split by {', '.join(groups)})",
            }
        )
    if errors:
        raise IndicatorInvalid(
            f"indicator '{definition.code}': {errors[0]['field']}: {errors[0]['message']}", errors
        )
    return rules


def save_indicator(
    session: Session, definition: IndicatorDefinition, actor: str
) -> IndicatorVersion:
    """Store the definition as a new version (unchanged definitions are not duplicated)."""
    compile_definition(definition)
    store = MonitoringRepository(session)
    latest = store.latest(definition.code)
    data = definition.model_dump(mode="json")
    if latest is not None and latest.definition == data:
        return latest
    return store.add(  # type: ignore[no-any-return]
        IndicatorVersion(
            code=definition.code,
            version=(latest.version + 1) if latest else 1,
            name=definition.name,
            definition=data,
            created_by=actor,
            updated_by=actor,
        )
    )


def load_standard(session: Session, actor: str) -> list[IndicatorVersion]:
    """Store the standard library (idempotent)."""
    return [save_indicator(session, parse_definition(d), actor) for d in STANDARD]


def indicators(session: Session) -> list[IndicatorVersion]:
    """The newest version of every indicator."""
    return MonitoringRepository(session).current()


def indicator(session: Session, code: str, version: int | None = None) -> IndicatorVersion:
    """One indicator version (the newest by default).

    Raises:
        UnknownIndicator: No such indicator or version.
    """
    store = MonitoringRepository(session)
    row = store.latest(code) if version is None else store.version(code, version)
    if row is None:
        raise UnknownIndicator(
            f"no indicator '{code}'" + ("" if version is None else f" version {version}")
        )
    return row


def _columns(rules: dict[str, CheckedRule]) -> list[str]:
    names: set[str] = set()
    for rule in rules.values():
        h, p = fields_read(rule.tree)
        names |= h | p
    return sorted(names)


def _evaluate(unit: Unit, rules: dict[str, CheckedRule], as_of: date) -> pl.DataFrame:
    plan = to_polars_all({f"_{part}": rule for part, rule in rules.items()}, as_of=as_of)
    frame = plan.apply(unit.frame, members=unit.members)
    keep = pl.col("_filter").fill_null(False) if "filter" in rules else pl.lit(True)
    return (
        frame.filter(keep)
        .with_columns(
            pl.col("_numerator").cast(pl.Float64).fill_null(0.0),
            pl.col("_denominator").cast(pl.Float64).fill_null(0.0),
        )
        .collect()
    )


def compute(
    session: Session,
    row: IndicatorVersion,
    as_of: date,
    *,
    scope: Sequence[str] | None = None,
    units: dict[str, Unit] | None = None,
    base: Base | None = None,
) -> IndicatorValue:
    """Compute one indicator version as of a date; never a silent zero.

    A zero denominator, or a unit without data, gives ``not_computable`` with the reason.
    """
    definition = parse_definition(row.definition)
    rules = compile_definition(definition)
    name = definition.unit_of_analysis
    cache = units if units is not None else {}
    if name not in cache:
        cache[name] = load_unit(session, name, as_of, _all_columns(session, name), scope, base=base)
    unit = cache[name]
    target = definition.targets.get(as_of.year)

    def missing(reason: str) -> IndicatorValue:
        return IndicatorValue(
            code=row.code,
            version=row.version,
            as_of=as_of,
            status="not_computable",
            value=None,
            numerator=None,
            denominator=None,
            reason=reason,
            target=target,
        )

    if unit.missing:
        return missing(unit.missing)
    if unit.frame.height == 0:
        return missing(f"no {name} records in scope on {as_of.isoformat()}")
    counted = _evaluate(unit, rules, as_of)
    numerator = float(counted["_numerator"].sum())
    denominator = float(counted["_denominator"].sum())
    if denominator == 0:
        return IndicatorValue(
            code=row.code,
            version=row.version,
            as_of=as_of,
            status="not_computable",
            value=None,
            numerator=numerator,
            denominator=0.0,
            target=target,
            reason=f"the denominator is zero: no {name} records count toward it "
            f"({counted.height} pass the filter)",
        )
    scale = SCALE.get(definition.unit, 1.0)
    split: list[dict[str, Any]] = []
    for group in definition.disaggregations:
        parts = (
            counted.group_by(pl.col(group).cast(pl.String).fill_null("unknown").alias("group"))
            .agg(
                pl.col("_numerator").sum().alias("numerator"),
                pl.col("_denominator").sum().alias("denominator"),
            )
            .sort("group")
        )
        split.extend(
            {
                "by": group,
                "group": r["group"],
                "numerator": r["numerator"],
                "denominator": r["denominator"],
                "value": round(scale * r["numerator"] / r["denominator"], 6)
                if r["denominator"]
                else None,
            }
            for r in parts.iter_rows(named=True)
        )
    return IndicatorValue(
        code=row.code,
        version=row.version,
        as_of=as_of,
        status="computed",
        value=round(scale * numerator / denominator, 6),
        numerator=numerator,
        denominator=denominator,
        target=target,
        disaggregation=split,
    )


def _all_columns(session: Session, unit: str) -> list[str]:
    # One read per unit serves every indicator of that unit.
    names: set[str] = set()
    for row in MonitoringRepository(session).current():
        definition = parse_definition(row.definition)
        if definition.unit_of_analysis == unit:
            names |= set(_columns(compile_definition(definition)))
    return sorted(names)


def compute_all(
    session: Session, as_of: date, scope: Sequence[str] | None = None
) -> list[IndicatorValue]:
    """Every indicator's newest version as of a date (each unit read once)."""
    units: dict[str, Unit] = {}
    rows = indicators(session)
    kinds = {parse_definition(r.definition).unit_of_analysis for r in rows}
    base = None
    if kinds & {"household", "person", "journey"}:
        # One registry read serves the household, person and journey units.
        columns = sorted(
            set(_all_columns(session, "household")) | set(_all_columns(session, "person"))
        )
        base = read_base(session, as_of, columns, scope)
    return [compute(session, row, as_of, scope=scope, units=units, base=base) for row in rows]


def snapshot(session: Session, period: str, as_of: date, actor: str) -> list[IndicatorSnapshot]:
    """Compute every indicator for a period and store the values with their versions."""
    version = repo.data_version(session)
    store = MonitoringRepository(session)
    rows = []
    values = compute_all(session, as_of)
    feed_results_framework(session, values, period, actor)
    for value in values:
        rows.append(
            store.add(
                IndicatorSnapshot(
                    period=period,
                    as_of=as_of,
                    indicator_code=value.code,
                    indicator_version=value.version,
                    value=value.value,
                    numerator=value.numerator,
                    denominator=value.denominator,
                    status=value.status,
                    reason=value.reason,
                    disaggregation=value.disaggregation,
                    data_version=version,
                    created_by=actor,
                    updated_by=actor,
                )
            )
        )
    return rows


def feed_results_framework(
    session: Session, values: Sequence[IndicatorValue], period: str, actor: str
) -> list[str]:
    """Enter computed values into the coherence results framework where linked.

    An indicator whose ``coherence_indicator`` names an indicator declared there gets
    the value as an observation on the snapshot date; undeclared links are skipped.

    Returns:
        The coherence indicator codes that received a value.
    """
    from solidarity.coherence import plan
    from solidarity.coherence.errors import UnknownRecord
    from solidarity.coherence.schemas import IndicatorValueIn

    fed = []
    for value in values:
        link = parse_definition(indicator(session, value.code, value.version).definition)
        if value.status != "computed" or value.value is None or not link.coherence_indicator:
            continue
        note = f"monitoring snapshot {period}: {value.code} version {value.version}"
        try:
            plan.add_value(
                session,
                link.coherence_indicator,
                IndicatorValueIn(observed_on=value.as_of, value=value.value, note=note),
                actor=actor,
            )
        except UnknownRecord:
            continue
        fed.append(link.coherence_indicator)
    return fed


def reproduce(session: Session, snapshot_id: int) -> tuple[IndicatorSnapshot, IndicatorValue, bool]:
    """Recompute a stored snapshot value from its indicator version and date.

    Returns:
        The snapshot, the recomputed value, and whether the data version is unchanged
        (then the values must match).

    Raises:
        UnknownIndicator: No such snapshot.
    """
    store = MonitoringRepository(session)
    found = store.snapshot(snapshot_id)
    if found is None:
        raise UnknownIndicator(f"no snapshot {snapshot_id}")
    row = indicator(session, found.indicator_code, found.indicator_version)
    value = compute(session, row, found.as_of)
    return found, value, repo.data_version(session) == found.data_version


def trends(session: Session) -> list[dict[str, Any]]:
    """Each indicator's snapshot values over time with its baseline and targets."""
    store = MonitoringRepository(session)
    out = []
    for row in indicators(session):
        definition = parse_definition(row.definition)
        points = [
            {
                "period": s.period,
                "as_of": s.as_of.isoformat(),
                "value": s.value,
                "status": s.status,
                "reason": s.reason,
                "target": definition.targets.get(s.as_of.year),
            }
            for s in store.snapshots(code=row.code)
        ]
        out.append(
            {
                "code": row.code,
                "name": row.name,
                "version": row.version,
                "unit": definition.unit,
                "results_level": definition.results_level,
                "coherence_indicator": definition.coherence_indicator,
                "baseline_value": definition.baseline_value,
                "targets": {str(k): v for k, v in definition.targets.items()},
                "points": points,
            }
        )
    return out


def dashboard(session: Session) -> list[dict[str, Any]]:
    """Each indicator's trend (as :func:`trends`) with its definition and latest snapshot.

    ``latest`` is the newest stored snapshot value (``None`` before the first
    snapshot), with its status, the reason when not computable, and its
    disaggregation.
    """
    store = MonitoringRepository(session)
    out = []
    for item in trends(session):
        definition = parse_definition(indicator(session, item["code"], item["version"]).definition)
        stored = store.snapshots(code=item["code"])
        latest = stored[-1] if stored else None
        out.append(
            {
                **item,
                "frequency": definition.frequency,
                "owner_agency": definition.owner_agency,
                "unit_of_analysis": definition.unit_of_analysis,
                "disaggregations": definition.disaggregations,
                "source_definition": definition.source_definition,
                "latest": None
                if latest is None
                else {
                    "period": latest.period,
                    "as_of": latest.as_of.isoformat(),
                    "indicator_version": latest.indicator_version,
                    "value": latest.value,
                    "numerator": latest.numerator,
                    "denominator": latest.denominator,
                    "status": latest.status,
                    "reason": latest.reason,
                    "target": definition.targets.get(latest.as_of.year),
                    "data_version": latest.data_version,
                    "disaggregation": list(latest.disaggregation or []),
                },
            }
        )
    return out
