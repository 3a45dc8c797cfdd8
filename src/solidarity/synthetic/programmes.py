"""The country's programmes, each ministry's beneficiary list, journeys and the ground truth.

Each programme has a true eligibility rule over the registry population. Its
list enrols part of the eligible (exclusion errors), some who are not
(inclusion errors), registers a few people twice, and carries the data quality
of the ministry that keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import polars as pl

from solidarity.synthetic.corruption import (
    DataQuality,
    collect_corruptions,
    corrupt_birth_date,
    corrupt_names,
    corrupt_national_id,
)
from solidarity.synthetic.population import EPOCH, Population, prefixed_keys

Rule = Callable[[float], pl.Expr]

BENEFICIARY_COLUMNS = (
    "beneficiary_id", "given_name", "family_name", "sex", "birth_date", "national_id",
    "phone", "area_code", "enrolment_date", "exit_date", "exit_reason", "benefit_amount",
)  # fmt: skip
PAYMENTS_PER_YEAR = {"monthly": 12, "quarterly": 4, "termly": 3, "annual": 1, "once": 1}
EXIT_REASONS = (
    "moved_away", "non_compliance", "voluntary_exit", "no_longer_eligible",
    "payment_uncollected",
)  # fmt: skip


def _age() -> pl.Expr:
    return pl.col("_age")


def _c() -> pl.Expr:
    return pl.col("_consumption")


def _csp(line: float) -> pl.Expr:
    return (_age() >= 60) & (pl.col("main_activity") == "retired") & (_c() >= 1.5 * line)


def _enrolled() -> pl.Expr:
    return pl.col("school_enrolled")


def _urban() -> pl.Expr:
    return pl.col("_urban")


def _shock() -> pl.Expr:
    return pl.col("_shock")


@dataclass(frozen=True)
class Programme:
    """One programme: what it is, its true rule, and how well its list is kept."""

    code: str
    name: str
    ministry: str
    instrument: str
    lifecycle_group: str
    risk: str
    targeting_method: str
    unit: Literal["person", "household"]
    eligibility: str
    benefit_amount: float
    benefit_frequency: str
    funding_source: str
    id_prefix: str
    start: date
    rule: Rule
    near: Rule
    """Who is plausibly but wrongly enrolled (the pool of inclusion errors)."""
    coverage: float
    """Share of the eligible who are enrolled (one minus the exclusion error rate)."""
    inclusion_rate: float
    """Share of the enrolled who are not eligible."""
    quality: DataQuality = field(default_factory=DataQuality)
    min_age: int = 0
    budget_cap_factor: float = 1.05


#: Ministries and the data quality of their lists.
_MGSW = "Ministry of Gender and Social Welfare"
_MOE = "Ministry of Education"
_MOH = "Ministry of Health"
_MLG = "Ministry of Local Government and Public Works"
_SSA = "Social Security Agency"
_DMA = "Disaster Management Agency"

_WELFARE_QUALITY = DataQuality(
    name_typo=0.08, transliteration=0.05, names_swapped=0.03, national_id_missing=0.15,
    national_id_mistyped=0.03, birth_day_month_swapped=0.02, birth_year_off_by_one=0.02,
    birth_year_only=0.04, duplicates=0.02, uppercase_names=True,
)  # fmt: skip
_EDUCATION_QUALITY = DataQuality(
    name_typo=0.06, transliteration=0.04, names_swapped=0.02, national_id_missing=0.45,
    national_id_mistyped=0.02, birth_day_month_swapped=0.03, birth_year_off_by_one=0.01,
    duplicates=0.03,
)  # fmt: skip
_HEALTH_QUALITY = DataQuality(
    name_typo=0.05, transliteration=0.03, national_id_missing=0.2, national_id_mistyped=0.04,
    birth_day_month_swapped=0.03, birth_year_off_by_one=0.02, duplicates=0.015,
)  # fmt: skip
_LOCAL_QUALITY = DataQuality(
    name_typo=0.10, transliteration=0.06, names_swapped=0.04, second_name_dropped=0.7,
    national_id_missing=0.40, national_id_mistyped=0.04, birth_year_off_by_one=0.03,
    birth_year_only=0.08, duplicates=0.03, uppercase_names=True,
)  # fmt: skip
_SOCIAL_SECURITY_QUALITY = DataQuality(
    name_typo=0.02, transliteration=0.01, names_swapped=0.005, second_name_dropped=0.1,
    national_id_missing=0.02, national_id_mistyped=0.01, birth_day_month_swapped=0.005,
    birth_year_off_by_one=0.005, duplicates=0.01,
)  # fmt: skip


def catalogue() -> tuple[Programme, ...]:
    """The programmes of the synthetic country."""
    poor = _c
    return (
        Programme(
            code="CGR", name="Child Grant", ministry=_MGSW, instrument="cash_transfer",
            lifecycle_group="children", risk="child_poverty", targeting_method="pmt",
            unit="person",
            eligibility="Children under 15 (the grant ends on the 15th birthday) in households "
            "below the poverty line.",
            benefit_amount=250.0, benefit_frequency="monthly", funding_source="government",
            id_prefix="MGSW/CG/", start=date(2014, 4, 1),
            rule=lambda z: (_age() < 15) & (poor() < z),
            near=lambda z: (_age() < 18) & (poor() < 1.5 * z),
            coverage=0.55, inclusion_rate=0.15, quality=_WELFARE_QUALITY,
        ),
        Programme(
            code="SBY", name="Secondary School Bursary", ministry=_MOE, instrument="fee_waiver",
            lifecycle_group="children", risk="education_cost", targeting_method="pmt",
            unit="person",
            eligibility="Students aged 16 to 19 enrolled in school, in households below 1.2 "
            "times the poverty line (starts at 16: 15-year-olds fall between the Child Grant "
            "and the bursary).",
            benefit_amount=3000.0, benefit_frequency="annual", funding_source="government",
            id_prefix="MOE-BUR-", start=date(2016, 1, 15), min_age=16,
            rule=lambda z: _age().is_between(16, 19) & _enrolled() & (poor() < 1.2 * z),
            near=lambda z: _age().is_between(15, 21) & _enrolled() & (poor() < 2 * z),
            coverage=0.4, inclusion_rate=0.15, quality=_EDUCATION_QUALITY,
        ),
        Programme(
            code="SFP", name="School Feeding Programme", ministry=_MOE, instrument="in_kind",
            lifecycle_group="children", risk="food_insecurity", targeting_method="categorical",
            unit="person",
            eligibility="Children aged 6 to 13 enrolled in school in rural communities.",
            benefit_amount=150.0, benefit_frequency="monthly", funding_source="donor",
            id_prefix="SF", start=date(2012, 1, 15), min_age=6,
            rule=lambda z: _age().is_between(6, 13) & pl.col("school_enrolled") & ~_urban(),
            near=lambda z: _age().is_between(5, 15) & pl.col("school_enrolled"),
            coverage=0.8, inclusion_rate=0.1, quality=_EDUCATION_QUALITY,
        ),
        Programme(
            code="OAP", name="Social Old-Age Pension", ministry=_MGSW,
            instrument="cash_transfer", lifecycle_group="elderly", risk="old_age",
            targeting_method="categorical", unit="person",
            eligibility="Persons aged 65 or older who are not entitled to the Contributory "
            "Pension (the two are mutually exclusive).",
            benefit_amount=600.0, benefit_frequency="monthly", funding_source="government",
            id_prefix="MGSW/OAP/", start=date(2010, 7, 1), min_age=65,
            rule=lambda z: (_age() >= 65) & ~_csp(z),
            near=lambda z: _age().is_between(60, 64) | ((_age() >= 65) & _csp(z)),
            coverage=0.85, inclusion_rate=0.06, quality=_WELFARE_QUALITY,
        ),
        Programme(
            code="CSP", name="Contributory Pension", ministry=_SSA,
            instrument="social_insurance", lifecycle_group="elderly", risk="old_age",
            targeting_method="categorical", unit="person",
            eligibility="Retired former formal-sector workers aged 60 or older (households at "
            "or above 1.5 times the poverty line); excludes the Social Old-Age Pension.",
            benefit_amount=2500.0, benefit_frequency="monthly", funding_source="contributions",
            id_prefix="SSA", start=date(2005, 1, 1), min_age=60,
            rule=_csp,
            near=lambda z: (_age() >= 55) & (_c() >= z)
            & pl.col("main_activity").is_in(["retired", "employed"]),
            coverage=0.92, inclusion_rate=0.02, quality=_SOCIAL_SECURITY_QUALITY,
        ),
        Programme(
            code="DSG", name="Disability Grant", ministry=_MGSW, instrument="cash_transfer",
            lifecycle_group="persons_with_disabilities", risk="disability",
            targeting_method="categorical", unit="person",
            eligibility="Persons of any age with a lot of difficulty or who cannot do at all "
            "in at least one Washington Group domain.",
            benefit_amount=500.0, benefit_frequency="monthly", funding_source="government",
            id_prefix="MGSW/DG/", start=date(2015, 3, 1),
            rule=lambda z: pl.col("_disabled"),
            near=lambda z: pl.col("_wg_max") == 2,
            coverage=0.35, inclusion_rate=0.2, quality=_WELFARE_QUALITY,
        ),
        Programme(
            code="HIS", name="Health Insurance Premium Subsidy", ministry=_MOH,
            instrument="insurance_subsidy", lifecycle_group="all", risk="health_cost",
            targeting_method="pmt", unit="household",
            eligibility="Households below 1.2 times the poverty line; the head is enrolled "
            "on behalf of the household.",
            benefit_amount=1800.0, benefit_frequency="annual", funding_source="government",
            id_prefix="NHIS-", start=date(2017, 1, 1),
            rule=lambda z: poor() < 1.2 * z,
            near=lambda z: poor() < 1.8 * z,
            coverage=0.45, inclusion_rate=0.25, quality=_HEALTH_QUALITY,
        ),
        Programme(
            code="MHV", name="Maternal Health Voucher", ministry=_MOH, instrument="service",
            lifecycle_group="working_age", risk="health_cost", targeting_method="categorical",
            unit="person",
            eligibility="Pregnant women.",
            benefit_amount=800.0, benefit_frequency="once", funding_source="donor",
            id_prefix="MHV", start=date(2020, 1, 1), min_age=15,
            rule=lambda z: pl.col("pregnant"),
            near=lambda z: (pl.col("sex") == "female") & _age().is_between(15, 49),
            coverage=0.5, inclusion_rate=0.1, quality=_HEALTH_QUALITY,
        ),
        Programme(
            code="PWP", name="Rural Public Works", ministry=_MLG, instrument="public_works",
            lifecycle_group="working_age", risk="unemployment",
            targeting_method="self_targeting", unit="person",
            eligibility="Adults aged 18 to 64 in poor rural households who are not students "
            "and have no severe disability.",
            benefit_amount=1200.0, benefit_frequency="monthly", funding_source="donor",
            id_prefix="PW-", start=date(2018, 6, 1), min_age=18,
            rule=lambda z: _age().is_between(18, 64) & ~_urban() & (poor() < z)
            & ~pl.col("school_enrolled") & ~pl.col("_disabled"),
            near=lambda z: _age().is_between(18, 64) & (poor() < 1.6 * z),
            coverage=0.25, inclusion_rate=0.3, quality=_LOCAL_QUALITY,
        ),
        Programme(
            code="UIB", name="Unemployment Insurance Benefit", ministry=_SSA,
            instrument="social_insurance", lifecycle_group="working_age", risk="unemployment",
            targeting_method="categorical", unit="person",
            eligibility="Unemployed urban adults aged 18 to 64 from households at or above the "
            "poverty line (former contributors).",
            benefit_amount=1500.0, benefit_frequency="monthly", funding_source="contributions",
            id_prefix="SSA-UI-", start=date(2019, 1, 1), min_age=18,
            rule=lambda z: _age().is_between(18, 64) & (pl.col("main_activity") == "unemployed")
            & _urban() & (poor() >= z),
            near=lambda z: _age().is_between(18, 64) & _urban()
            & pl.col("main_activity").is_in(["unemployed", "self_employed"]),
            coverage=0.4, inclusion_rate=0.08, quality=_SOCIAL_SECURITY_QUALITY,
        ),
        Programme(
            code="ECS", name="Emergency Cash for Climate Shocks", ministry=_DMA,
            instrument="cash_transfer", lifecycle_group="all", risk="climate_shock",
            targeting_method="community_based", unit="household",
            eligibility="Households in drought-affected districts below 1.5 times the poverty "
            "line; the head is listed.",
            benefit_amount=2000.0, benefit_frequency="once", funding_source="donor",
            id_prefix="DMA-EC-", start=date(2024, 2, 1),
            rule=lambda z: _shock() & (poor() < 1.5 * z),
            near=lambda z: _shock() & (poor() < 2.5 * z),
            coverage=0.6, inclusion_rate=0.3, quality=_LOCAL_QUALITY, budget_cap_factor=0.85,
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class ProgrammeData:
    """Everything the programmes produce."""

    programmes: pl.DataFrame
    beneficiaries: dict[str, pl.DataFrame]
    journey_events: pl.DataFrame
    links: pl.DataFrame
    eligibility: pl.DataFrame
    quality: pl.DataFrame


def build_programmes(
    rng: np.random.Generator, pop: Population, shock_districts: np.ndarray, as_of: date
) -> ProgrammeData:
    """Evaluate every programme's rule and write its list, journeys and ground truth."""
    persons = pop.persons.with_columns(
        _shock=pl.col("_district").is_in(shock_districts.tolist()),
        _is_head=pl.col("relationship") == "head",
        area_code=pop.households["area_code"].gather(pop.persons["_hh"]),
        _birth=pl.col("birth_date"),
        _row=pl.int_range(pl.len(), dtype=pl.Int64),
    )
    n_hh = pop.households.height
    hh_index = persons["_hh"].to_numpy()
    rows: list[dict[str, object]] = []
    lists: dict[str, pl.DataFrame] = {}
    links: list[pl.DataFrame] = []
    events: list[pl.DataFrame] = []
    eligibility: list[pl.DataFrame] = []
    quality: list[dict[str, object]] = []
    for programme in catalogue():
        masks = persons.select(
            eligible=programme.rule(pop.poverty_line).fill_null(False),
            near=programme.near(pop.poverty_line).fill_null(False),
        )
        eligible = masks["eligible"].to_numpy()
        near = masks["near"].to_numpy()
        if programme.unit == "household":
            heads = persons["_is_head"].to_numpy()
            eligible, near = eligible & heads, near & heads
        eligible_persons = np.bincount(hh_index, weights=eligible, minlength=n_hh)
        eligibility.append(
            pl.DataFrame(
                {
                    "household_key": pop.households["household_key"],
                    "programme_code": pl.Series([programme.code] * n_hh),
                    "eligible": eligible_persons > 0,
                    "eligible_persons": eligible_persons.astype(np.int64),
                }
            )
        )
        listing, journey, truth, summary = _programme_list(
            rng, programme, persons, eligible, near, as_of
        )
        lists[programme.code] = listing
        events.append(journey)
        links.append(truth)
        quality.append(summary)
        active = listing.filter(pl.col("exit_date").is_null()).height
        budget = active * programme.benefit_amount * PAYMENTS_PER_YEAR[programme.benefit_frequency]
        rows.append(
            {
                "code": programme.code,
                "name": programme.name,
                "ministry": programme.ministry,
                "instrument": programme.instrument,
                "lifecycle_group": programme.lifecycle_group,
                "risk": programme.risk,
                "targeting_method": programme.targeting_method,
                "annual_budget": float(round(budget, -3)),
                "budget_cap": float(round(budget * programme.budget_cap_factor, -3)),
                "funding_source": programme.funding_source,
                "benefit_amount": programme.benefit_amount,
                "benefit_frequency": programme.benefit_frequency,
                "beneficiary_unit": programme.unit,
                "start_date": programme.start,
                "eligibility": programme.eligibility,
            }
        )
    return ProgrammeData(
        programmes=pl.DataFrame(rows),
        beneficiaries=lists,
        journey_events=pl.concat(events, rechunk=False),
        links=pl.concat(links),
        eligibility=pl.concat(eligibility),
        quality=pl.DataFrame(quality),
    )


def _days(d: date) -> int:
    return (d - EPOCH).days


def _programme_list(
    rng: np.random.Generator,
    programme: Programme,
    persons: pl.DataFrame,
    eligible: np.ndarray,
    near: np.ndarray,
    as_of: date,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[str, object]]:
    eligible_idx = np.flatnonzero(eligible)
    enrolled_idx = eligible_idx[rng.random(len(eligible_idx)) < programme.coverage]
    pool = np.flatnonzero(near & ~eligible)
    wanted = round(programme.inclusion_rate * len(enrolled_idx) / (1 - programme.inclusion_rate))
    included_idx = np.sort(rng.choice(pool, size=min(wanted, len(pool)), replace=False))
    listed = np.concatenate([enrolled_idx, included_idx])
    inclusion = np.concatenate(
        [np.zeros(len(enrolled_idx), dtype=bool), np.ones(len(included_idx), dtype=bool)]
    )
    n = len(listed)
    as_of_days = _days(as_of)

    birth = persons["_birth"].to_numpy().astype("datetime64[D]").astype(np.int64)[listed]
    low = np.maximum(_days(programme.start), birth + round(programme.min_age * 365.25) + 60)
    low = np.minimum(low, as_of_days - 1)
    enrol = low + np.floor(rng.random(n) * (as_of_days - low)).astype(np.int64)

    # A few people are registered twice, later, under a new ID.
    dup_of = rng.choice(n, size=round(programme.quality.duplicates * n), replace=False)
    dup_of.sort()
    dup_enrol = np.minimum(enrol[dup_of] + rng.integers(30, 700, len(dup_of)), as_of_days)
    rows = np.concatenate([listed, listed[dup_of]])
    enrol = np.concatenate([enrol, dup_enrol])
    inclusion = np.concatenate([inclusion, inclusion[dup_of]])
    original = np.concatenate([np.full(n, -1), dup_of])
    total = len(rows)

    exits = rng.random(total) < 0.06
    exit_day = enrol + np.floor(rng.random(total) * (as_of_days - enrol)).astype(np.int64)
    exit_reason = pl.Series(list(EXIT_REASONS)).gather(rng.integers(0, len(EXIT_REASONS), total))

    # Serial numbers follow the order in which people were enrolled.
    order = np.lexsort((np.arange(total), enrol))
    serial = np.empty(total, dtype=np.int64)
    serial[order] = np.arange(1, total + 1)
    width = max(6, len(str(total)))
    ids = prefixed_keys(programme.id_prefix, serial, width)
    wanted_columns = [
        "person_key", "household_key", "given_name", "family_name", "other_names", "sex",
        "birth_date", "id_national_id", "phone", "area_code",
    ]  # fmt: skip
    source = persons.select(pl.col(wanted_columns).gather(pl.Series(rows)))
    frame = source.select(
        "person_key",
        "household_key",
        "given_name",
        "family_name",
        "other_names",
        "sex",
        "birth_date",
        pl.col("id_national_id").alias("national_id"),
        pl.col("phone"),
        "area_code",
    ).with_columns(
        beneficiary_id=ids,
        enrolment_date=pl.Series(enrol).cast(pl.Int32).cast(pl.Date),
        exit_date=pl.when(pl.Series(exits))
        .then(pl.Series(exit_day).cast(pl.Int32).cast(pl.Date))
        .otherwise(None),
        exit_reason=pl.when(pl.Series(exits)).then(exit_reason).otherwise(None),
        benefit_amount=pl.lit(programme.benefit_amount),
        _row=pl.Series(np.arange(total)),
        _birth_days=pl.Series(np.concatenate([birth, birth[dup_of]])),
    )
    quality = programme.quality
    frame = corrupt_names(frame, rng, quality)
    frame = corrupt_national_id(
        frame, rng, quality.national_id_missing, quality.national_id_mistyped
    )
    frame = corrupt_birth_date(frame, rng, quality, pl.col("enrolment_date"))
    frame = collect_corruptions(frame)
    frame = frame.with_columns(
        phone=pl.when(pl.Series(rng.random(total) < quality.phone_missing))
        .then(None)
        .otherwise("phone")
    )
    frame = frame.sort("beneficiary_id")
    listing = frame.select(BENEFICIARY_COLUMNS)
    id_by_row = frame.select("_row", "beneficiary_id").sort("_row")["beneficiary_id"]
    truth = frame.select(
        pl.lit(programme.code).alias("programme_code"),
        "beneficiary_id",
        "person_key",
        "household_key",
        duplicate_of=pl.when(pl.Series(original >= 0).gather(frame["_row"]))
        .then(id_by_row.gather(pl.Series(np.maximum(original, 0)).gather(frame["_row"])))
        .otherwise(None),
        inclusion_error=pl.Series(inclusion).gather(frame["_row"]),
        corruptions=pl.col("corruptions"),
    )
    not_enrolled = np.setdiff1d(eligible_idx, enrolled_idx, assume_unique=True)
    journey = _journey(rng, programme, frame, persons, not_enrolled, as_of, total)

    distinct = n
    counts = {
        kind: int(truth["corruptions"].str.contains(kind, literal=True).sum())
        for kind in (
            "name_typo", "transliteration", "names_swapped", "second_name_dropped",
            "national_id_missing", "national_id_mistyped", "birth_day_month_swapped",
            "birth_year_off_by_one", "birth_year_only",
        )
    }  # fmt: skip
    summary: dict[str, object] = {
        "programme_code": programme.code,
        "beneficiary_unit": programme.unit,
        "eligible_units": len(eligible_idx),
        "enrolled_eligible": len(enrolled_idx),
        "enrolled_not_eligible": len(included_idx),
        "listed_records": total,
        "duplicate_records": len(dup_of),
        "exclusion_error_rate": round(1 - len(enrolled_idx) / max(len(eligible_idx), 1), 4),
        "inclusion_error_rate": round(len(included_idx) / max(distinct, 1), 4),
        "duplicate_rate": round(len(dup_of) / max(total, 1), 4),
        "national_id_missing_in_list": round(
            listing["national_id"].null_count() / max(listing.height, 1), 4
        ),
        **counts,
    }
    return listing, journey, truth, summary


_DROP_REASONS = (
    ("applied", ("did_not_attend_assessment", "incomplete_documents")),
    ("assessed", ("assessed_not_eligible", "could_not_verify_identity")),
    ("eligibility_decided", ("waiting_list", "budget_cap_reached")),
)


def _journey(
    rng: np.random.Generator,
    programme: Programme,
    listed: pl.DataFrame,
    persons: pl.DataFrame,
    not_enrolled: np.ndarray,
    as_of: date,
    next_serial: int,
) -> pl.DataFrame:
    """Applied, assessed, decided, enrolled, first paid and exited, with drop-offs."""
    as_of_days = _days(as_of)
    n = listed.height
    enrolled = listed["enrolment_date"].cast(pl.Int32).to_numpy().astype(np.int64)
    decided = enrolled - np.ceil(rng.gamma(2.0, 6.0, n)).astype(np.int64)
    assessed = decided - np.ceil(rng.gamma(2.0, 10.0, n)).astype(np.int64)
    applied = assessed - np.ceil(rng.gamma(2.0, 7.0, n)).astype(np.int64)
    # Nobody applies before being born: infants' journeys are squeezed after birth.
    applied = np.maximum(applied, listed["_birth_days"].to_numpy() + 1)
    assessed = np.maximum(assessed, applied)
    decided = np.maximum(decided, assessed)
    paid = enrolled + np.ceil(rng.gamma(2.5, 12.0, n)).astype(np.int64)
    base = listed.select(
        pl.lit(programme.code).alias("programme_code"), "beneficiary_id", "person_key",
        "household_key",
    )  # fmt: skip
    stages = [
        ("applied", applied, None),
        ("assessed", assessed, None),
        ("eligibility_decided", decided, "eligible"),
        ("enrolled", enrolled, None),
    ]
    parts = [
        base.with_columns(
            event=pl.lit(name),
            date=pl.Series(days).cast(pl.Int32).cast(pl.Date),
            reason=pl.lit(reason, dtype=pl.String),
        )
        for name, days, reason in stages
    ]
    was_paid = paid <= as_of_days
    parts.append(
        base.filter(pl.Series(was_paid)).with_columns(
            event=pl.lit("first_paid"),
            date=pl.Series(paid[was_paid]).cast(pl.Int32).cast(pl.Date),
            reason=pl.lit(None, dtype=pl.String),
        )
    )
    parts.append(
        listed.filter(pl.col("exit_date").is_not_null()).select(
            pl.lit(programme.code).alias("programme_code"),
            "beneficiary_id",
            "person_key",
            "household_key",
            event=pl.lit("exited"),
            date="exit_date",
            reason="exit_reason",
        )
    )

    # Eligible people who applied but never got enrolled, and where they dropped off.
    applicants = not_enrolled[rng.random(len(not_enrolled)) < 0.35]
    m = len(applicants)
    if m:
        stage = rng.choice(3, size=m, p=[0.35, 0.25, 0.4])
        reason_pick = rng.integers(0, 2, m)
        last_day = as_of_days - rng.integers(0, 900, m)
        start = np.maximum(last_day, _days(programme.start))
        applied_d = start - np.ceil(rng.gamma(2.0, 7.0, m)).astype(np.int64)
        assessed_d = applied_d + np.ceil(rng.gamma(2.0, 10.0, m)).astype(np.int64)
        decided_d = assessed_d + np.ceil(rng.gamma(2.0, 6.0, m)).astype(np.int64)
        width = max(6, len(str(next_serial + m)))
        serials = np.arange(next_serial + 1, next_serial + m + 1)
        ids = prefixed_keys(programme.id_prefix + "A", serials, width)
        who = persons.select(pl.col("person_key", "household_key").gather(pl.Series(applicants)))
        drop_base = who.select(
            pl.lit(programme.code).alias("programme_code"),
            beneficiary_id=ids,
            person_key="person_key",
            household_key="household_key",
        )
        reasons = [pl.Series([options[i] for _, options in _DROP_REASONS]) for i in (0, 1)]
        for level, (event, days) in enumerate(
            (("applied", applied_d), ("assessed", assessed_d), ("eligibility_decided", decided_d))
        ):
            reached = stage >= level
            is_last = stage == level
            drop_reason = (
                pl.when(pl.Series(reason_pick == 0))
                .then(reasons[0].gather(pl.Series(stage)))
                .otherwise(reasons[1].gather(pl.Series(stage)))
            )
            frame = drop_base.with_columns(
                event=pl.lit(event),
                date=pl.Series(np.minimum(days, as_of_days)).cast(pl.Int32).cast(pl.Date),
                reason=pl.when(pl.Series(is_last)).then(drop_reason).otherwise(None),
            ).filter(pl.Series(reached))
            parts.append(frame)
    return pl.concat(parts).sort("beneficiary_id", "date", maintain_order=True)
