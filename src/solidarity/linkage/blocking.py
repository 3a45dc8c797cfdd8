"""Blocking: which pairs of records are compared at all.

Rules are lists of canonical columns that must be equal. Candidate rules are
checked against the data before anything heavy runs: a rule whose columns are
mostly empty is skipped, and the number of comparisons each rule generates is
counted exactly from block sizes in Polars (no pairs are built). A rule above
the configured limit is refused: automatic candidates are dropped with the
reason reported, and a rule the steward wrote raises :class:`BlockingRuleRefused`.

Because every rule is an equality of columns, each record has one *blocking
key* per rule; the intake check looks keys up in an indexed table instead of
rescanning the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import polars as pl

from solidarity.linkage.config import BlockingConfig
from solidarity.linkage.errors import BlockingRuleRefused, LinkageInputRefused
from solidarity.linkage.features import CANONICAL

#: Candidate rules, most specific first. Together they let a pair through when any
#: one of names, birth date, place, identifier or phone survived intact.
CANDIDATE_RULES: tuple[tuple[str, ...], ...] = (
    ("national_id",),
    ("phone",),
    ("name_set_key", "birth_year"),
    ("family_key", "birth_date"),
    ("given_key", "birth_date"),
    ("birth_date", "locality"),
    ("name_set_key", "locality"),
    ("given_key", "family_key", "district"),
    ("given_first", "birth_year", "district"),
)

#: Rules used to train m probabilities by expectation maximisation. The first
#: leaves names, place, sex and identifiers free to be estimated, the second
#: leaves birth dates free. Each names columns the comparisons it must not
#: train use themselves (``given_key``, not ``name_set_key``), so Splink holds
#: those comparisons fixed in that session instead of learning "names agree"
#: from a block built on agreeing names.
TRAINING_RULES: tuple[tuple[str, ...], ...] = (
    ("birth_date",),
    ("given_key", "family_key"),
    ("given_key", "family_key", "locality"),
    ("birth_year", "locality"),
)

#: Exact agreement used to estimate how likely two random records are to match.
DETERMINISTIC_RULES: tuple[tuple[str, ...], ...] = (
    ("given_name", "family_name", "birth_date"),
    ("national_id",),
)


@dataclass(frozen=True)
class RuleCheck:
    """The outcome of checking one rule against the data."""

    columns: tuple[str, ...]
    comparisons: int
    accepted: bool
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        data = asdict(self)
        data["columns"] = list(self.columns)
        return data


def rule_name(columns: Sequence[str]) -> str:
    """A readable, stable name of a rule: its columns joined by ``+``."""
    return "+".join(columns)


def rule_sql(columns: Sequence[str], *, exclude_same_household: bool) -> str:
    """The Splink SQL of a rule, optionally leaving out pairs from one household."""
    # Unquoted: in Spark SQL a double-quoted name is a string literal. The columns are
    # ours (lower-case identifiers), never user text.
    parts = [f"l.{c} = r.{c}" for c in columns]
    if exclude_same_household:
        parts.append("(l.household_id IS NULL OR l.household_id <> r.household_id)")
    return " AND ".join(parts)


def key_expr(columns: Sequence[str]) -> pl.Expr:
    """The blocking key of each record for one rule (null when a column is null)."""
    values = [pl.col(c).cast(pl.String) for c in columns]
    return pl.concat_str([pl.lit(rule_name(columns)), *values], separator="\x1f")


def count_comparisons(
    left: pl.DataFrame, columns: Sequence[str], right: pl.DataFrame | None = None
) -> int:
    """Exact number of pairs a rule generates (within ``left``, or between left and right)."""
    cols = list(columns)
    sizes_l = left.select(cols).drop_nulls().group_by(cols).len("n_l")
    if right is None:
        total = sizes_l.select((pl.col("n_l").cast(pl.Int64) * (pl.col("n_l") - 1) // 2).sum())
        return int(total.item() or 0)
    sizes_r = right.select(cols).drop_nulls().group_by(cols).len("n_r")
    joined = sizes_l.join(sizes_r, on=cols, how="inner")
    return int(joined.select((pl.col("n_l").cast(pl.Int64) * pl.col("n_r")).sum()).item() or 0)


def _usable(columns: Sequence[str], fill: dict[str, float], min_fill: float) -> str:
    for c in columns:
        if c not in CANONICAL:
            return f"unknown column {c!r}"
        if fill.get(c, 0.0) < min_fill:
            return f"column {c!r} is filled for only {fill.get(c, 0.0):.0%} of records"
    return ""


def choose_rules(
    left: pl.DataFrame,
    fill: dict[str, float],
    config: BlockingConfig,
    right: pl.DataFrame | None = None,
) -> list[RuleCheck]:
    """Check the steward's rules (or the candidates) and return every check made.

    Raises:
        BlockingRuleRefused: A rule the steward wrote would exceed the limit.
        LinkageInputRefused: A steward's rule names an unknown or empty column, or no
            rule is usable at all.
    """
    own = config.rules is not None
    rules = [tuple(r) for r in config.rules] if config.rules is not None else CANDIDATE_RULES
    checks: list[RuleCheck] = []
    total = 0
    for columns in rules:
        problem = _usable(columns, fill, config.min_fill)
        if problem:
            if own:
                raise LinkageInputRefused(f"blocking rule {rule_name(columns)} refused: {problem}")
            checks.append(RuleCheck(columns, 0, False, problem))
            continue
        n = count_comparisons(left, columns, right)
        limit = config.max_comparisons_per_rule
        if n > limit:
            reason = f"would generate {n:,} comparisons (limit {limit:,})"
            if own:
                raise BlockingRuleRefused(
                    f"blocking rule {rule_name(columns)} {reason}; make it more specific "
                    "or raise blocking.max_comparisons_per_rule",
                    rule=rule_name(columns),
                    comparisons=n,
                    limit=limit,
                )
            checks.append(RuleCheck(columns, n, False, reason))
            continue
        if total + n > config.max_comparisons_total:
            reason = f"the rules before it already reach {total:,} comparisons"
            if own:
                raise BlockingRuleRefused(
                    f"blocking rules together exceed {config.max_comparisons_total:,} "
                    f"comparisons at {rule_name(columns)}",
                    rule=rule_name(columns),
                    comparisons=total + n,
                    limit=config.max_comparisons_total,
                )
            checks.append(RuleCheck(columns, n, False, reason))
            continue
        total += n
        checks.append(RuleCheck(columns, n, True))
    if not any(c.accepted for c in checks):
        raise LinkageInputRefused(
            "no blocking rule is usable on this data: "
            + "; ".join(f"{rule_name(c.columns)}: {c.reason}" for c in checks)
        )
    return checks


def usable_training_rules(
    frame: pl.DataFrame, fill: dict[str, float], min_fill: float, max_pairs: int
) -> list[tuple[str, ...]]:
    """Training rules whose columns are filled; explosive ones are still usable (EM samples)."""
    return [r for r in TRAINING_RULES if not _usable(r, fill, min_fill)]


def blocking_keys(frame: pl.DataFrame, rules: Sequence[Sequence[str]]) -> pl.DataFrame:
    """``unique_id`` and ``key`` for each record and rule (records with a null part skipped)."""
    parts = [
        frame.select(pl.col("unique_id"), key_expr(cols).alias("key")).drop_nulls("key")
        for cols in rules
    ]
    if not parts:
        return pl.DataFrame(schema={"unique_id": pl.Int64, "key": pl.String})
    return pl.concat(parts).unique()
