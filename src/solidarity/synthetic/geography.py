"""The country's administrative areas: regions, districts and communities."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from solidarity.synthetic.names import place_names

#: Households per community the generator aims at.
HOUSEHOLDS_PER_COMMUNITY = 300
LEVEL_NAMES = ("region", "district", "community")

# An invented country somewhere in the southern tropics.
_LAT_RANGE = (-16.5, -9.5)
_LON_RANGE = (27.5, 34.5)


@dataclass(frozen=True)
class Geography:
    """The area hierarchy and, per community, what the population draws depend on."""

    areas: pl.DataFrame
    """``code, name, level, level_name, parent_code``, parents before children."""
    community_code: pl.Series
    community_name: pl.Series
    community_district: np.ndarray
    community_region: np.ndarray
    community_urban: np.ndarray
    community_latitude: np.ndarray
    community_longitude: np.ndarray
    community_effect: np.ndarray
    """Area effect on log consumption (regional and local)."""
    community_weight: np.ndarray
    """Relative number of households."""
    district_count: int


def build_geography(rng: np.random.Generator, households: int) -> Geography:
    """Lay out regions, districts and communities scaled to the number of households."""
    regions = int(np.clip(round(1.5 + math.log10(max(households, 10))), 4, 10))
    districts_per_region = rng.integers(4, 9, size=regions)
    districts = int(districts_per_region.sum())
    district_region = np.repeat(np.arange(regions), districts_per_region)
    communities_target = max(districts, round(households / HOUSEHOLDS_PER_COMMUNITY))
    # Every district gets at least one community; the rest are spread unevenly.
    district_share = rng.dirichlet(np.full(districts, 4.0))
    extra = rng.multinomial(communities_target - districts, district_share)
    communities_per_district = 1 + extra
    communities = int(communities_per_district.sum())
    community_district = np.repeat(np.arange(districts), communities_per_district)
    community_region = district_region[community_district]

    names = place_names(rng, regions + districts + communities)
    region_names = names[:regions]
    district_names = names[regions : regions + districts]
    community_names = names[regions + districts :]

    region_codes = [f"R{r + 1:02d}" for r in range(regions)]
    district_number = np.concatenate([np.arange(1, n + 1) for n in districts_per_region])
    district_codes = [
        f"{region_codes[r]}-D{d:02d}" for r, d in zip(district_region, district_number, strict=True)
    ]
    width = max(3, len(str(int(communities_per_district.max()))))
    community_number = np.concatenate([np.arange(1, n + 1) for n in communities_per_district])
    community_codes = [
        f"{district_codes[d]}-C{c:0{width}d}"
        for d, c in zip(community_district, community_number, strict=True)
    ]

    # The first community of each district is its town; a few others are urban too.
    first_of_district = community_number == 1
    urban = (first_of_district & (rng.random(communities) < 0.6)) | (rng.random(communities) < 0.25)

    region_lat = rng.uniform(*_LAT_RANGE, size=regions)
    region_lon = rng.uniform(*_LON_RANGE, size=regions)
    district_lat = region_lat[district_region] + rng.normal(0, 0.6, size=districts)
    district_lon = region_lon[district_region] + rng.normal(0, 0.6, size=districts)
    community_lat = district_lat[community_district] + rng.normal(0, 0.15, size=communities)
    community_lon = district_lon[community_district] + rng.normal(0, 0.15, size=communities)

    region_effect = rng.normal(0, 0.12, size=regions)
    # The capital region is richer.
    region_effect[0] += 0.15
    effect = region_effect[community_region] + rng.normal(0, 0.12, size=communities)
    weight = np.where(urban, 1.6, 1.0) * rng.gamma(8.0, 1 / 8.0, size=communities)

    areas = pl.DataFrame(
        {
            "code": region_codes + district_codes + community_codes,
            "name": region_names + district_names + community_names,
            "level": [0] * regions + [1] * districts + [2] * communities,
            "level_name": [LEVEL_NAMES[0]] * regions
            + [LEVEL_NAMES[1]] * districts
            + [LEVEL_NAMES[2]] * communities,
            "parent_code": [None] * regions
            + [region_codes[r] for r in district_region]
            + [district_codes[d] for d in community_district],
        },
        schema={
            "code": pl.String,
            "name": pl.String,
            "level": pl.Int32,
            "level_name": pl.String,
            "parent_code": pl.String,
        },
    )
    return Geography(
        areas=areas,
        community_code=pl.Series("area_code", community_codes),
        community_name=pl.Series("community_name", community_names),
        community_district=community_district,
        community_region=community_region,
        community_urban=urban,
        community_latitude=community_lat,
        community_longitude=community_lon,
        community_effect=effect,
        community_weight=weight,
        district_count=districts,
    )
