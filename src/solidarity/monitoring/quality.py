"""Data quality assurance: five dimensions, each a set of rules in the rule language.

Every check is a yes/no rule a good record satisfies, at household or person level,
compiled to Polars and run over the whole registry as of a date. Scores (share of
records passing) are given per dimension and per field, area, source and
enumerator (the user who last changed the record); failing records are listed for
follow-up. :func:`consistency_feed` gives the coherence data-consistency
diagnostic its per-field completeness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from solidarity.monitoring import repository as repo
from solidarity.monitoring.errors import IndicatorInvalid
from solidarity.monitoring.units import Base, Unit, load_unit, read_base
from solidarity.programs.rules import fields_read
from solidarity.rules import RuleError, check, to_polars_all

DIMENSIONS = ("completeness", "validity", "consistency", "uniqueness", "timeliness")
GROUPS = ("field", "area", "source", "enumerator")


@dataclass(frozen=True)
class QualityCheck:
    """A rule a good record satisfies."""

    name: str
    dimension: str
    level: str  # household | person
    field: str
    expression: str
    parameters: tuple[tuple[str, Any], ...] = ()
    #: The data quality assurance plan: the share of records that must pass, who
    #: follows failures up and how often the check is run.
    threshold: float = 0.95
    owner: str = "data steward"
    frequency: str = "monthly"


CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck("birth date given", "completeness", "person", "birth_date", "birth_date != null"),
    QualityCheck("sex given", "completeness", "person", "sex", "sex != null"),
    QualityCheck(
        "relationship given", "completeness", "person", "relationship", "relationship != null"
    ),
    QualityCheck(
        "settlement type given", "completeness", "household", "urban_rural", "urban_rural != null"
    ),
    QualityCheck(
        "consumption given",
        "completeness",
        "household",
        "consumption_per_capita",
        "consumption_per_capita != null",
    ),
    QualityCheck(
        "birth date not in the future",
        "validity",
        "person",
        "birth_date",
        "birth_date == null || birth_date <= today()",
    ),
    QualityCheck(
        "plausible age", "validity", "person", "birth_date", "birth_date == null || age <= 120"
    ),
    QualityCheck(
        "consumption not negative",
        "validity",
        "household",
        "consumption_per_capita",
        "consumption_per_capita == null || consumption_per_capita >= 0",
    ),
    QualityCheck(
        "head at least 12",
        "consistency",
        "person",
        "relationship",
        "!(relationship == 'head' && age < 12)",
    ),
    QualityCheck(
        "pregnancy only for women",
        "consistency",
        "person",
        "pregnant",
        "!(coalesce(pregnant, false) && sex == 'male')",
    ),
    QualityCheck(
        "exactly one head",
        "consistency",
        "household",
        "relationship",
        "count(members, m.is_head) == 1",
    ),
    QualityCheck("no duplicate person", "uniqueness", "person", "identity", "!duplicate"),
    QualityCheck(
        "updated within a year",
        "timeliness",
        "household",
        "valid_from",
        "days_since_update <= params.max_days",
        (("max_days", 365),),
    ),
)


def _compiled(unit: Unit, checks: Sequence[QualityCheck]) -> list[tuple[QualityCheck, Any]]:
    out = []
    for c in checks:
        try:
            rule = check(
                c.expression, "household", parameters=dict(c.parameters), vocabulary=unit.vocabulary
            )
        except RuleError as exc:
            raise IndicatorInvalid(
                f"quality check '{c.name}': {exc.detail}",
                [{"field": c.name, "message": exc.detail}],
            ) from exc
        out.append((c, rule))
    return out


def _fields(checks: Sequence[QualityCheck]) -> list[str]:
    from solidarity.monitoring.units import vocabulary_of

    needed: set[str] = set()
    for c in checks:
        vocabulary, _ = vocabulary_of(c.level)
        rule = check(
            c.expression, "household", parameters=dict(c.parameters), vocabulary=vocabulary
        )
        h, p = fields_read(rule.tree)
        needed |= h | p
    return sorted(needed)


def _results(
    session: Session,
    level: str,
    checks: Sequence[QualityCheck],
    as_of: date,
    scope: Sequence[str] | None,
    base: Base,
) -> pl.DataFrame:
    """One row per (record, check): ``passed`` and the record's groups."""
    unit = load_unit(session, level, as_of, _fields(checks), scope, base=base)
    key = "household_id" if level == "household" else "person_id"
    households_src, persons_src = repo.record_sources(session.connection())
    sources = households_src if level == "household" else persons_src
    frame = unit.frame.join(sources, on=key, how="left")
    compiled = _compiled(unit, checks)
    plan = to_polars_all({f"_c{i}": rule for i, (_, rule) in enumerate(compiled)}, as_of=as_of)
    done = plan.apply(frame, members=unit.members).collect()
    enumerator = pl.col("changed_by") if "changed_by" in done.columns else pl.lit(None)
    parts = [
        done.select(
            pl.lit(level).alias("level"),
            pl.col(key).alias("record_id"),
            "household_id",
            pl.col("area").cast(pl.String),
            pl.col("source").fill_null("unknown").alias("source"),
            enumerator.cast(pl.String).fill_null("unknown").alias("enumerator"),
            pl.lit(c.name).alias("check"),
            pl.lit(c.dimension).alias("dimension"),
            pl.lit(c.field).alias("field"),
            pl.col(f"_c{i}").fill_null(False).alias("passed"),
        )
        for i, (c, _) in enumerate(compiled)
    ]
    return pl.concat(parts) if parts else pl.DataFrame()


def assess(
    session: Session,
    as_of: date,
    *,
    scope: Sequence[str] | None = None,
    checks: Sequence[QualityCheck] = CHECKS,
    failing_limit: int = 1000,
    failing_offset: int = 0,
    failing_where: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Scores per dimension and per field, area, source and enumerator; failing records.

    A score is the share of (record, check) pairs passing; with no records it is
    ``None`` (not computable), never zero. Failing records are listed from
    ``failing_offset``, at most ``failing_limit``, keeping those whose columns
    (``dimension``, ``check``, ``area``, ``source``, ``enumerator``) equal the
    values of ``failing_where``; ``failing_matching`` counts them.
    """
    # One registry read serves both levels.
    base = read_base(session, as_of, _fields(checks), scope)
    frames = [
        _results(session, level, [c for c in checks if c.level == level], as_of, scope, base)
        for level in ("household", "person")
        if any(c.level == level for c in checks)
    ]
    results = pl.concat([f for f in frames if f.height]) if any(f.height for f in frames) else None
    if results is None:
        return {
            "as_of": as_of.isoformat(),
            "overall": None,
            "scores": [],
            "failing": [],
            "reason": "no records in scope",
        }

    def score(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
        return (
            frame.group_by(by)
            .agg(pl.len().alias("checked"), (~pl.col("passed")).sum().alias("failed"))
            .with_columns(
                ((pl.col("checked") - pl.col("failed")) / pl.col("checked")).round(6).alias("score")
            )
            .sort(by)
        )

    scores: list[dict[str, Any]] = []
    for row in score(results, ["dimension"]).iter_rows(named=True):
        scores.append(
            {
                "by": "dimension",
                "group": row["dimension"],
                **_nums(row),
                "dimension": row["dimension"],
            }
        )
    for group in GROUPS:
        for row in score(results, ["dimension", group]).iter_rows(named=True):
            scores.append(
                {"by": group, "group": str(row[group]), **_nums(row), "dimension": row["dimension"]}
            )
    failing = results.filter(~pl.col("passed")).sort("level", "record_id", "check")
    matching = failing
    for column, wanted in (failing_where or {}).items():
        if column in ("dimension", "check", "area", "source", "enumerator", "field") and wanted:
            matching = matching.filter(pl.col(column) == wanted)
    passed = int(results["passed"].sum())
    return {
        "as_of": as_of.isoformat(),
        "overall": round(passed / results.height, 6),
        "checked": results.height,
        "failed": results.height - passed,
        "scores": scores,
        "failing_total": failing.height,
        "failing_matching": matching.height,
        "failing": matching.drop("passed").slice(failing_offset, failing_limit).to_dicts(),
    }


def _nums(row: dict[str, Any]) -> dict[str, Any]:
    return {"checked": row["checked"], "failed": row["failed"], "score": row["score"]}


def consistency_feed(report: dict[str, Any]) -> dict[str, float]:
    """Missing-data share per field (completeness), in the coherence diagnostic's terms."""
    return {
        s["group"]: round(s["failed"] / s["checked"], 6)
        for s in report["scores"]
        if s["by"] == "field" and s["dimension"] == "completeness" and s["checked"]
    }


def worst(report: dict[str, Any], by: str, top: int | None = None) -> list[dict[str, Any]]:
    """Groups of ``by`` (field, area, source, enumerator) over all dimensions, worst first."""
    totals: dict[str, list[int]] = {}
    for s in report.get("scores", []):
        if s["by"] == by:
            entry = totals.setdefault(s["group"], [0, 0])
            entry[0] += int(s["checked"])
            entry[1] += int(s["failed"])
    rows = [
        {
            "group": group,
            "checked": checked,
            "failed": failed,
            "score": round((checked - failed) / checked, 6) if checked else None,
        }
        for group, (checked, failed) in totals.items()
    ]
    rows.sort(key=lambda r: (r["score"] if r["score"] is not None else 2.0, r["group"]))
    return rows[:top] if top is not None else rows


def plan(checks: Sequence[QualityCheck] = CHECKS) -> list[dict[str, Any]]:
    """The data quality assurance plan: each check with its rule, threshold, owner, frequency."""
    return [
        {
            "dimension": c.dimension,
            "check": c.name,
            "level": c.level,
            "field": c.field,
            "rule": c.expression,
            "parameters": ", ".join(f"{k} = {v}" for k, v in c.parameters),
            "threshold": c.threshold,
            "owner": c.owner,
            "frequency": c.frequency,
        }
        for c in sorted(checks, key=lambda c: (DIMENSIONS.index(c.dimension), c.name))
    ]


def plan_html(rows: list[dict[str, Any]]) -> str:
    """The plan as a self-contained HTML document (also the source of its PDF)."""
    import html

    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {}))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows
    )
    style = (
        "body{font-family:sans-serif;font-size:11px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    )
    intro = (
        "<h1>Data quality assurance plan</h1><p>Each check is a rule of the rule language a "
        "good record satisfies. A check is met when the share of records passing it reaches "
        "its threshold; failing records go to the owner for follow-up at the given frequency."
        "</p>"
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Data quality "
        f"assurance plan</title><style>{style}</style></head><body>{intro}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
