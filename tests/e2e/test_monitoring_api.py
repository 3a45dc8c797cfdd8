"""The monitoring API, report, command line and ``/metrics`` as users drive them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.db.engine import unit_of_work
from tests.integration.test_monitoring import world

runner = CliRunner()


@pytest.fixture
def country(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        world(session)


def test_indicators_snapshots_and_quality_over_the_api(
    country: None, client_as: Callable[..., TestClient]
) -> None:
    analyst = client_as("analyst")
    loaded = analyst.post("/api/v1/monitoring/indicators/standard")
    assert loaded.status_code == 200, loaded.text
    values = analyst.get("/api/v1/monitoring/values", params={"as_of": "2025-06-30"}).json()
    assert {v["code"]: v["value"] for v in values}["SDG_1_3_1"] == 0.4
    snap = analyst.post(
        "/api/v1/monitoring/snapshots", json={"period": "2025-06", "as_of": "2025-06-30"}
    )
    assert snap.status_code == 201, snap.text
    listed = analyst.get("/api/v1/monitoring/snapshots", params={"period": "2025-06"}).json()
    assert len(listed) == len(values)
    report = analyst.get("/api/v1/monitoring/report")
    assert report.status_code == 200 and "<svg" in report.text

    # A district caller's values count its own district only: D1 holds h1, h2, h4 covered of 5.
    district = client_as("programme_manager", "D1")
    mine = district.get("/api/v1/monitoring/values", params={"as_of": "2025-06-30"}).json()
    assert {v["code"]: v["value"] for v in mine}["SDG_1_3_1"] == 0.6
    assert district.post("/api/v1/monitoring/indicators/standard").status_code == 403

    bad = analyst.put(
        "/api/v1/monitoring/indicators",
        json={"code": "X", "name": "x", "unit_of_analysis": "person", "numerator": "agee > 1"},
    )
    assert bad.status_code == 422 and "age" in bad.text

    quality = client_as("data_steward").get(
        "/api/v1/monitoring/data-quality", params={"as_of": "2025-06-30"}
    )
    assert quality.status_code == 200
    assert {s["group"] for s in quality.json()["scores"] if s["by"] == "dimension"} == {
        "completeness", "validity", "consistency", "uniqueness", "timeliness"
    }  # fmt: skip


def test_metrics_in_prometheus_text_format(
    country: None, client_as: Callable[..., TestClient]
) -> None:
    auditor = client_as("auditor")
    auditor.get("/api/v1/monitoring/indicators")
    response = auditor.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE solidarity_http_requests_total counter" in text
    assert (
        'solidarity_http_requests_total{method="GET",route="/api/v1/monitoring/indicators",'
        'status="200"} 1'
    ) in text
    assert 'solidarity_http_request_duration_seconds_bucket{method="GET",' in text
    assert "# TYPE solidarity_jobs_total counter" in text
    assert client_as("registration_officer").get("/metrics").status_code == 403


def test_cli_snapshot_and_report(
    country: None, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    assert runner.invoke(app, ["monitoring", "indicators", "load-standard"]).exit_code == 0
    result = runner.invoke(
        app, ["monitoring", "snapshot", "--period", "2025-06", "--as-of", "2025-06-30"]
    )
    assert result.exit_code == 0, result.output
    assert "SDG_1_3_1 v1: 0.4" in result.output
    assert "GRIEVANCE_WITHIN_STANDARD v1: not computable" in result.output
    pdf = tmp_path / "m.pdf"
    result = runner.invoke(app, ["monitoring", "report", "--format", "pdf", "--out", str(pdf)])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    failing = tmp_path / "failing.csv"
    result = runner.invoke(
        app, ["monitoring", "quality", "--as-of", "2025-06-30", "--failing", str(failing)]
    )
    assert result.exit_code == 0, result.output
    assert failing.exists()
