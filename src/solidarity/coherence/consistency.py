"""Data consistency: definitions across programmes, missing data, and disagreement per field.

Disagreement compares each record of an outside beneficiary list with the
registry person it is linked to (through linkage): for each field, the share of
linked records whose value differs (both present). Missing-data rates are the
share of null values per field and source.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from solidarity.coherence.models import DataDefinition
from solidarity.coherence.repository import CoherenceRepository
from solidarity.coherence.schemas import ConsistencyOut, Rows
from solidarity.coherence.service import Context, rows

REGISTRY_FIELDS = ("sex", "birth_date", "relationship", "wg_seeing", "wg_walking")
COMPARED = ("birth_date", "sex", "given_name", "family_name", "area_code")


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def definitions(entries: list[DataDefinition]) -> Rows:
    """Per concept: each programme's definition, and whether they differ."""
    by_concept: dict[str, dict[str, str]] = {}
    for e in entries:
        by_concept.setdefault(e.concept, {})[e.programme_code] = e.definition
    out: Rows = []
    for concept, defs in sorted(by_concept.items()):
        variants = {_normal(d) for d in defs.values()}
        out.append(
            {
                "concept": concept,
                "programmes": dict(sorted(defs.items())),
                "variants": len(variants),
                "differs": len(variants) > 1,
            }
        )
    return out


def missing_rates(frame: pl.DataFrame, source: str, fields: tuple[str, ...]) -> pl.DataFrame:
    """Share of null (or empty) values of each field in ``frame``."""
    present = [f for f in fields if f in frame.columns]
    if frame.height == 0 or not present:
        return pl.DataFrame(schema={"source": pl.String, "field": pl.String, "missing": pl.Float64})
    blank = [
        (
            pl.col(f).is_null() | (pl.col(f).cast(pl.String).str.strip_chars() == "")
            if frame.schema[f] == pl.String
            else pl.col(f).is_null()
        )
        .mean()
        .alias(f)
        for f in present
    ]
    wide = frame.select(blank)
    return pl.DataFrame(
        {
            "source": [source] * len(present),
            "field": present,
            "missing": [float(wide[f][0]) for f in present],
        }
    )


def disagreement(
    listed: pl.DataFrame, links: pl.DataFrame, registry: pl.DataFrame, source: str
) -> pl.DataFrame:
    """Per field, the share of linked records whose list value differs from the registry's.

    Args:
        listed: The outside list with ``source_record_id`` and the fields of :data:`COMPARED`
            (as text; dates ISO).
        links: ``source``, ``source_record_id``, ``person_id`` (linkage's current links).
        registry: Registry persons with ``person_id`` and the same fields.
        source: The list's source name in ``links``.
    """
    pairs = (
        links.filter(pl.col("source") == source)
        .join(listed, on="source_record_id", how="inner")
        .join(registry, on="person_id", how="inner", suffix="_registry")
    )
    out = []
    for f in COMPARED:
        if f not in listed.columns or f"{f}_registry" not in pairs.columns:
            continue
        a = pl.col(f).cast(pl.String).str.to_lowercase().str.strip_chars()
        b = pl.col(f"{f}_registry").cast(pl.String).str.to_lowercase().str.strip_chars()
        both = pairs.filter(a.is_not_null() & b.is_not_null() & (a != "") & (b != ""))
        differ = both.filter(a != b).height
        out.append(
            {
                "source": source,
                "field": f,
                "compared": both.height,
                "differ": differ,
                "disagreement": differ / both.height if both.height else None,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "source": pl.String,
            "field": pl.String,
            "compared": pl.Int64,
            "differ": pl.Int64,
            "disagreement": pl.Float64,
        },
    )


def linked_disagreement(levels: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """Per source and field, the share of linked records that do not agree exactly.

    Args:
        levels: linkage's ``link_agreement_levels``: ``source``, ``person_id``,
            ``comparison``, ``gamma``, ``top``.
        persons: The registry persons in scope (``person_id``); links to others are left out.
    """
    compared = levels.join(persons.select("person_id"), on="person_id", how="semi").filter(
        pl.col("gamma") >= 0
    )
    return (
        compared.group_by("source", "comparison")
        .agg(
            pl.len().cast(pl.Int64).alias("compared"),
            (pl.col("gamma") < pl.col("top")).sum().cast(pl.Int64).alias("differ"),
        )
        .with_columns((pl.col("differ") / pl.col("compared")).alias("disagreement"))
        .rename({"comparison": "field"})
        .sort("source", "field")
        .select("source", "field", "compared", "differ", "disagreement")
    )


def consistency_of(ctx: Context, lists: Mapping[str, pl.DataFrame] | None = None) -> ConsistencyOut:
    """Definitions, missing data, and disagreement between the registry and linked lists.

    Disagreement always comes from the agreement linkage recorded for every current
    link (a field disagrees when the link did not reach that comparison's exact
    level); lists given in full add missing-data rates and raw-value comparisons.
    """
    from solidarity.linkage import service as linkage

    entries = list(CoherenceRepository(ctx.session).all(DataDefinition, "concept"))
    persons = ctx.population.persons
    missing = [missing_rates(persons, "registry", REGISTRY_FIELDS)]
    disagreements = [linked_disagreement(linkage.link_agreement_levels(ctx.session), persons)]
    if lists:
        links = linkage.linked_persons(ctx.session)
        registry = persons.join(
            ctx.population.households.select("household_id", pl.col("area").alias("area_code")),
            on="household_id",
            how="left",
        ).with_columns(pl.col("birth_date").cast(pl.String))
        for source, frame in lists.items():
            missing.append(missing_rates(frame, source, COMPARED))
            disagreements.append(disagreement(frame, links, registry, source))
    return ConsistencyOut(
        scope=ctx.scope(),
        disagreement=rows(pl.concat(disagreements)) if disagreements else [],
        definitions=definitions(entries),
        missing=rows(pl.concat(missing)),
    )
