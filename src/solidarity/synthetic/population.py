"""Households and persons: welfare first, then dwellings, assets and people drawn from it.

Every draw is vectorised over the whole population. A household's latent welfare
drives both its consumption and its observable characteristics, so a proxy
means test fitted on the characteristics explains about half of the variance of
log consumption, as in real survey data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from solidarity.synthetic.geography import Geography
from solidarity.synthetic.names import FAMILY_POOL_SIZE, GIVEN_POOL_SIZE, name_pools, zipf_draw

EPOCH = date(1970, 1, 1)
#: Share of persons living below the poverty line the generator aims at.
POVERTY_HEADCOUNT_TARGET = 0.29
CURRENCY = "XTS"

RELATIONSHIPS = (
    "head", "spouse", "child", "stepchild", "grandchild", "parent", "parent_in_law",
    "sibling", "other_relative", "non_relative",
)  # fmt: skip
HEAD, SPOUSE, CHILD, STEPCHILD, GRANDCHILD, PARENT, PARENT_IN_LAW = range(7)
SIBLING, OTHER_RELATIVE, NON_RELATIVE = range(7, 10)
MARITAL = ("never_married", "married", "cohabiting", "divorced", "separated", "widowed")
EDUCATION = (
    "none", "pre_primary", "primary", "lower_secondary", "upper_secondary",
    "post_secondary", "tertiary",
)  # fmt: skip
ACTIVITIES = (
    "employed", "self_employed", "agriculture", "unpaid_family_work", "unemployed",
    "student", "homemaker", "retired", "unable_to_work", "none",
)  # fmt: skip
(EMPLOYED, SELF_EMPLOYED, AGRICULTURE, UNPAID, UNEMPLOYED, STUDENT, HOMEMAKER, RETIRED) = range(8)
UNABLE, NO_ACTIVITY = 8, 9
WG_DOMAINS = ("seeing", "hearing", "walking", "cognition", "selfcare", "communication")

#: Dwelling codes from poorest to richest, with the latent cut points and urban shift.
_DWELLING: dict[str, tuple[tuple[str, ...], tuple[float, ...], float]] = {
    "roof": (("thatch", "metal_sheet", "tiles", "concrete"), (-0.17, 1.8, 2.35), 1.5),
    "wall": (("mud", "wood", "brick", "concrete"), (0.0, 0.4, 1.9), 1.4),
    "floor": (("earth", "wood", "cement", "tiles"), (0.3, 0.5, 2.4), 1.5),
    "water_source": (
        (
            "surface_water",
            "unprotected_well",
            "protected_well",
            "borehole",
            "piped_public",
            "piped_dwelling",
        ),
        (-1.6, -0.7, 0.0, 0.9, 2.0),
        2.0,
    ),
    "sanitation": (
        ("none", "unimproved_pit_latrine", "improved_pit_latrine", "flush_toilet"),
        (-1.0, 0.4, 2.0),
        1.5,
    ),
    "cooking_fuel": (
        ("firewood", "charcoal", "kerosene", "gas", "electricity"),
        (0.6, 2.0, 2.4, 2.9),
        2.0,
    ),
}
#: Columns where a small share answers "other".
_OTHER_ALLOWED = ("roof", "wall", "floor", "water_source", "cooking_fuel")

_OCCUPATIONS: dict[int, tuple[str, ...]] = {
    EMPLOYED: (
        "teacher", "nurse", "clerk", "driver", "security guard", "shop assistant",
        "mechanic", "construction worker", "police officer", "factory worker", "cleaner",
    ),
    SELF_EMPLOYED: (
        "trader", "tailor", "carpenter", "hairdresser", "street vendor", "shopkeeper",
        "welder", "bricklayer", "taxi operator",
    ),
    AGRICULTURE: ("crop farmer", "livestock farmer", "fisher", "farm labourer", "market gardener"),
}  # fmt: skip

HOUSEHOLD_COLUMNS = (
    "household_key", "area_code", "address", "latitude", "longitude", "urban_rural", "roof",
    "wall", "floor", "water_source", "sanitation", "cooking_fuel", "electricity",
    "land_hectares", "livestock_cattle", "livestock_small", "livestock_poultry", "asset_radio",
    "asset_television", "asset_refrigerator", "asset_bicycle", "asset_motorcycle",
    "asset_mobile_phone", "consumption_per_capita", "registration_date",
)  # fmt: skip
PERSON_COLUMNS = (
    "person_key", "household_key", "given_name", "family_name", "other_names", "sex",
    "birth_date", "birth_date_estimated", "relationship", "marital_status", "wg_seeing",
    "wg_hearing", "wg_walking", "wg_cognition", "wg_selfcare", "wg_communication",
    "education_level", "school_enrolled", "main_activity", "occupation", "income", "pregnant",
    "chronic_illness", "phone", "id_national_id", "id_birth_certificate",
)  # fmt: skip


@dataclass(frozen=True)
class Population:
    """The registry population, with hidden ``_``-prefixed columns for the true rules."""

    households: pl.DataFrame
    persons: pl.DataFrame
    poverty_line: float


def prefixed_keys(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """Keys like ``HH0000042``: ``prefix`` then ``numbers`` zero-padded to ``width``."""
    digits = pl.Series(numbers).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + digits).to_series()


def _logistic(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


def _codes(values: Sequence[str], index: np.ndarray, name: str) -> pl.Series:
    return pl.Series(name, list(values)).gather(index)


def _draw_into(
    rng: np.random.Generator,
    target: np.ndarray,
    mask: np.ndarray,
    choices: Sequence[int],
    probs: Sequence[float],
) -> None:
    """Fill ``target[mask]`` with categorical draws of ``choices``."""
    count = int(mask.sum())
    if count:
        p = np.asarray(probs, dtype=float)
        target[mask] = np.asarray(choices)[rng.choice(len(choices), size=count, p=p / p.sum())]


def _unique_numbers(rng: np.random.Generator, count: int, low: int, span: int) -> np.ndarray:
    """``count`` distinct pseudo-random integers in ``[low, low + span)``.

    A shuffled rank through an affine bijection modulo ``span`` is unique by
    construction, without the memory of sampling from the whole range.
    """
    multiplier = 2_654_435_761  # prime, so coprime with spans made of 2s, 3s and 5s
    rank = rng.permutation(count).astype(np.int64)
    offset = int(rng.integers(0, span))
    return low + (rank * multiplier + offset) % span


def build_population(
    rng: np.random.Generator, geo: Geography, households: int, as_of: date
) -> Population:
    """Draw the households and persons of the country."""
    hh, hh_hidden = _households(rng, geo, households, as_of)
    persons = _persons(rng, hh, hh_hidden, as_of)
    sizes = hh_hidden["size"]
    poverty_line = _poverty_line(hh_hidden["consumption"], sizes)
    hh = hh.with_columns(
        _consumption=pl.col("consumption_per_capita"),
        _poor=pl.col("consumption_per_capita") < poverty_line,
    )
    return Population(households=hh, persons=persons, poverty_line=poverty_line)


def _poverty_line(consumption: np.ndarray, sizes: np.ndarray) -> float:
    order = np.argsort(consumption, kind="stable")
    cumulative = np.cumsum(sizes[order]) / sizes.sum()
    at = int(np.searchsorted(cumulative, POVERTY_HEADCOUNT_TARGET))
    return float(round(consumption[order][at] / 10.0) * 10.0)


def _households(
    rng: np.random.Generator, geo: Geography, n: int, as_of: date
) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    weights = geo.community_weight / geo.community_weight.sum()
    community = np.repeat(np.arange(len(weights)), rng.multinomial(n, weights))
    urban = geo.community_urban[community]
    urban_f = urban.astype(float)
    welfare = rng.standard_normal(n)
    head_age = np.minimum(18 + rng.gamma(2.6, 9.5, size=n), 95).astype(np.int64)

    mean_extra = np.where(urban, 2.7, 3.8) - 0.35 * welfare
    mean_extra *= np.clip((head_age - 16) / 12.0, 0.3, 1.0) * np.where(head_age > 60, 0.7, 1.0)
    size = 1 + np.minimum(rng.poisson(np.clip(mean_extra, 0.3, None)), 13)

    log_c = (
        np.log(1150.0)
        + 0.40 * urban_f
        + geo.community_effect[community]
        + 0.50 * welfare
        + 0.38 * rng.standard_normal(n)
        - 0.07 * (size - 4)
    )
    consumption = np.round(np.exp(log_c), 2)

    cols: dict[str, pl.Series | np.ndarray] = {}
    width = max(7, len(str(n)))
    cols["household_key"] = prefixed_keys("HH", np.arange(1, n + 1), width)
    cols["area_code"] = geo.community_code.gather(community)
    for column, (codes, cuts, shift) in _DWELLING.items():
        score = welfare + shift * urban_f + 0.9 * rng.standard_normal(n)
        index = np.searchsorted(np.asarray(cuts), score)
        if column in _OTHER_ALLOWED:
            codes = (*codes, "other")
            index = np.where(rng.random(n) < 0.015, len(codes) - 1, index)
        cols[column] = _codes(codes, index, column)

    def has(x: np.ndarray) -> np.ndarray:
        return rng.random(n) < _logistic(x)

    electricity = has(-0.9 + 1.3 * welfare + 2.4 * urban_f)
    cols["electricity"] = electricity
    rural = ~urban
    owns_land = np.where(rural, rng.random(n) < 0.85, rng.random(n) < 0.08)
    land = rng.lognormal(np.where(rural, np.log(1.1), np.log(0.15)) + 0.3 * welfare, 0.8)
    cols["land_hectares"] = np.round(np.where(owns_land, land, 0.0), 2)
    cattle = has(-1.6 + 0.7 * welfare - 2.0 * urban_f)
    cols["livestock_cattle"] = np.where(
        cattle, 1 + rng.poisson(np.exp(0.9 + 0.4 * welfare)), 0
    ).astype(np.int64)
    small = has(-0.2 + 0.2 * welfare - 1.8 * urban_f)
    cols["livestock_small"] = np.where(small, 1 + rng.poisson(3.0, size=n), 0).astype(np.int64)
    poultry = has(0.9 - 2.2 * urban_f)
    cols["livestock_poultry"] = np.where(poultry, 1 + rng.poisson(8.0, size=n), 0).astype(np.int64)
    cols["asset_radio"] = has(0.3 + 0.6 * welfare)
    cols["asset_television"] = has(-1.6 + 1.4 * welfare + 1.5 * urban_f) & (
        electricity | (rng.random(n) < 0.1)
    )
    cols["asset_refrigerator"] = has(-3.0 + 1.6 * welfare + 1.2 * urban_f) & electricity
    cols["asset_bicycle"] = has(-0.3 + 0.3 * welfare - 0.8 * urban_f)
    cols["asset_motorcycle"] = has(-2.5 + 0.9 * welfare)
    cols["asset_mobile_phone"] = has(1.2 + 1.0 * welfare + 1.0 * urban_f)

    start = (date(2018, 1, 1) - EPOCH).days
    end = (as_of - EPOCH).days
    registered = rng.integers(start, end + 1, size=n)
    house_number = rng.integers(1, 400, size=n)
    street_pool = pl.Series(
        [f"{name} Road" for name in geo.community_name.head(60).to_list()]
        + ["Independence Avenue", "Market Street", "Mission Road", "Station Road"]
    )
    street = street_pool.gather(rng.integers(0, len(street_pool), size=n))
    lat = geo.community_latitude[community] + rng.normal(0, 0.01, size=n)
    lon = geo.community_longitude[community] + rng.normal(0, 0.01, size=n)

    frame = pl.DataFrame(cols).with_columns(
        pl.Series("_urban", urban),
        pl.Series("_community_name", geo.community_name.gather(community)),
        pl.Series("_house", house_number),
        pl.Series("_street", street),
        pl.Series("latitude", np.round(lat, 6)),
        pl.Series("longitude", np.round(lon, 6)),
        pl.Series("consumption_per_capita", consumption),
        pl.Series("registration_date", registered).cast(pl.Int32).cast(pl.Date),
        pl.Series("_district", geo.community_district[community]),
        pl.Series("_size", size),
    )
    frame = frame.with_columns(
        urban_rural=pl.when(pl.col("_urban")).then(pl.lit("urban")).otherwise(pl.lit("rural")),
        address=pl.when(pl.col("_urban"))
        .then(
            pl.concat_str(
                [
                    pl.col("_house").cast(pl.String),
                    pl.lit(" "),
                    pl.col("_street"),
                    pl.lit(", "),
                    pl.col("_community_name"),
                ]
            )
        )
        .otherwise(
            pl.concat_str(
                [
                    pl.lit("Plot "),
                    pl.col("_house").cast(pl.String),
                    pl.lit(", "),
                    pl.col("_community_name"),
                    pl.lit(" village"),
                ]
            )
        ),
    ).drop("_house", "_street", "_community_name")
    frame = frame.select(*HOUSEHOLD_COLUMNS, "_urban", "_district", "_size")
    hidden = {
        "size": size,
        "welfare": welfare,
        "urban": urban,
        "head_age": head_age,
        "consumption": consumption,
    }
    return frame, hidden


def _persons(
    rng: np.random.Generator,
    households: pl.DataFrame,
    hidden: dict[str, np.ndarray],
    as_of: date,
) -> pl.DataFrame:
    size = hidden["size"]
    n_hh = len(size)
    total = int(size.sum())
    hh = np.repeat(np.arange(n_hh), size)
    start = np.cumsum(size) - size
    pos = np.arange(total) - start[hh]
    hsize = size[hh]
    welfare = hidden["welfare"][hh]
    urban = hidden["urban"][hh]
    urban_f = urban.astype(float)
    head_age_hh = hidden["head_age"]
    ha = head_age_hh[hh]

    head_female_hh = rng.random(n_hh) < np.where(head_age_hh > 60, 0.4, 0.27)
    spouse_hh = (size >= 2) & (rng.random(n_hh) < np.where(head_female_hh, 0.22, 0.85))
    parent_hh = (size >= 3) & (rng.random(n_hh) < 0.08) & (head_age_hh < 60)
    head_female = head_female_hh[hh]

    # Relationship to head.
    role = np.full(total, CHILD, dtype=np.int64)
    _draw_into(
        rng,
        role,
        pos > 0,
        (CHILD, STEPCHILD, GRANDCHILD, SIBLING, OTHER_RELATIVE, NON_RELATIVE),
        (0.80, 0.03, 0.07, 0.04, 0.045, 0.015),
    )
    role = np.where((role == GRANDCHILD) & (ha < 38), CHILD, role)
    role = np.where((role == CHILD) & (ha >= 62) & (rng.random(total) < 0.5), GRANDCHILD, role)
    last = pos == hsize - 1
    in_law = rng.random(total) < 0.25
    role = np.where(last & parent_hh[hh], np.where(in_law, PARENT_IN_LAW, PARENT), role)
    role = np.where((pos == 1) & spouse_hh[hh], SPOUSE, role)
    role = np.where(pos == 0, HEAD, role)

    # Ages, by role.
    max_child = np.clip(ha - 16, 0, 45)
    max_grandchild = np.clip(ha - 34, 0, 25)
    age = np.select(
        [
            role == HEAD,
            role == SPOUSE,
            (role == CHILD) | (role == STEPCHILD),
            role == GRANDCHILD,
            (role == PARENT) | (role == PARENT_IN_LAW),
            role == SIBLING,
            role == OTHER_RELATIVE,
        ],
        [
            ha,
            np.clip(ha + np.where(head_female, 4, -4) + rng.normal(0, 4, total), 18, 104),
            np.floor(rng.beta(1.1, 1.7, total) * (max_child + 1)),
            np.floor(rng.beta(1.2, 2.0, total) * (max_grandchild + 1)),
            np.minimum(ha + 18 + rng.gamma(2.0, 5.0, total), 104),
            np.clip(ha + rng.normal(0, 7, total), 10, 104),
            rng.integers(0, 76, total),
        ],
        default=np.minimum(15 + rng.gamma(2.0, 6.0, total), 80),
    ).astype(np.int64)

    female = rng.random(total) < 0.49
    female = np.where(role == HEAD, head_female, female)
    female = np.where(role == SPOUSE, ~head_female ^ (rng.random(total) < 0.015), female)
    female = np.where((role == PARENT) | (role == PARENT_IN_LAW), rng.random(total) < 0.65, female)

    # Birth dates: a random day within the year of age, some only estimated.
    as_of_days = (as_of - EPOCH).days
    birth_days = as_of_days - np.floor(age * 365.25).astype(np.int64) - 1
    birth_days -= rng.integers(0, 364, total)
    estimated = rng.random(total) < np.select([age < 18, age < 50], [0.04, 0.12], 0.25)

    frame = pl.DataFrame(
        {
            "_hh": hh,
            "_pos": pos,
            "_birth_exact": pl.Series(birth_days).cast(pl.Int32).cast(pl.Date),
            "birth_date_estimated": estimated,
        }
    )
    birth = pl.col("_birth_exact")
    jan = pl.date(birth.dt.year(), 1, 1)
    jul = pl.date(birth.dt.year(), 7, 1)
    frame = frame.with_columns(
        birth_date=pl.when(pl.col("birth_date_estimated"))
        .then(pl.when(jul <= birth).then(jul).otherwise(jan))
        .otherwise(birth)
    )
    ref = pl.lit(as_of)
    bd = pl.col("birth_date")
    before_birthday = (ref.dt.month() < bd.dt.month()) | (
        (ref.dt.month() == bd.dt.month()) & (ref.dt.day() < bd.dt.day())
    )
    frame = frame.with_columns(
        _age=(ref.dt.year() - bd.dt.year() - before_birthday.cast(pl.Int32)).cast(pl.Int32)
    )
    age = frame["_age"].to_numpy().astype(np.int64)

    # Washington Group: severe difficulties rise steeply with age.
    p_disabled = np.select(
        [age < 5, age < 18, age < 50, age < 65, age < 80], [0.012, 0.025, 0.04, 0.10, 0.22], 0.42
    )
    disabled = rng.random(total) < p_disabled
    primary = rng.choice(6, size=total, p=[0.25, 0.15, 0.30, 0.15, 0.07, 0.08])
    p_mild = 0.02 + 0.004 * np.clip(age - 40, 0, None)
    wg = np.ones((total, 6), dtype=np.int64)
    for d in range(6):
        severe = disabled & ((primary == d) | (rng.random(total) < 0.12))
        mild = rng.random(total) < p_mild
        level = np.where(rng.random(total) < 0.25, 4, 3)
        wg[:, d] = np.where(severe, level, np.where(mild, 2, 1))
    severe_function = disabled & np.isin(primary, (2, 3, 4))

    # Schooling.
    p_enrol = np.select(
        [age < 3, age < 6, age < 18, age < 25],
        [
            0.0,
            _logistic(-1.0 + 0.8 * welfare + 1.0 * urban_f),
            _logistic(2.4 + 0.9 * welfare + 0.8 * urban_f - 0.35 * np.clip(age - 13, 0, None)),
            _logistic(-2.2 + 0.9 * welfare + 0.8 * urban_f),
        ],
        0.0,
    )
    p_enrol = np.where(severe_function, p_enrol * 0.5, p_enrol)
    enrolled = rng.random(total) < p_enrol
    adult_score = (
        welfare + 0.8 * urban_f + rng.standard_normal(total) - 0.02 * np.clip(age - 30, 0, None)
    )
    adult_level = np.array([0, 2, 3, 4, 5, 6])[
        np.searchsorted(np.array([-1.3, -0.1, 0.6, 1.5, 2.1]), adult_score)
    ]
    young_adult_level = np.where(rng.random(total) < 0.5, 5, 6)
    young_adult_level = np.where((age < 20) & (rng.random(total) < 0.4), 4, young_adult_level)
    school_level = np.select([age < 12, age < 15], [2, 3], 4)
    dropout_level = np.where(age < 9, 0, np.where((age >= 15) & (rng.random(total) < 0.3), 3, 2))
    education = np.select(
        [
            age < 3,
            age < 6,
            (age < 18) & enrolled,
            age < 18,
            (age < 25) & enrolled,
        ],
        [0, np.where(enrolled, 1, 0), school_level, dropout_level, young_adult_level],
        adult_level,
    )

    # Main activity, consistent with age, schooling and disability.
    activity = np.full(total, NO_ACTIVITY, dtype=np.int64)
    rural = ~urban
    is_female = female
    teen_out = (age >= 12) & (age < 18) & ~enrolled
    _draw_into(
        rng, activity, teen_out & rural, (AGRICULTURE, UNPAID, NO_ACTIVITY, HOMEMAKER),
        (0.35, 0.35, 0.2, 0.1),
    )  # fmt: skip
    _draw_into(
        rng, activity, teen_out & urban, (NO_ACTIVITY, SELF_EMPLOYED, HOMEMAKER, UNEMPLOYED),
        (0.5, 0.2, 0.15, 0.15),
    )  # fmt: skip
    working = (age >= 18) & (age < 60) & ~enrolled
    work_codes = (EMPLOYED, SELF_EMPLOYED, AGRICULTURE, UNPAID, HOMEMAKER, UNEMPLOYED, NO_ACTIVITY)
    _draw_into(rng, activity, working & rural & ~is_female, work_codes,
               (0.10, 0.14, 0.52, 0.07, 0.02, 0.09, 0.06))  # fmt: skip
    _draw_into(rng, activity, working & rural & is_female, work_codes,
               (0.05, 0.12, 0.40, 0.16, 0.20, 0.04, 0.03))  # fmt: skip
    _draw_into(rng, activity, working & urban & ~is_female, work_codes,
               (0.40, 0.28, 0.04, 0.02, 0.02, 0.17, 0.07))  # fmt: skip
    _draw_into(rng, activity, working & urban & is_female, work_codes,
               (0.28, 0.26, 0.03, 0.03, 0.22, 0.13, 0.05))  # fmt: skip
    older = (age >= 60) & (age < 65)
    old_codes = (RETIRED, AGRICULTURE, HOMEMAKER, SELF_EMPLOYED, EMPLOYED, NO_ACTIVITY)
    _draw_into(rng, activity, older, old_codes, (0.25, 0.25, 0.15, 0.15, 0.12, 0.08))
    _draw_into(rng, activity, age >= 65, old_codes, (0.52, 0.18, 0.12, 0.06, 0.02, 0.10))
    activity = np.where((age >= 6) & enrolled, STUDENT, activity)
    unable = severe_function & (age >= 18) & (rng.random(total) < 0.5)
    activity = np.where(unable, UNABLE, activity)

    occupation_index = rng.integers(0, 1000, total)
    occupation: pl.Series = pl.Series("occupation", [None] * total, dtype=pl.String)
    for code, titles in _OCCUPATIONS.items():
        named = pl.Series(list(titles)).gather(occupation_index % len(titles))
        occupation = pl.select(
            pl.when(pl.Series(activity == code)).then(named).otherwise(occupation)
        ).to_series()
    earner = np.isin(activity, (EMPLOYED, SELF_EMPLOYED, AGRICULTURE))
    household_total = hidden["consumption"][hh] * hsize
    income = np.round(
        household_total * rng.uniform(0.3, 0.9, total) * rng.lognormal(0, 0.3, total), 0
    )

    p_pregnant = np.select(
        [age < 15, age < 20, age < 35, age < 45, age < 50], [0, 0.05, 0.09, 0.04, 0.01], 0
    )
    pregnant = is_female & (rng.random(total) < p_pregnant)
    chronic = rng.random(total) < 0.02 + 0.0035 * age

    # Marital status.
    marital = np.zeros(total, dtype=np.int64)
    couple_status = np.where(rng.random(n_hh) < 0.88, 1, 2)[hh]
    in_couple = ((role == HEAD) & spouse_hh[hh]) | (role == SPOUSE)
    alone = ~in_couple & (age >= 15)
    m_codes = (0, 1, 2, 3, 4, 5)
    _draw_into(rng, marital, alone & (age < 25), m_codes, (0.85, 0.06, 0.03, 0.03, 0.03, 0))
    _draw_into(rng, marital, alone & (age >= 25) & (age < 60), m_codes,
               (0.40, 0.12, 0.03, 0.15, 0.12, 0.18))  # fmt: skip
    _draw_into(rng, marital, alone & (age >= 60), m_codes, (0.05, 0.12, 0.0, 0.08, 0.07, 0.68))
    marital = np.where(in_couple, couple_status, marital)

    # Phones and identity documents.
    adult = age >= 18
    p_phone = np.where(
        adult,
        _logistic(0.0 + 0.9 * welfare + 0.9 * urban_f + 0.8 * (role == HEAD)),
        np.where(age >= 15, _logistic(-2.0 + 0.9 * welfare + urban_f), 0.0),
    )
    has_phone = rng.random(total) < p_phone
    phone_digits = np.zeros(total, dtype=np.int64)
    phone_digits[has_phone] = _unique_numbers(rng, int(has_phone.sum()), 0, 100_000_000)
    p_nid = np.where(age >= 16, np.clip(0.72 + 0.12 * urban_f + 0.08 * (age >= 25), 0, 0.97), 0)
    has_nid = rng.random(total) < p_nid
    nid = np.zeros(total, dtype=np.int64)
    nid[has_nid] = _unique_numbers(rng, int(has_nid.sum()), 1_000_000_000, 9_000_000_000)
    has_bc = (age < 18) & (rng.random(total) < _logistic(0.8 + 0.5 * welfare + 0.8 * urban_f))
    bc = np.zeros(total, dtype=np.int64)
    bc[has_bc] = _unique_numbers(rng, int(has_bc.sum()), 100_000_000, 900_000_000)

    # Names: most members carry the head's family name.
    pools = name_pools()
    family_hh = zipf_draw(rng, FAMILY_POOL_SIZE, n_hh, 1.0)
    own_family = zipf_draw(rng, FAMILY_POOL_SIZE, total, 1.0)
    p_own = np.select(
        [role == SPOUSE, role == NON_RELATIVE, role == OTHER_RELATIVE, role == PARENT_IN_LAW,
         role == PARENT, role == SIBLING],
        [0.35, 1.0, 0.5, 1.0, 0.5, 0.1],
        0.02,
    )  # fmt: skip
    family = np.where(rng.random(total) < p_own, own_family, family_hh[hh])
    female_given = zipf_draw(rng, GIVEN_POOL_SIZE, total, 0.9)
    male_given = zipf_draw(rng, GIVEN_POOL_SIZE, total, 0.9)
    female_other = zipf_draw(rng, GIVEN_POOL_SIZE, total, 0.9)
    male_other = zipf_draw(rng, GIVEN_POOL_SIZE, total, 0.9)
    has_other = rng.random(total) < 0.25
    female_s = pl.Series(is_female)

    keys = households["household_key"].gather(hh)
    frame = frame.with_columns(
        pl.Series("household_key", keys),
        pl.Series("given_name", pools.female.gather(female_given)).alias("_gf"),
        pl.Series("given_name", pools.male.gather(male_given)).alias("_gm"),
        pl.Series("other_names", pools.female.gather(female_other)).alias("_of"),
        pl.Series("other_names", pools.male.gather(male_other)).alias("_om"),
        pl.Series("_female", female_s),
        pl.Series("_has_other", has_other),
        pl.Series("family_name", pools.family.gather(family)),
        pl.Series("relationship", _codes(RELATIONSHIPS, role, "relationship")),
        pl.Series("marital_status", _codes(MARITAL, marital, "marital_status")),
        *[pl.Series(f"wg_{name}", wg[:, d]) for d, name in enumerate(WG_DOMAINS)],
        pl.Series("education_level", _codes(EDUCATION, education, "education_level")),
        pl.Series("school_enrolled", enrolled),
        pl.Series("main_activity", _codes(ACTIVITIES, activity, "main_activity")),
        occupation.alias("occupation"),
        pl.Series("income", np.where(earner, income, np.nan)),
        pl.Series("pregnant", pregnant),
        pl.Series("chronic_illness", chronic),
        pl.Series("_phone", phone_digits),
        pl.Series("_has_phone", has_phone),
        pl.Series("_nid", nid),
        pl.Series("_has_nid", has_nid),
        pl.Series("_bc", bc),
        pl.Series("_has_bc", has_bc),
        pl.Series("_disabled", disabled),
        pl.Series("_wg_max", wg.max(axis=1)),
        pl.Series("_urban", urban),
        pl.Series("_district", households["_district"].to_numpy()[hh]),
        pl.Series("_consumption", hidden["consumption"][hh]),
    )
    digits = pl.col("_phone").cast(pl.String).str.zfill(8)
    frame = frame.with_columns(
        person_key=pl.concat_str(
            [pl.col("household_key"), pl.col("_pos").add(1).cast(pl.String).str.zfill(2)],
            separator="-",
        ),
        sex=pl.when(pl.col("_female")).then(pl.lit("female")).otherwise(pl.lit("male")),
        given_name=pl.when(pl.col("_female")).then(pl.col("_gf")).otherwise(pl.col("_gm")),
        other_names=pl.when(~pl.col("_has_other"))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("_female"))
        .then(pl.col("_of"))
        .otherwise(pl.col("_om")),
        income=pl.col("income").fill_nan(None),
        phone=pl.when(pl.col("_has_phone")).then(
            pl.concat_str(
                [
                    pl.lit("+999 7"),
                    digits.str.slice(0, 2),
                    pl.lit(" "),
                    digits.str.slice(2, 3),
                    pl.lit(" "),
                    digits.str.slice(5, 3),
                ]
            )
        ),
        id_national_id=pl.when(pl.col("_has_nid")).then(pl.col("_nid").cast(pl.String)),
        id_birth_certificate=pl.when(pl.col("_has_bc")).then(
            pl.concat_str([pl.lit("BC"), pl.col("_bc").cast(pl.String)])
        ),
    )
    # A given name doubled as the other name reads oddly; drop it.
    frame = frame.with_columns(
        other_names=pl.when(pl.col("other_names") == pl.col("given_name"))
        .then(None)
        .otherwise(pl.col("other_names"))
    )
    return frame.select(
        *PERSON_COLUMNS,
        "_hh",
        "_age",
        "_disabled",
        "_wg_max",
        "_urban",
        "_district",
        "_consumption",
    )
