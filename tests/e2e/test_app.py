"""The served app as a user meets it: landing page, health checks, jobs API, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.db.engine import make_engine, unit_of_work
from solidarity.jobs import service
from solidarity.web.app import create_app
from tests.integration.test_registry_builders import build_registry
from tests.registry_files import load_test_areas


def test_landing_page_says_what_solidarity_is_and_what_the_registry_holds(
    engine: Engine,
) -> None:
    load_test_areas(engine)
    client = TestClient(create_app(engine))
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="en">' in page
    assert "integrated social protection information system" in page
    assert 'href="/docs"' in page
    # An anonymous visitor learns no registry figure.
    assert "<dt>Households</dt>" not in page and "<dt>Persons</dt>" not in page
    assert "cdn" not in page.lower()
    css = client.get("/static/solidarity.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_health_checks(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_not_ready_when_the_database_is_not_migrated(tmp_path: Path) -> None:
    client = TestClient(create_app(make_engine(f"sqlite:///{tmp_path / 'empty.db'}")))
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["current_revision"] is None and body["head_revision"]
    assert "solidarity db upgrade" in body["detail"]


def test_not_ready_when_the_database_is_unreachable() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2")
    response = TestClient(create_app(engine)).get("/readyz")
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]


def test_jobs_api_lists_shows_cancels_and_retries(
    engine: Engine, client_as: Callable[..., TestClient]
) -> None:
    with unit_of_work(engine) as session:
        job_id = service.enqueue(session, "test.api", {"n": 1}, actor="officer").id
    client = client_as("data_steward", username="steward")  # jobs.manage: every job

    page = client.get("/api/v1/jobs", params={"status": "queued"}).json()
    assert page["total"] == 1
    assert page["items"][0]["url"] == f"/api/v1/jobs/{job_id}"
    shown = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (shown["kind"], shown["params"], shown["created_by"]) == (
        "test.api",
        {"n": 1},
        "officer",
    )

    cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["message"] == "cancelled by steward"
    again = client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert client.post(f"/api/v1/jobs/{job_id}/retry").json()["status"] == "queued"

    missing = client.get("/api/v1/jobs/999999")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    assert client.get("/api/v1/jobs", params={"status": "lost"}).status_code == 422


def test_jobs_of_others_are_hidden_without_jobs_manage(
    engine: Engine, client_as: Callable[..., TestClient]
) -> None:
    with unit_of_work(engine) as session:
        theirs = service.enqueue(session, "test.api", {}, actor="someone.else").id
    officer = client_as("registration_officer", username="kato")
    assert officer.get("/api/v1/jobs").json()["total"] == 0
    assert officer.get(f"/api/v1/jobs/{theirs}").status_code == 404
    assert officer.post(f"/api/v1/jobs/{theirs}/cancel").status_code == 404


def test_openapi_names_operations_after_their_functions(engine: Engine) -> None:
    schema = TestClient(create_app(engine)).get("/openapi.json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    expected = {"list_jobs", "get_job", "cancel_job", "retry_job", "create_import"}
    expected |= {"list_imports", "get_import", "get_import_errors", "healthz", "readyz"}
    assert expected <= operations
    assert "/" not in schema["paths"]


def test_landing_page_counts_only_the_signed_in_readers_areas(
    engine: Engine, client_as: Callable[..., TestClient]
) -> None:
    with unit_of_work(engine) as session:
        build_registry(session)  # three households: one in R01-D01, two elsewhere
    national = client_as("registration_officer").get("/").text
    assert "<dt>Households</dt><dd>3</dd>" in national
    district = client_as("registration_officer", "R01-D01").get("/").text
    assert "<dt>Households</dt><dd>1</dd>" in district
    assert "<dt>Persons</dt><dd>3</dd>" in district
