"""Pseudonymised extracts for analysis and the record of what was released to whom."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.config import get_settings
from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance import audit
from solidarity.governance.releases import list_releases
from solidarity.registry.pseudonymised import export_pseudonymised, pseudonym
from tests.integration.test_registry_builders import TinyRegistry, build_registry

runner = CliRunner()
NAMES = ("Amina", "Okello", "John", "Grace", "Peter", "Mwangi", "Ruth", "Sara", "Ali")
EXACT_BIRTH_DATES = ("1980-05-02", "1978-03-09", "2015-07-01", "1950-01-20", "1990-02-14")


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_extract_holds_no_identifier_name_or_exact_date(
    engine: Engine, reg: TinyRegistry, tmp_path: Path
) -> None:
    key = b"k" * 32
    extract = export_pseudonymised(engine, tmp_path / "a", key=key, area_level=0)
    persons = _rows(tmp_path / "a" / "persons.csv")
    households = _rows(tmp_path / "a" / "households.csv")
    raw = (tmp_path / "a" / "persons.csv").read_text() + (
        tmp_path / "a" / "households.csv"
    ).read_text()
    assert len(persons) == 6 and len(households) == 3
    assert [f.rows for f in extract.files] == [3, 6]
    for word in (*NAMES, "NID-00", *EXACT_BIRTH_DATES):
        assert word not in raw, word
    for column in ("given_name", "family_name", "phone", "birth_date", "address", "person_key"):
        assert column not in persons[0] and column not in households[0]
    # Ids and identifier values are keyed hashes; birth dates a year; areas the region.
    amina = next(p for p in persons if p["person_pid"] == pseudonym(key, "person", reg.amina))
    assert amina["birth_year"] == "1980" and amina["sex"] == "female"
    assert amina["area_code"] == "R01"
    assert amina["id_national_id"] == pseudonym(key, "id-national_id", "NID-001")
    assert str(reg.amina) not in {p["person_pid"] for p in persons}
    assert {h["area_code"] for h in households} == {"R01", "R02"}
    assert (
        extract.files[1].sha256
        == hashlib.sha256((tmp_path / "a" / "persons.csv").read_bytes()).hexdigest()
    )

    # Same person, same pseudonym in another release; another secret, other pseudonyms.
    export_pseudonymised(engine, tmp_path / "b", key=key, area_level=1, birth="5y")
    again = _rows(tmp_path / "b" / "persons.csv")
    assert {p["person_pid"] for p in again} == {p["person_pid"] for p in persons}
    amina_b = next(p for p in again if p["person_pid"] == amina["person_pid"])
    assert amina_b["birth_band"] == "1980-1984" and amina_b["area_code"] == "R01-D01"
    export_pseudonymised(engine, tmp_path / "c", key=b"other-secret" * 3)
    other = _rows(tmp_path / "c" / "persons.csv")
    assert not {p["person_pid"] for p in other} & {p["person_pid"] for p in persons}
    assert not {p["id_national_id"] for p in other if p["id_national_id"]} & {
        p["id_national_id"] for p in persons if p["id_national_id"]
    }


def test_the_cli_export_records_the_release_and_auditors_list_it(
    engine: Engine,
    reg: TinyRegistry,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    refused = runner.invoke(
        app, ["registry", "export", "--pseudonymised", "-o", str(tmp_path / "x")]
    )
    assert refused.exit_code != 0 and "recipient" in refused.output
    assert not (tmp_path / "x").exists()
    result = runner.invoke(
        app,
        [
            "registry", "export", "--pseudonymised", "-o", str(tmp_path / "out"),
            "--recipient", "University of the North", "--purpose", "poverty study",
            "--area", "R01", "--actor", "steward.kim",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    persons = tmp_path / "out" / "persons.csv"
    assert len(_rows(persons)) == 5  # R01 only
    with session_factory(engine)() as session:
        releases, total = list_releases(session)
        assert total == 1
        release = releases[0]
        assert release.recipient == "University of the North"
        assert release.purpose == "poverty study" and release.released_by == "steward.kim"
        assert release.rows == 2 + 5 and release.area_code == "R01"
        by_name = {f.name: f for f in release.files}
        assert by_name["persons.csv"].rows == 5
        assert by_name["persons.csv"].sha256 == hashlib.sha256(persons.read_bytes()).hexdigest()
        assert "given_name" not in by_name["persons.csv"].columns
        audit.chain_pending(session)
        assert audit.verify(session).ok
    listed = runner.invoke(app, ["audit", "releases"])
    assert listed.exit_code == 0 and release.release_id in listed.output
    assert "University of the North" in listed.output


def test_analysts_export_pseudonymised_data_of_their_areas_only(
    reg: TinyRegistry, client_as: Callable[..., TestClient]
) -> None:
    analyst = client_as("analyst", "R01-D01")
    body = {"recipient": "Planning unit", "purpose": "targeting review", "area_level": 1}
    response = analyst.post("/api/v1/exports/pseudonymised", json=body)
    assert response.status_code == 200, response.text
    release_id = response.headers["X-Release-Id"]
    assert hashlib.sha256(response.content).hexdigest() == response.headers["X-Content-SHA256"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        persons = archive.read("persons.csv").decode()
        households = archive.read("households.csv").decode()
    assert persons.count("\n") == 1 + 3  # header and the three Okellos
    assert households.count("\n") == 1 + 1
    assert "R02" not in persons and "Amina" not in persons and "NID-001" not in persons
    outside = analyst.post("/api/v1/exports/pseudonymised", json={**body, "area_code": "R02"})
    assert outside.status_code == 422
    unknown = analyst.post("/api/v1/exports/pseudonymised", json={**body, "agency_code": "NOPE"})
    assert unknown.status_code == 422 and "agency_code" in unknown.text
    # Only the pseudonymised form: officers may not, analysts may not list releases.
    assert (
        client_as("registration_officer")
        .post("/api/v1/exports/pseudonymised", json=body)
        .status_code
        == 403
    )
    assert analyst.get("/api/v1/audit/releases").status_code == 403
    listed = client_as("auditor").get("/api/v1/audit/releases")
    assert listed.status_code == 200
    (release,) = listed.json()["items"]
    assert release["release_id"] == release_id
    assert release["recipient"] == "Planning unit" and release["purpose"] == "targeting review"
    assert release["released_by"] == "analyst@R01-D01" and release["rows"] == 4
    assert release["package_sha256"] == response.headers["X-Content-SHA256"]
