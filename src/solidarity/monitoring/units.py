"""The records indicators count: households, persons, payments, journeys, grievances.

Each unit is one Polars frame read in bulk, with a vocabulary of the fields an
indicator's rules may use, so numerators and denominators are ordinary rules of
the rule language, compiled to Polars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from sqlalchemy.orm import Session

from solidarity.coherence.population import age_years
from solidarity.monitoring import repository as repo
from solidarity.rules import Vocabulary, default_vocabulary
from solidarity.rules.vocabulary import FieldInfo
from solidarity.simulation.service import read_population


@dataclass(frozen=True)
class Unit:
    """One unit's records, the persons behind them (households only) and its vocabulary."""

    name: str
    frame: pl.DataFrame
    members: pl.DataFrame | None
    vocabulary: Vocabulary
    groups: tuple[str, ...]
    missing: str | None = None  # why the unit has no data here


def _field(name: str, kind: str, label: str) -> FieldInfo:
    return FieldInfo(name, kind, label)  # type: ignore[arg-type]


DERIVED_HOUSEHOLD = {
    "programmes": _field("programmes", "number", "Programmes the household is enrolled in"),
    "transfers": _field("transfers", "number", "Payments received in the last 12 months"),
    "quintile": _field("quintile", "number", "Consumption quintile (1 poorest)"),
    "days_since_update": _field("days_since_update", "number", "Days since the record changed"),
}
DERIVED_PERSON = {
    "age": _field("age", "number", "Age in whole years"),
    "disability": _field("disability", "boolean", "Has a disability"),
    "covered": _field("covered", "boolean", "Lives in a household enrolled in a programme"),
    "quintile": _field("quintile", "number", "Consumption quintile (1 poorest)"),
    "duplicate": _field("duplicate", "boolean", "Shares an identifier or identity with another"),
}
PAYMENT_FIELDS = {
    "programme": _field("programme", "string", "Programme code"),
    "amount": _field("amount", "number", "Entitled amount"),
    "paid_amount": _field("paid_amount", "number", "Paid amount"),
    "status": _field("status", "string", "computed, paid, failed or unclaimed"),
    "paid_on": _field("paid_on", "date", "Date paid"),
    "window_start": _field("window_start", "date", "Start of the cycle's window"),
    "window_end": _field("window_end", "date", "End of the cycle's window"),
    "cycle_status": _field("cycle_status", "string", "Status of the payment cycle"),
}
JOURNEY_FIELDS = {
    "programme": _field("programme", "string", "Programme code"),
    **{
        field: _field(field, "date", f"First '{event}' event")
        for event, field in repo.JOURNEY_STAGES.items()
    },
}
GRIEVANCE_FIELDS = {
    "status": _field("status", "string", "Grievance status"),
    "category": _field("category", "string", "Grievance category"),
    "received_on": _field("received_on", "date", "Date received"),
    "resolved": _field("resolved", "boolean", "Resolved"),
    "resolution_days": _field("resolution_days", "number", "Days from receipt to resolution"),
    "within_standard": _field("within_standard", "boolean", "Resolved by the due date"),
}
REFERRAL_FIELDS = {
    "sector": _field("sector", "string", "Sector of the service referred to"),
    "service_code": _field("service_code", "string", "Service referred to"),
    "status": _field("status", "string", "Referral status"),
    "sent_on": _field("sent_on", "date", "Date sent"),
    "accepted": _field("accepted", "boolean", "Accepted by the receiving agency"),
    "declined": _field("declined", "boolean", "Declined by the receiving agency"),
    "served": _field("served", "boolean", "Served by the receiving agency"),
    "days_to_service": _field("days_to_service", "number", "Days from sending to service"),
}

#: A level deeper than any hierarchy: every record is grouped by its own area's code.
LEAF = 99

HOUSEHOLD_GROUPS = (
    "area",
    "head_sex",
    "head_age_band",
    "disability",
    "urban_rural",
    "quintile_group",
)
PERSON_GROUPS = ("area", "sex", "age_group", "quintile_group")


def _flat(fields: dict[str, FieldInfo]) -> Vocabulary:
    return Vocabulary(household=fields, person={}, household_computed={}, person_computed={})


def vocabulary_of(unit: str) -> tuple[Vocabulary, tuple[str, ...]]:
    """The vocabulary and disaggregation groups of a unit (no data read)."""
    base = default_vocabulary()
    if unit == "household":
        return (
            Vocabulary(
                household={**base.household, **DERIVED_HOUSEHOLD},
                person=base.person,
                household_computed=base.household_computed,
                person_computed=base.person_computed,
            ),
            HOUSEHOLD_GROUPS,
        )
    if unit == "person":
        return _flat({**base.person, **DERIVED_PERSON}), PERSON_GROUPS
    if unit == "payment":
        return _flat(PAYMENT_FIELDS), ("programme",)
    if unit == "journey":
        return _flat(JOURNEY_FIELDS), ("programme", "area")
    if unit == "referral":
        return _flat(REFERRAL_FIELDS), ("sector", "area")
    return _flat(GRIEVANCE_FIELDS), ("category",)


def _households(
    session: Session, as_of: date, columns: Sequence[str], scope: Sequence[str] | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    base = default_vocabulary()
    wanted = [c for c in columns if c in base.household]
    person_cols = [c for c in columns if c in base.person]
    population = read_population(
        session,
        as_of,
        [],
        scope_paths=scope,
        area_level=LEAF,
        household_columns=[*wanted, "valid_from", "changed_by"],
        person_columns=[*person_cols, "given_name", "family_name", "changed_by"],
    )
    conn = session.connection()
    enrolled = repo.enrolled_households(conn, as_of)
    paid = repo.payments_received(conn, as_of - timedelta(days=365), as_of)
    hh = (
        population.households.join(enrolled, on="household_id", how="left")
        .join(paid, on="household_id", how="left")
        .with_columns(
            pl.col("programmes").fill_null(0),
            pl.col("transfers").fill_null(0.0),
            pl.col("quintile").alias("quintile_group"),
            pl.col("quintile").str.strip_prefix("Q").cast(pl.Int64, strict=False).alias("quintile"),
            (pl.lit(as_of) - pl.col("valid_from").cast(pl.Date))
            .dt.total_days()
            .alias("days_since_update"),
        )
    )
    return hh, population.persons


Base = tuple[pl.DataFrame, pl.DataFrame]


def read_base(
    session: Session, as_of: date, columns: Sequence[str] = (), scope: Sequence[str] | None = None
) -> Base:
    """Households (with their derived fields) and persons, read once for several units."""
    return _households(session, as_of, columns, scope)


def load_unit(
    session: Session,
    unit: str,
    as_of: date,
    columns: Sequence[str] = (),
    scope: Sequence[str] | None = None,
    base: Base | None = None,
) -> Unit:
    """Read one unit's records as of ``as_of`` (``scope``: area path prefixes, or national).

    ``base`` (from :func:`read_base` with the same date, scope and at least the
    columns needed) saves reading the registry again.
    """
    vocabulary, groups = vocabulary_of(unit)

    def households(cols: Sequence[str]) -> Base:
        return base if base is not None else _households(session, as_of, cols, scope)

    conn = session.connection()
    if unit in ("household", "person"):
        hh, persons = households(columns)
        if unit == "household":
            return Unit(unit, hh, persons, vocabulary, groups)
        people = persons.filter(pl.col("status").is_null() | (pl.col("status") == "active")).join(
            hh.select(
                "household_id",
                "area",
                "quintile",
                "quintile_group",
                (pl.col("programmes") > 0).alias("covered"),
            ),
            on="household_id",
            how="inner",
        )
        age = age_years(pl.col("birth_date"), as_of)
        wg = [pl.col(c).fill_null(0) >= 3 for c in people.columns if c.startswith("wg_")]
        identity = ["given_name", "family_name", "sex", "birth_date"]
        shared = repo.shared_identifiers(conn)
        people = people.with_columns(
            age.alias("age"),
            (pl.any_horizontal(wg) if wg else pl.lit(False)).alias("disability"),
            pl.when(age < 18)
            .then(pl.lit("0-17"))
            .when(age < 65)
            .then(pl.lit("18-64"))
            .otherwise(pl.lit("65+"))
            .alias("age_group"),
            (
                (pl.len().over(identity) > 1)
                | pl.col("person_id").is_in(shared["person_id"].implode())
            ).alias("duplicate"),
        )
        return Unit(unit, people, None, vocabulary, groups)
    if unit == "payment":
        frame = repo.payments(conn, as_of - timedelta(days=365), as_of)
        if scope is not None:
            hh, _ = households(())
            frame = frame.join(hh.select("household_id"), on="household_id", how="semi")
        return Unit(unit, frame, None, vocabulary, groups)
    if unit == "journey":
        frame = repo.journeys(conn, as_of - timedelta(days=365), as_of)
        hh, _ = households(())
        frame = frame.join(hh.select("household_id", "area"), on="household_id", how="inner")
        return Unit(unit, frame, None, vocabulary, groups)
    if unit == "referral":
        return Unit(unit, _referrals(session, as_of, scope), None, vocabulary, groups)
    frame_or_none = repo.grievances(conn, as_of - timedelta(days=365), as_of, scope)
    if frame_or_none is None:
        return Unit(
            unit,
            pl.DataFrame(),
            None,
            vocabulary,
            groups,
            missing="grievance data is not available in this deployment",
        )
    return Unit(unit, frame_or_none, None, vocabulary, groups)


def _referrals(session: Session, as_of: date, scope: Sequence[str] | None) -> pl.DataFrame:
    """Referrals sent in the 12 months to ``as_of``, as the grievances service gives them."""
    from solidarity.grievances import service as grievances

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=UTC)

    records = grievances.referral_records(
        session,
        scope,
        since=start_of(as_of - timedelta(days=364)),
        until=start_of(as_of + timedelta(days=1)),
    )
    return records.rename({"area_code": "area"})
