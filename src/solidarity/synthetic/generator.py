"""Generate the synthetic country into a directory of CSV (or Parquet) and YAML files."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import yaml

from solidarity.registry.fields import codelists
from solidarity.synthetic import SyntheticError
from solidarity.synthetic.geography import build_geography
from solidarity.synthetic.population import (
    ACTIVITIES,
    CURRENCY,
    EDUCATION,
    HOUSEHOLD_COLUMNS,
    MARITAL,
    PERSON_COLUMNS,
    RELATIONSHIPS,
    build_population,
)
from solidarity.synthetic.programmes import build_programmes, catalogue
from solidarity.synthetic.registry_duplicates import plant_registry_duplicates
from solidarity.synthetic.setup_files import write_setup_files

FileFormat = Literal["csv", "parquet"]
#: The date the country is observed at: ages, enrolments and journeys are as of this day.
AS_OF = date(2025, 6, 30)
#: Share of districts hit by the drought that the emergency cash responds to.
SHOCK_DISTRICT_SHARE = 0.15


@dataclass(frozen=True)
class SyntheticCountry:
    """What ``generate`` wrote.

    ``households`` and ``persons`` count the rows written (registry duplicates included).
    """

    out_dir: Path
    households: int
    persons: int
    files: dict[str, Path]
    seed: int = 1
    poverty_line: float = 0.0
    poverty_rate: float = 0.0
    """Share of persons (excluding planted duplicates) below the poverty line."""
    seconds: float = 0.0
    programmes: tuple[str, ...] = field(default_factory=tuple)


def _check_codes() -> None:
    """Fail loudly if the registry's code lists no longer hold the codes used here."""
    lists = codelists()
    used = {
        "relationship": RELATIONSHIPS,
        "marital_status": MARITAL,
        "education_level": EDUCATION,
        "main_activity": ACTIVITIES,
    }
    for name, codes in used.items():
        missing = set(codes) - set(lists[name])
        if missing:
            raise SyntheticError(f"codes {sorted(missing)} are not in the {name} code list")


def generate(
    out_dir: Path,
    households: int = 10_000,
    seed: int = 1,
    file_format: FileFormat = "csv",
    *,
    registry_duplicate_rate: float = 0.0,
    as_of: date = AS_OF,
    progress: Callable[[str], None] | None = None,
) -> SyntheticCountry:
    """Write a reproducible synthetic country into ``out_dir``.

    Args:
        out_dir: Directory to write into (created if missing; files are overwritten).
        households: Number of households in the registry.
        seed: Random seed; the same seed writes byte-identical files.
        file_format: ``csv`` or ``parquet`` for the tabular files (areas stay CSV).
        registry_duplicate_rate: Share of households registered a second time
            under new keys with corrupted fields (0 keeps the registry clean).
        as_of: The observation date of the country.
        progress: Called with the name of each stage as it starts.

    Returns:
        The counts and the paths of the files written.

    Raises:
        SyntheticError: A parameter is out of range.
    """
    if households < 1:
        raise SyntheticError("households must be at least 1")
    if file_format not in ("csv", "parquet"):
        raise SyntheticError(f"unknown file format {file_format!r}: use csv or parquet")
    if not 0.0 <= registry_duplicate_rate <= 0.5:
        raise SyntheticError("registry_duplicate_rate must be between 0 and 0.5")
    _check_codes()
    started = time.perf_counter()
    step = progress or (lambda _: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(seed).spawn(4)
    geo_rng, pop_rng, prog_rng, dup_rng = (np.random.default_rng(s) for s in streams)

    step("areas")
    geo = build_geography(geo_rng, households)
    step("households and persons")
    pop = build_population(pop_rng, geo, households, as_of)
    step("programmes and beneficiary lists")
    shock = np.sort(
        geo_rng.choice(
            geo.district_count,
            size=max(1, round(SHOCK_DISTRICT_SHARE * geo.district_count)),
            replace=False,
        )
    )
    programmes = build_programmes(prog_rng, pop, shock, as_of)

    household_rows = pop.households
    person_rows = pop.persons
    duplicates = None
    if registry_duplicate_rate > 0:
        step("registry duplicates")
        duplicates = plant_registry_duplicates(
            dup_rng, household_rows, person_rows, registry_duplicate_rate, as_of
        )
        household_rows = pl.concat([household_rows, duplicates.households])
        person_rows = pl.concat([person_rows, duplicates.persons])

    step("writing files")
    files: dict[str, Path] = {}

    def write(name: str, frame: pl.DataFrame, fmt: FileFormat = file_format) -> None:
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            frame.write_csv(path)
        else:
            frame.write_parquet(path, compression="zstd", statistics=False)
        files[name] = path

    write("areas", geo.areas, "csv")
    write("households", household_rows.select(HOUSEHOLD_COLUMNS))
    write("persons", person_rows.select(PERSON_COLUMNS))
    write("programmes", programmes.programmes)
    for code, listing in programmes.beneficiaries.items():
        write(f"beneficiaries_{code}", listing)
    write("journey_events", programmes.journey_events)
    write("ground_truth_links", programmes.links)
    write("ground_truth_eligibility", programmes.eligibility)
    write("ground_truth_programmes", programmes.quality)
    if duplicates is not None:
        write("ground_truth_duplicates", duplicates.truth)
    drought = geo.community_code.filter(pl.Series(np.isin(geo.community_district, shock))).to_list()
    files.update(
        write_setup_files(
            out_dir, programmes.programmes, pop.poverty_line, drought, CURRENCY, as_of
        )
    )

    poor = pop.persons.select((pl.col("_consumption") < pop.poverty_line).sum()).item()
    poverty_rate = int(poor) / max(pop.persons.height, 1)
    line_path = out_dir / "poverty_line.yaml"
    line_path.write_text(
        yaml.safe_dump(
            {
                "poverty_line": pop.poverty_line,
                "currency": CURRENCY,
                "period": "month",
                "measure": "consumption_per_capita",
                "poverty_rate_persons": round(poverty_rate, 4),
            },
            sort_keys=False,
        )
    )
    files["poverty_line"] = line_path
    readme = out_dir / "README.txt"
    readme.write_text(
        _readme(seed, households, registry_duplicate_rate, as_of, files, out_dir, readme)
    )
    files["readme"] = readme
    return SyntheticCountry(
        out_dir=out_dir,
        households=household_rows.height,
        persons=person_rows.height,
        files=files,
        seed=seed,
        poverty_line=pop.poverty_line,
        poverty_rate=poverty_rate,
        seconds=time.perf_counter() - started,
        programmes=tuple(p.code for p in catalogue()),
    )


def _readme(
    seed: int,
    households: int,
    duplicate_rate: float,
    as_of: date,
    files: dict[str, Path],
    out_dir: Path,
    readme: Path,
) -> str:
    listed = "\n".join(f"  {path.relative_to(out_dir)}" for path in files.values())
    return (
        "Synthetic country generated by solidarity.synthetic (invented people and places).\n"
        f"seed: {seed}\n"
        f"households requested: {households}\n"
        f"registry duplicate rate: {duplicate_rate}\n"
        f"observed as of: {as_of.isoformat()}\n"
        "files:\n"
        f"{listed}\n  {readme.name}\n"
        "See docs/synthetic-country.md for every file and column.\n"
    )
