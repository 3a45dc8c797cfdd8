"""The simulation API and command line as an analyst drives them (hand-built country)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.db.engine import unit_of_work
from tests.integration.test_simulation import build, reform

runner = CliRunner()


@pytest.fixture
def country(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        build(session)


def test_analyst_runs_solves_stores_and_compares(
    country: None, client_as: Callable[..., TestClient]
) -> None:
    analyst = client_as("analyst")
    run = analyst.post("/api/v1/simulations/runs", json={"scenario": reform()})
    assert run.status_code == 200, run.text
    body = run.json()
    assert body["baseline"]["total_cost"] == 960
    assert body["scenario_figures"]["total_cost"] == 2400
    assert len(body["explanations"]) == 2

    saved = analyst.post("/api/v1/simulations/scenarios", json=reform())
    assert saved.status_code == 201, saved.text
    assert saved.json()["version"] == 1
    listed = analyst.get("/api/v1/simulations/scenarios").json()
    assert [(s["name"], s["version"]) for s in listed] == [("reform", 1)]
    stored = analyst.post("/api/v1/simulations/runs", json={"name": "reform"}).json()
    assert stored["cached"] is False
    assert analyst.post("/api/v1/simulations/runs", json={"name": "reform"}).json()["cached"]
    table = analyst.post("/api/v1/simulations/compare", json={"names": ["reform"]}).json()
    assert [r["total_cost"] for r in table["table"]] == [960, 2400]

    solve = analyst.post(
        "/api/v1/simulations/solve",
        json={
            "scenario": {"name": "s", "baseline_date": "2025-06-30", "poverty_line": 450},
            "programme": "CG",
            "parameter": "threshold",
            "low": 0,
            "high": 1100,
            "budget": 500,
        },
    )
    assert solve.status_code == 200, solve.text
    assert solve.json()["solution"]["programme_cost"] == 480

    bad = analyst.post(
        "/api/v1/simulations/runs",
        json={"scenario": reform(changes=[{"kind": "remove_programme", "programme": "NOPE"}])},
    )
    assert bad.status_code == 422
    assert "unknown programme 'NOPE'" in bad.json()["errors"][0]["message"]
    infeasible = analyst.post(
        "/api/v1/simulations/solve",
        json={
            "scenario": {"name": "s", "baseline_date": "2025-06-30", "poverty_line": 450},
            "programme": "CG",
            "rule": "benefit",
            "parameter": "amount",
            "low": 50,
            "high": 100,
            "budget": 100,
        },
    )
    assert infeasible.status_code == 422 and "above the budget" in infeasible.json()["detail"]


def test_district_callers_simulate_their_district_only(
    country: None, client_as: Callable[..., TestClient]
) -> None:
    district = client_as("programme_manager", "D1")
    body = district.post("/api/v1/simulations/runs", json={"scenario": reform()}).json()
    # D1 holds h1-h5: CG h1, h2 (240) and OAP h1, h4 (480) in the baseline.
    assert body["households"] == 5
    assert body["baseline"]["total_cost"] == 720
    officer = client_as("registration_officer")
    assert officer.post("/api/v1/simulations/runs", json={"scenario": reform()}).status_code == 403


def test_cli_run_writes_tables_and_a_brief(
    country: None, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    scenario = tmp_path / "reform.yaml"
    scenario.write_text(yaml.safe_dump(reform()), encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["simulate", "run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Child grant (CG) reaches 2 more households" in result.output.replace("\n", " ")
    assert (out / "reform" / "programmes.csv").exists()
    assert (out / "reform" / "households_changed.parquet").exists()
    assert (out / "reform" / "simulation.xlsx").exists()
    assert (out / "brief.pdf").read_bytes().startswith(b"%PDF")

    result = runner.invoke(
        app,
        ["simulate", "solve", str(scenario), "--programme", "CG", "--rule", "benefit",
         "--parameter", "amount", "--low", "0", "--high", "100", "--budget", "3000",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # The reform's CG pays h1-h4: 3,000 / (4 * 12) = 62.5.
    assert "CG.amount = 62.5" in result.output
    assert (out / "curve.svg").read_text().startswith("<svg")

    second = tmp_path / "merge.yaml"
    merge = {
        "name": "merge", "baseline_date": "2025-06-30", "poverty_line": 450,
        "changes": [{"kind": "merge_programmes", "programmes": ["CG", "OAP"], "into": "UNI",
                     "benefit": "10"}],
    }  # fmt: skip
    second.write_text(yaml.safe_dump(merge), encoding="utf-8")
    result = runner.invoke(app, ["simulate", "compare", str(scenario), str(second)])
    assert result.exit_code == 0, result.output
    assert "merge" in result.output and "reform" in result.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            reform(changes=[{"kind": "parameters", "programme": "CG", "set": {"treshold": 1}}])
        )
    )
    result = runner.invoke(app, ["simulate", "run", str(bad)])
    assert result.exit_code == 3
    assert "no parameter 'treshold'" in " ".join(result.output.split())
