"""The registry commands as an officer and a supervisor type them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.config import get_settings
from solidarity.db.engine import unit_of_work
from tests.integration.test_registry_builders import TinyRegistry, build_registry

runner = CliRunner()


@pytest.fixture
def reg(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> TinyRegistry:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    with unit_of_work(engine) as session:
        return build_registry(session)


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["registry", *args])
    return result.exit_code, result.output


def test_show_and_search(reg: TinyRegistry) -> None:
    code, out = _run("household", "show", str(reg.okello))
    assert code == 0, out
    assert "Amina Okello" in out and "national_id:NID-001" in out
    code, out = _run("household", "show", str(reg.okello), "--as-of", "2023-01-01")
    assert code == 4 and "not found" in out
    code, out = _run("search", "--name", "mwangi", "--area", "R01")
    assert code == 0 and "Peter Mwangi" in out and "2 shown of 2" in out
    code, out = _run("search", "--id-type", "national_id", "--id-value", "NID-004")
    assert "Sara Ali" in out and "1 shown of 1" in out
    code, out = _run("search", "--households", "--area", "R02")
    assert code == 0 and "Sara Ali" in out


def test_change_request_commands(reg: TinyRegistry, tmp_path: Path) -> None:
    code, out = _run(
        "change-request", "create", "--kind", "update_fields", "--household", str(reg.okello),
        "--set", "roof=tiles", "--set", "electricity=true", "--person", str(reg.john),
        "--set", "income=250", "--actor", "officer",
    )  # fmt: skip
    assert code == 0, out
    assert "submitted" in out
    code, out = _run("change-request", "approve", "1", "--actor", "officer")
    assert code == 7 and "maker-checker" in out
    code, out = _run("change-request", "approve", "1", "--actor", "supervisor")
    assert code == 0 and "applied" in out
    code, out = _run("household", "show", str(reg.okello))
    assert "tiles" in out and "version 2" in out

    payload = tmp_path / "split.json"
    payload.write_text(json.dumps({"person_ids": [reg.ruth], "head_person_id": reg.ruth}))
    code, out = _run(
        "change-request", "create", "--kind", "split_household", "--household",
        str(reg.mwangi), "--payload", str(payload), "--actor", "officer",
    )  # fmt: skip
    assert code == 0, out
    code, out = _run("change-request", "reject", "2", "--reason", "not seen", "--actor", "boss")
    assert code == 0 and "rejected" in out and "not seen" in out

    code, out = _run(
        "change-request", "create", "--kind", "remove_member", "--household", str(reg.ali),
        "--set", f"person_id={reg.sara}", "--set", "removal_reason=lost", "--actor", "officer",
    )  # fmt: skip
    assert code == 3
    assert "removal_reason" in out

    code, out = _run("change-request", "list", "--status", "applied")
    assert code == 0 and "update_fields" in out and "1 shown of 1" in out
