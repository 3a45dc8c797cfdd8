"""Bulk imports through the API: upload, the worker runs the job, read the outcome."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.config import get_settings
from solidarity.db.engine import unit_of_work
from solidarity.jobs.worker import Worker
from solidarity.registry.imports_router import safe_filename
from solidarity.registry.service import counts as registry_counts
from tests.registry_files import load_test_areas, registry_files


@pytest.fixture
def client(client_as: Callable[..., TestClient]) -> TestClient:
    """A national registration officer."""
    return client_as("registration_officer", username="officer")


def _upload(client: TestClient, *paths: Path, **form: Any) -> Any:
    files = [("files", (p.name, p.read_bytes(), "text/csv")) for p in paths]
    return client.post("/api/v1/imports", files=files, data=form)


def test_an_uploaded_import_runs_in_the_worker(
    engine: Engine, client: TestClient, tmp_path: Path
) -> None:
    load_test_areas(engine)
    households, persons = registry_files(tmp_path, n=3)

    response = _upload(client, households, persons, source="survey")
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued"
    assert response.headers["location"] == job["url"] == f"/api/v1/jobs/{job['id']}"

    assert Worker(engine, "test-worker").run_once() is True

    done = client.get(job["url"]).json()
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["status"] == "succeeded"
    assert (result["households_imported"], result["persons_imported"]) == (3, 9)
    assert result["errors"] == []
    assert done["created_by"] == "officer"
    with unit_of_work(engine) as session:
        assert registry_counts(session, None)["households"] == 3

    runs = client.get("/api/v1/imports").json()
    assert runs["total"] == 1
    run = client.get(f"/api/v1/imports/{result['import_run_id']}").json()
    assert (run["source"], run["status"], run["households_imported"]) == ("survey", "succeeded", 3)
    assert run["errors_url"] is None


def test_a_refused_import_is_a_succeeded_job_with_an_error_report(
    engine: Engine, client: TestClient, tmp_path: Path
) -> None:
    load_test_areas(engine)

    def unknown_area(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[1]["area_code"] = "NOWHERE"
        return rows

    households, persons = registry_files(tmp_path, n=3, households=unknown_area)
    job = _upload(client, households, persons).json()
    Worker(engine, "test-worker").run_once()

    done = client.get(job["url"]).json()
    assert done["status"] == "succeeded"
    result = done["result"]
    assert result["status"] == "refused"
    assert result["households_imported"] == 0
    assert any(e["column"] == "area_code" and e["row"] == 3 for e in result["errors"])

    run = client.get(f"/api/v1/imports/{result['import_run_id']}").json()
    assert run["status"] == "refused"
    report = client.get(run["errors_url"])
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert "NOWHERE" in report.text
    with unit_of_work(engine) as session:
        assert registry_counts(session, None)["households"] == 0


def test_an_unknown_file_type_is_refused_with_415(client: TestClient) -> None:
    response = client.post(
        "/api/v1/imports", files=[("files", ("households.json", b"{}", "application/json"))]
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert "households.json" in response.json()["detail"]
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_a_mapping_that_is_not_yaml_is_refused_with_415(client: TestClient) -> None:
    response = client.post(
        "/api/v1/imports",
        files=[
            ("files", ("all.csv", b"household_key\nH1\n", "text/csv")),
            ("mapping", ("mapping.txt", b"columns: {}", "text/plain")),
        ],
    )
    assert response.status_code == 415


def test_a_file_over_the_size_limit_is_refused_with_413(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLIDARITY_MAX_UPLOAD_BYTES", "2048")
    get_settings.cache_clear()
    response = client.post(
        "/api/v1/imports", files=[("files", ("big.csv", b"x" * 5000, "text/csv"))]
    )
    assert response.status_code == 413
    assert response.json()["max_upload_bytes"] == 2048
    upload_dir = get_settings().upload_dir
    assert not upload_dir.exists() or not any(upload_dir.rglob("*.csv"))  # nothing kept


def test_three_files_are_refused(client: TestClient) -> None:
    files = [("files", (f"f{n}.csv", b"a\n1\n", "text/csv")) for n in range(3)]
    response = client.post("/api/v1/imports", files=files)
    assert response.status_code == 422


def test_a_path_in_the_file_name_is_dropped(client: TestClient) -> None:
    response = client.post(
        "/api/v1/imports",
        files=[("files", ("../../../etc/evil name.csv", b"household_key\nH1\n", "text/csv"))],
    )
    assert response.status_code == 202
    job = client.get(response.json()["url"]).json()
    stored = Path(job["params"]["files"][0])
    upload_dir = get_settings().upload_dir.resolve()
    assert stored.resolve().parent.parent == upload_dir
    assert stored.name == "evil_name.csv"
    assert stored.read_bytes() == b"household_key\nH1\n"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\\\Users\\\\me\\\\hh list.csv", "hh_list.csv"),
        ("..", "upload"),
        (".hidden.csv", "hidden.csv"),
        ("", "upload"),
    ],
)
def test_safe_filename(given: str, stored: str) -> None:
    assert safe_filename(given) == stored


def test_unknown_import_run_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/imports/12345").status_code == 404
    assert client.get("/api/v1/imports/12345/errors.csv").status_code == 404


def test_an_unreadable_upload_fails_the_job_and_says_why(
    engine: Engine, client: TestClient
) -> None:
    response = client.post(
        "/api/v1/imports",
        files=[("files", ("households.csv", b"household_key,area_code\nH1,R1\n", "text/csv"))],
    )
    Worker(engine, "test-worker").run_once()
    job = client.get(response.json()["url"]).json()
    assert job["status"] == "failed"
    assert job["error"].startswith("ValidationFailed")
    assert "households.csv: no person columns found" in job["log"]
