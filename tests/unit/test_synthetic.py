"""The synthetic country: reproducible, importable, realistic, with planted errors reported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import typer
import yaml
from typer.testing import CliRunner

from solidarity.registry.fields import codelists
from solidarity.synthetic import SyntheticError
from solidarity.synthetic.cli import app as synth_app
from solidarity.synthetic.generator import AS_OF, SyntheticCountry, generate
from solidarity.synthetic.population import HOUSEHOLD_COLUMNS, PERSON_COLUMNS
from solidarity.synthetic.programmes import BENEFICIARY_COLUMNS, catalogue

HOUSEHOLDS = 300


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCountry:
    return generate(tmp_path_factory.mktemp("country"), households=HOUSEHOLDS, seed=7)


def _read(country: SyntheticCountry, name: str) -> pl.DataFrame:
    return pl.read_csv(country.files[name], infer_schema=False)


def test_every_file_is_written_with_its_columns(country: SyntheticCountry) -> None:
    expected = {
        "areas": ["code", "name", "level", "level_name", "parent_code"],
        "households": list(HOUSEHOLD_COLUMNS),
        "persons": list(PERSON_COLUMNS),
        "journey_events": [
            "programme_code", "beneficiary_id", "person_key", "household_key", "event", "date",
            "reason",
        ],
        "ground_truth_eligibility": [
            "household_key", "programme_code", "eligible", "eligible_persons",
        ],
    }  # fmt: skip
    for name, columns in expected.items():
        assert _read(country, name).columns == columns, name
    programmes = _read(country, "programmes")
    assert 8 <= programmes.height <= 12
    for column in ("instrument", "lifecycle_group", "risk", "targeting_method", "eligibility"):
        assert programmes[column].null_count() == 0
    for code in programmes["code"]:
        assert _read(country, f"beneficiaries_{code}").columns == list(BENEFICIARY_COLUMNS)
    links = _read(country, "ground_truth_links")
    assert links.columns[:3] == ["programme_code", "beneficiary_id", "person_key"]
    assert "ground_truth_duplicates" not in country.files
    line = yaml.safe_load(country.files["poverty_line"].read_text())
    assert line["period"] == "month" and line["poverty_line"] > 0 and line["currency"]
    assert "seed: 7" in country.files["readme"].read_text()


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", households=120, seed=3)
    second = generate(tmp_path / "b", households=120, seed=3)
    other = generate(tmp_path / "c", households=120, seed=4)
    assert first.files.keys() == second.files.keys()
    for name, path in first.files.items():
        if name != "readme":
            assert path.read_bytes() == second.files[name].read_bytes(), name
    assert first.files["persons"].read_bytes() != other.files["persons"].read_bytes()


def test_areas_form_a_three_level_hierarchy(country: SyntheticCountry) -> None:
    areas = _read(country, "areas")
    seen: set[str] = set()
    for code, level, parent in areas.select("code", "level", "parent_code").iter_rows():
        assert (parent is None) == (level == "0")
        assert parent is None or parent in seen  # parents come first
        seen.add(code)
    assert areas["code"].is_unique().all()
    communities = set(areas.filter(pl.col("level") == "2")["code"])
    assert set(_read(country, "households")["area_code"]) <= communities


def test_each_household_has_exactly_one_head(country: SyntheticCountry) -> None:
    persons = _read(country, "persons")
    heads = persons.filter(pl.col("relationship") == "head").group_by("household_key").len()
    households = _read(country, "households")
    assert heads.height == households.height
    assert (heads["len"] == 1).all()
    assert set(persons["household_key"]) == set(households["household_key"])


def test_code_values_come_from_the_code_lists(country: SyntheticCountry) -> None:
    lists = codelists()
    households = _read(country, "households")
    persons = _read(country, "persons")
    for column in ("urban_rural", "roof", "wall", "floor", "water_source", "sanitation"):
        assert set(households[column]) <= set(lists[column]), column
    assert set(households["cooking_fuel"]) <= set(lists["cooking_fuel"])
    for column in ("sex", "relationship", "marital_status", "education_level", "main_activity"):
        assert set(persons[column].drop_nulls()) <= set(lists[column]), column
    for column in PERSON_COLUMNS:
        if column.startswith("wg_"):
            assert set(persons[column].cast(pl.Int64)) <= set(lists["washington_group"])
    for frame, columns in ((households, HOUSEHOLD_COLUMNS), (persons, PERSON_COLUMNS)):
        for column in columns:
            values = set(frame[column].drop_nulls())
            if values <= {"true", "false"} and values:
                assert column in {
                    "electricity", "birth_date_estimated", "school_enrolled", "pregnant",
                    "chronic_illness",
                } or column.startswith("asset_")  # fmt: skip


def test_poverty_rate_is_a_quarter_to_a_third(country: SyntheticCountry) -> None:
    assert 0.22 <= country.poverty_rate <= 0.36
    households = _read(country, "households").with_columns(
        pl.col("consumption_per_capita").cast(pl.Float64)
    )
    persons = _read(country, "persons").join(households, on="household_key")
    line = yaml.safe_load(country.files["poverty_line"].read_text())["poverty_line"]
    assert 0.22 <= (persons["consumption_per_capita"] < line).mean() <= 0.36  # type: ignore[operator]


def test_identifiers_are_unique(country: SyntheticCountry) -> None:
    persons = _read(country, "persons")
    households = _read(country, "households")
    assert households["household_key"].is_unique().all()
    assert persons["person_key"].is_unique().all()
    for column in ("id_national_id", "id_birth_certificate"):
        assert persons[column].drop_nulls().is_unique().all()
    assert persons["id_national_id"].drop_nulls().str.contains(r"^\d{10}$").all()
    assert households["household_key"].str.contains(r"^HH\d{7}$").all()


def test_ages_and_life_events_are_plausible(country: SyntheticCountry) -> None:
    persons = _read(country, "persons").with_columns(
        pl.col("birth_date").str.to_date("%Y-%m-%d"),
        ((pl.lit(AS_OF) - pl.col("birth_date").str.to_date("%Y-%m-%d")).dt.total_days() / 365.25)
        .floor()
        .alias("age"),
    )
    assert persons["birth_date"].max() <= AS_OF  # type: ignore[operator]
    assert persons["age"].max() <= 105  # type: ignore[operator]
    heads = persons.filter(pl.col("relationship") == "head")
    assert heads["age"].min() >= 18  # type: ignore[operator]
    children = persons.filter(pl.col("relationship") == "child").join(
        heads.select("household_key", head_birth="birth_date"), on="household_key"
    )
    gap = (children["birth_date"] - children["head_birth"]).dt.total_days()
    assert (gap >= 15 * 365).all()
    pregnant = persons.filter(pl.col("pregnant") == "true")
    assert (pregnant["sex"] == "female").all()
    assert pregnant["age"].is_between(15, 49).all()
    assert 3.3 <= persons.height / heads.height <= 4.7
    young = persons.filter(pl.col("age").is_between(6, 17))
    assert (young["school_enrolled"] == "true").mean() > 0.7  # type: ignore[operator]
    assert (persons.filter(pl.col("age") < 6)["main_activity"] == "none").all()
    estimated = persons.filter(pl.col("birth_date_estimated") == "true")
    assert 0.04 < estimated.height / persons.height < 0.2
    assert estimated["birth_date"].dt.day().eq(1).all()
    assert estimated["birth_date"].dt.month().is_in([1, 7]).all()
    wg = persons.select(pl.max_horizontal(pl.col("^wg_.*$").cast(pl.Int64)) >= 3).to_series()
    assert 0.02 < wg.mean() < 0.12  # type: ignore[operator]
    adults = persons.filter(pl.col("age") >= 16)
    assert 0.75 < adults["id_national_id"].is_not_null().mean() < 0.95  # type: ignore[operator]


def test_beneficiary_lists_carry_the_planted_errors(country: SyntheticCountry) -> None:
    links = _read(country, "ground_truth_links")
    persons = _read(country, "persons")
    assert set(links["person_key"]) <= set(persons["person_key"])
    duplicates = links.filter(pl.col("duplicate_of").is_not_null())
    assert duplicates.height > 0
    # A duplicate record is the same person as the record it duplicates.
    original = links.select(
        pl.col("beneficiary_id").alias("duplicate_of"), pl.col("person_key").alias("original")
    )
    pairs = duplicates.join(original, on="duplicate_of")
    assert (pairs["person_key"] == pairs["original"]).all()
    typos = links.filter(pl.col("corruptions").str.contains("name_typo"))
    assert typos.height > 0
    code, beneficiary_id, person_key = typos.row(0)[:3]
    listing = _read(country, f"beneficiaries_{code}").filter(
        pl.col("beneficiary_id") == beneficiary_id
    )
    person = persons.filter(pl.col("person_key") == person_key)
    listed = (listing["given_name"][0] + listing["family_name"][0]).lower()
    real = (person["given_name"][0] + person["family_name"][0]).lower()
    assert listed != real
    assert links["inclusion_error"].eq("true").any()
    quality = _read(country, "ground_truth_programmes")
    assert (quality["exclusion_error_rate"].cast(pl.Float64) > 0).all()
    eligibility = _read(country, "ground_truth_eligibility")
    assert eligibility.height == HOUSEHOLDS * len(catalogue())
    events = _read(country, "journey_events")
    assert set(events["event"]) <= {
        "applied", "assessed", "eligibility_decided", "enrolled", "first_paid", "exited",
    }  # fmt: skip


def test_child_grant_and_bursary_leave_age_15_uncovered() -> None:
    by_code = {p.code: p for p in catalogue()}
    frame = pl.DataFrame(
        {
            "_age": [14, 15, 16],
            "_consumption": [10.0, 10.0, 10.0],
            "school_enrolled": [True, True, True],
        }
    )
    grant = frame.select(by_code["CGR"].rule(100.0)).to_series().to_list()
    bursary = frame.select(by_code["SBY"].rule(100.0)).to_series().to_list()
    assert grant == [True, False, False]
    assert bursary == [False, False, True]


def test_registry_duplicates_are_planted_on_request(tmp_path: Path) -> None:
    result = generate(tmp_path, households=200, seed=2, registry_duplicate_rate=0.1)
    households = pl.read_csv(result.files["households"], infer_schema=False)
    persons = pl.read_csv(result.files["persons"], infer_schema=False)
    truth = pl.read_csv(result.files["ground_truth_duplicates"], infer_schema=False)
    assert households.height == 220 == result.households
    assert truth.height > 0
    assert set(truth["duplicate_person_key"]) <= set(persons["person_key"])
    assert persons["person_key"].is_unique().all()
    assert persons["id_national_id"].drop_nulls().is_unique().all()
    heads = persons.filter(pl.col("relationship") == "head").group_by("household_key").len()
    assert heads.height == households.height and (heads["len"] == 1).all()
    assert persons["birth_date"].str.to_date("%Y-%m-%d").max() <= date.today()  # type: ignore[operator]


def test_parquet_variant(tmp_path: Path) -> None:
    result = generate(tmp_path, households=100, seed=1, file_format="parquet")
    assert result.files["areas"].suffix == ".csv"
    assert result.files["households"].suffix == ".parquet"
    persons = pl.read_parquet(result.files["persons"])
    assert persons.columns == list(PERSON_COLUMNS)
    assert persons.height == result.persons
    assert persons.schema["birth_date"] == pl.Date
    again = generate(tmp_path / "again", households=100, seed=1, file_format="parquet")
    assert again.files["persons"].read_bytes() == result.files["persons"].read_bytes()


def test_bad_parameters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SyntheticError):
        generate(tmp_path, households=0)
    with pytest.raises(SyntheticError):
        generate(tmp_path, households=10, registry_duplicate_rate=0.9)


def test_cli_writes_a_country_and_prints_a_summary(tmp_path: Path) -> None:
    root = typer.Typer()
    root.add_typer(synth_app, name="synth")
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        root, ["synth", "--households", "50", "--seed", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "households.csv").exists()
    assert "poverty rate" in result.output
