"""Per-client rate limits (429 with Retry-After), request size and pagination caps."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.config import Settings, get_settings
from solidarity.web.limits import RequestLimits
from tests.contracts.dci import search_message, validate
from tests.e2e.test_dci_social import SR, Partner, make_agreement
from tests.integration.test_registry_builders import build_registry

PROBLEM = "application/problem+json"


def _low_limits(api: FastAPI, **limits: float) -> None:
    # Set after the clients signed in, so that their sign-ins do not use up the bucket.
    api.state.request_limits = RequestLimits(Settings(**limits))  # type: ignore[arg-type]


def test_api_requests_beyond_the_limit_get_429_per_user(
    engine: Engine, api: FastAPI, client_as: Callable[..., TestClient]
) -> None:
    with_bucket = client_as("analyst")
    other = client_as("auditor")
    _low_limits(api, api_burst=3, api_rate_per_minute=1)
    for _ in range(3):
        assert with_bucket.get("/api/v1/areas").status_code == 200
    throttled = with_bucket.get("/api/v1/areas")
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == PROBLEM
    assert int(throttled.headers["retry-after"]) >= 1
    problem = throttled.json()
    assert (problem["status"], problem["title"]) == (429, "Too many requests")
    assert problem["retry_after"] == int(throttled.headers["retry-after"])
    # Another account has its own bucket; pages and health checks are not counted here.
    assert other.get("/api/v1/areas").status_code == 200
    assert with_bucket.get("/healthz").status_code == 200


def test_anonymous_callers_are_counted_by_address(api: FastAPI, anonymous: TestClient) -> None:
    _low_limits(api, api_burst=2, api_rate_per_minute=1)
    answers = [anonymous.get("/api/v1/areas").status_code for _ in range(3)]
    assert answers == [401, 401, 429]


def test_dci_requests_beyond_the_limit_get_a_dci_error_with_retry_after(
    engine: Engine,
    api: FastAPI,
    partner_client: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from solidarity.db.engine import unit_of_work

    monkeypatch.setenv("SOLIDARITY_DCI_REQUIRE_SIGNATURES", "false")

    with unit_of_work(engine) as session:
        build_registry(session)
    make_agreement(engine, "MOH", ["given_name"])
    partner = Partner(partner_client(agency="MOH"))
    _low_limits(api, dci_burst=2, dci_rate_per_minute=1)
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    answers = [
        partner.post(f"{SR}/sync/search", partner.envelope("search", message)) for _ in range(3)
    ]
    assert [a.status_code for a in answers[:2]] == [200, 200], answers[0].text
    throttled = answers[2]
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    body = throttled.json()
    validate(body, "ErrorAck")
    assert body["message"]["error"]["code"] == "err.request.too_many_requests"
    # The REST API keeps its own, separate bucket for the same client.
    assert partner.client.get("/api/v1/auth/me").status_code == 200


def test_oversized_bodies_get_413_problem_details(
    client_as: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    officer = client_as("registration_officer")
    monkeypatch.setenv("SOLIDARITY_MAX_REQUEST_BYTES", "2048")
    get_settings.cache_clear()
    big = officer.post("/api/v1/grievances", content=b"{" + b" " * 4096 + b"}")
    assert (big.status_code, big.headers["content-type"]) == (413, PROBLEM)
    assert big.json()["status"] == 413 and "2,048 bytes" in big.json()["detail"]


def test_page_sizes_are_capped_or_refused(
    engine: Engine, client_as: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from solidarity.db.engine import unit_of_work

    with unit_of_work(engine) as session:
        build_registry(session)
    reader = client_as("analyst")
    monkeypatch.setenv("SOLIDARITY_PAGE_SIZE_MAX", "2")
    get_settings.cache_clear()
    capped = reader.get("/api/v1/persons", params={"page_size": 1000})
    assert capped.status_code == 200
    assert capped.json()["page_size"] == 2 and len(capped.json()["items"]) == 2
    refused = reader.get("/api/v1/grievances", params={"limit": 100_000})
    assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM)
    assert refused.json()["errors"][0]["field"] == "query.limit"
