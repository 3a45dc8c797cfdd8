"""Bulk intake on SQLite and PostgreSQL: validation rules, all-or-nothing, rejects, resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from solidarity.db.engine import unit_of_work
from solidarity.errors import ValidationFailed
from solidarity.registry.export import export_registry
from solidarity.registry.intake.service import import_files
from solidarity.registry.models import Household, Identifier, ImportRun, Person
from tests.registry_files import households, load_test_areas, persons, registry_files, write_csv

Rows = list[dict[str, Any]]


def counts(engine: Engine) -> tuple[int, int, int]:
    with unit_of_work(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Household)) or 0,
            s.scalar(select(func.count()).select_from(Person)) or 0,
            s.scalar(select(func.count()).select_from(Identifier)) or 0,
        )


@pytest.fixture
def areas(engine: Engine) -> Engine:
    load_test_areas(engine)
    return engine


def edit(index: int, **values: Any) -> Callable[[Rows], Rows]:
    def apply(rows: Rows) -> Rows:
        rows[index].update(values)
        return rows

    return apply


def drop_column(name: str) -> Callable[[Rows], Rows]:
    return lambda rows: [{k: v for k, v in r.items() if k != name} for r in rows]


# (rule, which file, spoiler, expected line of the error, expected column)
CASES: list[tuple[str, str, Callable[[Rows], Rows], int | None, str]] = [
    ("required", "persons", edit(1, given_name=""), 3, "given_name"),
    ("type", "persons", edit(0, birth_date="1980-13-01"), 2, "birth_date"),
    ("type", "households", edit(0, land_hectares="lots"), 2, "land_hectares"),
    ("type", "households", edit(1, electricity="maybe"), 3, "electricity"),
    ("codelist", "persons", edit(2, sex="femme"), 4, "sex"),
    ("codelist", "persons", edit(2, wg_seeing="7"), 4, "wg_seeing"),
    ("range", "households", edit(0, livestock_cattle="-1"), 2, "livestock_cattle"),
    ("max_length", "persons", edit(0, given_name="x" * 201), 2, "given_name"),
    ("date_future", "persons", edit(2, birth_date="2099-01-01"), 4, "birth_date"),
    ("date_future", "households", edit(2, registration_date="2099-01-01"), 4, "registration_date"),
    ("age_plausible", "persons", edit(1, birth_date="1850-01-01"), 3, "birth_date"),
    ("missing_column", "persons", drop_column("family_name"), None, "family_name"),
    ("duplicate_key", "households", edit(1, household_key="H1"), 2, "household_key"),
    ("unknown_area", "households", edit(0, area_code="ZZ-9"), 2, "area_code"),
    ("unknown_household", "persons", edit(4, household_key="H99"), 6, "household_key"),
    ("one_head", "persons", edit(0, relationship="spouse"), 2, "relationship"),
    ("one_head", "persons", edit(1, relationship="head"), 2, "relationship"),
    ("head_age", "persons", edit(0, birth_date="2020-01-01"), 2, "birth_date"),
    ("relationship_age", "persons", edit(2, birth_date="1960-01-01"), 4, "birth_date"),
    ("consistency", "persons", edit(1, pregnant="true"), 3, "pregnant"),
    ("duplicate_identifier", "persons", edit(1, id_national_id="NID00001"), 2, "id_national_id"),
    ("duplicate_key", "persons", edit(1, person_key="P1a"), 2, "person_key"),
]


@pytest.mark.parametrize(
    ("rule", "which", "spoil", "line", "column"), CASES, ids=[f"{c[0]}-{c[4]}" for c in CASES]
)
def test_each_rule_refuses_the_file_and_changes_nothing(
    areas: Engine,
    tmp_path: Path,
    rule: str,
    which: str,
    spoil: Callable[[Rows], Rows],
    line: int | None,
    column: str,
) -> None:
    files = registry_files(tmp_path, **{which: spoil})
    outcome = import_files(areas, files, report_dir=tmp_path / "reports")
    assert outcome.status == "refused"
    matching = [e for e in outcome.errors if e.rule == rule]
    assert matching, [e.model_dump() for e in outcome.errors]
    assert any(e.row == line and e.column == column for e in matching), [
        e.model_dump() for e in matching
    ]
    assert all(e.message for e in outcome.errors)
    assert counts(areas) == (0, 0, 0)
    # The report file lists the same errors.
    assert outcome.report_path is not None
    report = list(csv.DictReader(outcome.report_path.open()))
    assert {r["rule"] for r in report} >= {rule}
    assert len(report) == outcome.error_count


def test_households_without_members_are_refused(areas: Engine, tmp_path: Path) -> None:
    hh, people = households(3), persons(2)
    outcome = import_files(
        areas, [write_csv(tmp_path / "h.csv", hh), write_csv(tmp_path / "p.csv", people)]
    )
    assert [(e.rule, e.household_key) for e in outcome.errors] == [("no_members", "H3")]


def test_identifier_already_in_registry_is_refused(areas: Engine, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    assert import_files(areas, registry_files(first, n=1)).status == "succeeded"
    other = tmp_path / "other"
    other.mkdir()
    # Another source sends a different household holding the same national ID.
    outcome = import_files(areas, registry_files(other, n=1), source="ministry-b")
    assert outcome.status == "refused"
    assert {e.rule for e in outcome.errors} == {"identifier_in_registry"}
    assert counts(areas) == (1, 3, 3)


def test_valid_files_import_every_field(areas: Engine, tmp_path: Path) -> None:
    outcome = import_files(areas, registry_files(tmp_path, n=3))
    assert outcome.status == "succeeded"
    assert (outcome.households_imported, outcome.persons_imported) == (3, 9)
    assert counts(areas) == (3, 9, 9)
    with unit_of_work(areas) as s:
        head = s.scalars(select(Person).where(Person.source_key == "P2a")).one()
        assert (head.given_name, head.sex, head.relationship, head.birth_date.isoformat()) == (
            "Amina",
            "female",
            "head",
            "1980-05-01",
        )
        household = s.get(Household, head.household_id)
        assert household is not None
        assert household.electricity is False and household.land_hectares == 1.5
        assert household.livestock_cattle == 2 and household.version == 1
        assert head.area_id == household.area_id
        ids = s.scalars(select(Identifier).where(Identifier.person_id == head.id)).all()
        assert [(i.id_type, i.value, i.active) for i in ids] == [("national_id", "NID00002", True)]
        run = s.get(ImportRun, outcome.import_run_id)
        assert run is not None and run.status == "succeeded" and run.households_imported == 3


def test_reimport_is_idempotent(areas: Engine, tmp_path: Path) -> None:
    files = registry_files(tmp_path, n=3)
    import_files(areas, files)
    again = import_files(areas, files)
    assert again.status == "succeeded"
    assert (again.households_imported, again.households_skipped) == (0, 3)
    assert counts(areas) == (3, 9, 9)


def test_accept_valid_then_reimport_corrected_rejects(areas: Engine, tmp_path: Path) -> None:
    files = registry_files(tmp_path, n=4, persons=edit(4, sex="M"))  # household H2 is bad
    outcome = import_files(areas, files, accept_valid=True, report_dir=tmp_path / "out")
    assert outcome.status == "partial"
    assert (outcome.households_imported, outcome.households_rejected) == (3, 1)
    assert counts(areas)[0:2] == (3, 9)
    assert len(outcome.rejects_paths) == 2
    rejected = {p.name: pl.read_csv(p, infer_schema=False) for p in outcome.rejects_paths}
    people = (
        rejected["persons.rejected-1.csv"]
        if "persons.rejected-1.csv" in rejected
        else next(f for n, f in rejected.items() if n.startswith("persons"))
    )
    assert sorted(people["household_key"].to_list()) == ["H2", "H2", "H2"]
    assert "Sex must be one of" in people.filter(pl.col("sex") == "M")["import_errors"][0]
    # Correct the rejected rows and import the corrected files: everything arrives once.
    fixed = [p.with_name(p.name.replace(".rejected", ".fixed")) for p in outcome.rejects_paths]
    for src, dst in zip(outcome.rejects_paths, fixed, strict=True):
        frame = pl.read_csv(src, infer_schema=False)
        if "sex" in frame.columns:
            frame = frame.with_columns(pl.col("sex").replace({"M": "male"}))
        frame.write_csv(dst)
    second = import_files(areas, fixed)
    assert second.status == "succeeded", [e.model_dump() for e in second.errors]
    assert second.households_imported == 1
    assert counts(areas)[0:2] == (4, 12)


def test_mapping_file_brings_in_a_kobo_export(areas: Engine, tmp_path: Path) -> None:
    rows = []
    for p in persons(2):
        hh = next(h for h in households(2) if h["household_key"] == p["household_key"])
        rows.append(
            {
                "_index": "1",
                "hh/hh_id": p["household_key"],
                "hh/area": hh["area_code"],
                "member/pid": p["person_key"],
                "member/first": p["given_name"],
                "member/last": p["family_name"],
                "member/gender": {"female": "F", "male": "M"}[p["sex"]],
                "member/dob": "/".join(reversed(p["birth_date"].split("-"))),
                "member/rel": p["relationship"],
                "member/nid": p.get("id_national_id", ""),
            }
        )
    export = write_csv(tmp_path / "kobo.csv", rows)
    mapping = tmp_path / "kobo.yaml"
    mapping.write_text(
        "columns:\n  hh_id: household_key\n  area: area_code\n  pid: person_key\n"
        "  first: given_name\n  last: family_name\n  gender: sex\n  dob: birth_date\n"
        "  rel: relationship\n  nid: id_national_id\n"
        "values:\n  sex: {F: female, M: male}\n"
        "dates:\n  birth_date: '%d/%m/%Y'\n"
    )
    outcome = import_files(areas, [export], mapping_file=mapping)
    assert outcome.status == "succeeded", [e.model_dump() for e in outcome.errors]
    assert outcome.ignored_columns == ["kobo.csv:_index"]
    assert counts(areas)[0:2] == (2, 6)
    with unit_of_work(areas) as s:
        child = s.scalars(select(Person).where(Person.source_key == "P1c")).one()
        assert (child.sex, child.birth_date.isoformat()) == ("female", "2012-09-30")


def test_mapping_to_unknown_field_is_refused(areas: Engine, tmp_path: Path) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text("columns:\n  nom: surname\n")
    with pytest.raises(Exception, match="unknown field"):
        import_files(areas, registry_files(tmp_path), mapping_file=mapping)
    assert counts(areas) == (0, 0, 0)


def test_combined_file_checks_household_fields_agree(areas: Engine, tmp_path: Path) -> None:
    hh = {h["household_key"]: h for h in households(2)}
    rows = [{**hh[p["household_key"]], **p} for p in persons(2)]
    good = import_files(areas, [write_csv(tmp_path / "all.csv", rows)], source="combined")
    assert good.status == "succeeded" and good.households_imported == 2
    rows[1]["roof"] = "tiles"
    for r in rows:
        r["household_key"] = "X" + r["household_key"]
        r["person_key"] = "X" + r["person_key"]
        r.pop("id_national_id", None)
        r.pop("id_birth_certificate", None)
    bad = import_files(areas, [write_csv(tmp_path / "bad.csv", rows)], source="combined")
    assert bad.status == "refused"
    assert [(e.rule, e.column, e.household_key) for e in bad.errors] == [
        ("household_consistency", "roof", "XH1")
    ]


def test_xlsx_and_parquet_files(areas: Engine, tmp_path: Path) -> None:
    h, p = registry_files(tmp_path, n=2)
    book = tmp_path / "registry.xlsx"
    import xlsxwriter

    with xlsxwriter.Workbook(book) as wb:
        for name, path in (("households", h), ("persons", p)):
            sheet = wb.add_worksheet(name)
            for r, row in enumerate(csv.reader(path.open())):
                for c, value in enumerate(row):
                    sheet.write_string(r, c, value)
    assert import_files(areas, [book], source="xlsx").households_imported == 2
    hp, pp = tmp_path / "h.parquet", tmp_path / "p.parquet"
    pl.read_csv(h, infer_schema=False).write_parquet(hp)
    pl.read_csv(p).with_columns(pl.col("birth_date").str.to_date()).write_parquet(pp)
    with unit_of_work(areas) as s:  # the xlsx import holds the identifiers already
        s.execute(Identifier.__table__.update().values(active=False))
    assert import_files(areas, [hp, pp], source="parquet").households_imported == 2
    assert counts(areas)[0:2] == (4, 12)


def test_export_then_import_round_trip(areas: Engine, tmp_path: Path) -> None:
    import_files(areas, registry_files(tmp_path, n=3))
    out = tmp_path / "export"
    written = export_registry(areas, out, file_format="parquet")
    assert sorted(written.values()) == [3, 9]
    exported = pl.read_parquet(out / "persons.parquet")
    assert exported.filter(pl.col("given_name") == "Fatou")["id_birth_certificate"].to_list() == [
        "BC00001",
        "BC00002",
        "BC00003",
    ]
    with unit_of_work(areas) as s:
        s.execute(Identifier.__table__.update().values(active=False))
    again = import_files(
        areas, [out / "households.parquet", out / "persons.parquet"], source="export"
    )
    assert again.status == "succeeded", [e.model_dump() for e in again.errors]
    assert counts(areas)[0:2] == (6, 18)


def test_unreadable_and_empty_files_are_refused(areas: Engine, tmp_path: Path) -> None:
    households_file, persons_file = registry_files(tmp_path)
    persons_file.write_text(persons_file.read_text().splitlines()[0] + "\n")
    with pytest.raises(ValidationFailed, match=r"persons.*no data rows"):
        import_files(areas, [households_file, persons_file])
    with pytest.raises(Exception, match="unsupported file type"):
        import_files(areas, [tmp_path / "x.json"])
    useless = tmp_path / "useless.csv"
    useless.write_text("nothing,useful\n1,2\n")
    with pytest.raises(ValidationFailed, match="no person columns"):
        import_files(areas, [useless])


def test_import_killed_midway_resumes_to_exact_rows(
    areas: Engine, database_url: str, tmp_path: Path
) -> None:
    n = 1500
    h, p = registry_files(tmp_path, n=n)
    script = (
        "import sys; from pathlib import Path;"
        "from solidarity.db.engine import make_engine;"
        "from solidarity.registry.intake.service import import_files;"
        "import_files(make_engine(sys.argv[1]), [Path(sys.argv[2]), Path(sys.argv[3])],"
        " batch_households=100, progress=lambda *a: __import__('time').sleep(0.05))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, database_url, str(h), str(p)], env={**os.environ}
    )
    deadline = time.monotonic() + 60
    while counts(areas)[0] == 0 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    partial = counts(areas)
    assert 0 < partial[0] < n, partial
    assert partial[0] % 100 == 0 and partial[1] == 3 * partial[0]  # whole batches only
    outcome = import_files(areas, [h, p], batch_households=100)
    assert outcome.status == "succeeded"
    assert outcome.households_skipped == partial[0]
    assert counts(areas) == (n, 3 * n, 3 * n)


def test_deployment_extra_fields_are_validated_and_stored(
    areas: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from solidarity.config import get_settings

    spec = tmp_path / "extra.yaml"
    spec.write_text(
        "household:\n"
        "  village_chief: {type: string, label: Village chief, max_length: 40}\n"
        "person:\n"
        "  livelihood_zone: {type: code, values: [pastoral, agro_pastoral, fishing]}\n"
        "  years_displaced: {type: integer, minimum: 0, maximum: 60}\n"
    )
    monkeypatch.setenv("SOLIDARITY_EXTRA_FIELDS_FILE", str(spec))
    get_settings.cache_clear()

    def add_extra(rows: Rows) -> Rows:
        for number, row in enumerate(rows):
            row["livelihood_zone"] = "fishing"
            row["years_displaced"] = str(number)
        return rows

    bad = tmp_path / "bad"
    bad.mkdir()
    files = registry_files(
        bad, persons=lambda rows: edit(1, livelihood_zone="city")(add_extra(rows))
    )
    outcome = import_files(areas, files)
    assert [(e.rule, e.column, e.value) for e in outcome.errors] == [
        ("codelist", "livelihood_zone", "city")
    ]

    good = tmp_path / "good"
    good.mkdir()
    files = registry_files(
        good,
        persons=add_extra,
        households=lambda rows: [{**r, "village_chief": "Chief Ade"} for r in rows],
    )
    outcome = import_files(areas, files)
    assert outcome.status == "succeeded", [e.model_dump() for e in outcome.errors]
    with unit_of_work(areas) as s:
        person = s.scalars(select(Person).where(Person.source_key == "P1b")).one()
        household = s.get(Household, person.household_id)
        assert person.extra == {"livelihood_zone": "fishing", "years_displaced": 1}
        assert household is not None and household.extra == {"village_chief": "Chief Ade"}
