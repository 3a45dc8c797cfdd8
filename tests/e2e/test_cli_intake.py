"""The intake commands end to end: migrate, generate a country, load, import, export."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.config import get_settings
from solidarity.db.engine import unit_of_work
from solidarity.registry.models import Household, Person
from tests.registry_files import load_test_areas, registry_files

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_db_upgrade_and_current_on_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    code, out = run("db", "current")
    assert code == 0 and "none (not migrated)" in out and "not up to date" in out
    code, out = run("db", "upgrade")
    assert code == 0, out
    code, out = run("db", "current")
    assert code == 0 and "not up to date" not in out


def test_synthetic_country_imports_cleanly(engine: Engine, cli_env: None, tmp_path: Path) -> None:
    country = tmp_path / "country"
    code, out = run("synth", "--households", "150", "--seed", "4", "--out", str(country))
    assert code == 0, out
    code, out = run("registry", "areas", "load", str(country / "areas.csv"))
    assert code == 0, out
    files = [str(country / "households.csv"), str(country / "persons.csv")]
    code, out = run("registry", "import", *files, "--report-dir", str(tmp_path))
    assert code == 0, out
    assert "succeeded" in out
    persons = pl.read_csv(country / "persons.csv", infer_schema=False).height
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(Household)) == 150
        assert s.scalar(select(func.count()).select_from(Person)) == persons
    # Importing the same files again changes nothing and says so.
    code, out = run("registry", "import", *files, "--report-dir", str(tmp_path))
    assert code == 0 and "150 already imported" in out
    code, out = run("registry", "export", "--out", str(tmp_path / "out"))
    assert code == 0 and "households.csv: 150 row(s)" in out


def test_refused_import_exits_non_zero_with_a_report(
    engine: Engine, cli_env: None, tmp_path: Path
) -> None:
    load_test_areas(engine)
    h, p = registry_files(tmp_path, persons=lambda rows: [{**rows[0], "sex": "F"}, *rows[1:]])
    code, out = run("registry", "import", str(h), str(p), "--report-dir", str(tmp_path))
    assert code == 2
    assert "refused" in out and "Sex must be one of" in out and "nothing was imported" in out
    assert (tmp_path / "import-1-errors.csv").exists()
    code, out = run(
        "registry", "import", str(h), str(p), "--accept-valid", "--report-dir", str(tmp_path)
    )
    assert code == 2 and "partial" in out and "rejected rows to correct" in out
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(Household)) == 2
