"""Request ids travel from the caller to the logs and jobs; a lost database is a 503."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from solidarity.db.engine import unit_of_work
from solidarity.jobs.models import Job
from solidarity.observability.logs import JsonFormatter
from solidarity.web.deps import get_session, public


def test_request_ids_are_echoed_kept_or_made(anonymous: TestClient) -> None:
    given = anonymous.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = anonymous.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    # A header that could forge log lines is replaced, not echoed.
    forged = anonymous.get("/healthz", headers={"X-Request-ID": "x\tlevel=error"})
    assert forged.headers["x-request-id"] != "x\tlevel=error"


def test_access_log_is_one_json_line_per_request_without_query_strings(
    anonymous: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="solidarity.access"):
        anonymous.get("/healthz?secret=NID-001", headers={"X-Request-ID": "req-7"})
    records = [r for r in caplog.records if r.name == "solidarity.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "req-7" and line["status"] == 200
    assert line["route"] == "/healthz" and "NID-001" not in json.dumps(line)


def test_jobs_queued_by_a_request_carry_its_id(
    engine: Engine, client_as: Callable[..., TestClient], tmp_path: object
) -> None:
    officer = client_as("registration_officer")
    files = [("files", ("households.csv", b"household_key,area_code\nH1,R01\n", "text/csv"))]
    response = officer.post("/api/v1/imports", files=files, headers={"X-Request-ID": "import-42"})
    assert response.status_code == 202, response.text
    with unit_of_work(engine) as session:
        job = session.scalars(select(Job)).one()
        assert job.params["request_id"] == "import-42"


def test_a_connection_dropped_mid_request_is_a_503_and_the_next_request_succeeds(
    engine: Engine, api: FastAPI, anonymous: TestClient
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("dropping a server connection needs PostgreSQL")

    @public
    def slow(session: Session = Depends(get_session)) -> dict[str, str]:
        session.execute(text("SELECT pg_sleep(5)"))
        return {"status": "slept"}

    api.add_api_route("/test/slow", slow)

    def kill() -> None:
        time.sleep(0.7)
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()"
                )
            )
            conn.commit()

    killer = threading.Thread(target=kill)
    killer.start()
    dropped = anonymous.get("/test/slow")
    killer.join()
    assert dropped.status_code == 503, dropped.text
    assert dropped.headers["content-type"] == "application/problem+json"
    assert dropped.headers["retry-after"] == "5"
    assert anonymous.get("/readyz").status_code == 200
