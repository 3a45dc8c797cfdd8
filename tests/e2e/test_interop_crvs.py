"""The CRVS flow end to end against the mock CRVS server (a test double).

Births and deaths reach the registry through change requests: by
``crvs sync --since`` and by notifications after a subscription; events that
match nobody go to the review list.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from solidarity.db.engine import unit_of_work
from solidarity.interop import crvs
from solidarity.interop.mock_crvs import SAMPLE, create_mock_crvs
from solidarity.interop.models import CrvsEvent
from solidarity.interop.service import set_partner
from solidarity.interop.settings import InteropSettings
from solidarity.registry import changes
from solidarity.registry import service as registry
from solidarity.registry.models import ChangeRequest
from tests.contracts.dci import envelope, validate
from tests.integration.test_registry_builders import TinyRegistry, build_registry


@pytest.fixture(autouse=True)
def _unsigned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLIDARITY_DCI_REQUIRE_SIGNATURES", "false")


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


@pytest.fixture
def crvs_account(
    engine: Engine, reg: TinyRegistry, partner_client: Callable[..., TestClient]
) -> TestClient:
    """Our machine client for the civil registry (it files change requests)."""
    client = partner_client(roles=("registration_officer",))
    username = client.get("/api/v1/auth/me").json()["username"]
    with unit_of_work(engine) as session:
        set_partner(
            session,
            sender_id="mock-crvs",
            client_id=username,
            actor="test",
            signature_required=False,
        )
    return client


def _records() -> list[dict[str, Any]]:
    unmatched = {
        "identifier": [{"identifier_type": "DRN", "identifier_value": "DRN-2025-0002"}],
        "name": {"given_name": "Nobody", "surname": "Known"},
        "sex": "male",
        "birth_date": "1940-01-01",
        "death_date": "2025-04-01",
    }
    by_name = {
        "identifier": [{"identifier_type": "BRN", "identifier_value": "BRN-2025-0002"}],
        "name": {"given_name": "Zawadi", "surname": "Ali"},
        "sex": "female",
        "birth_date": "2025-04-02",
        "mother": {"given_name": "Sara", "family_name": "Ali", "birth_date": "1990-02-14"},
    }
    old = {
        **SAMPLE[0],
        "identifier": [{"identifier_type": "BRN", "identifier_value": "BRN-2020"}],
        "birth_date": "2020-01-01",
    }
    return [*SAMPLE, unmatched, by_name, old]


def _client(mock: FastAPI) -> crvs.CrvsClient:
    settings = InteropSettings(
        crvs_base_url="http://mock-crvs", crvs_client_id="solidarity", crvs_client_secret="s"
    )
    return crvs.CrvsClient(settings, http=TestClient(mock))


def _approve_all(engine: Engine) -> list[ChangeRequest]:
    with unit_of_work(engine) as session:
        pending = session.scalars(
            select(ChangeRequest).where(ChangeRequest.status == "submitted")
        ).all()
        for request in pending:
            changes.approve_change_request(session, request.id, actor="supervisor")
        return list(pending)


def test_crvs_sync_files_change_requests_and_a_review_list(
    engine: Engine, reg: TinyRegistry
) -> None:
    mock = create_mock_crvs(_records())
    with unit_of_work(engine) as session:
        counts = crvs.sync(session, _client(mock), date(2025, 1, 1))
    assert counts == {"change_requested": 3, "review": 1}
    approved = _approve_all(engine)
    assert sorted(r.kind for r in approved) == ["add_member", "add_member", "remove_member"]
    with unit_of_work(engine) as session:
        okello = registry.get_household(session, reg.okello)
        baby = next(m for m in okello.members if m.given_name == "Neema")
        assert baby.relationship == "child" and baby.birth_date == date(2025, 3, 1)
        assert baby.identifiers[0].id_type == "birth_certificate"
        assert baby.identifiers[0].value == "BRN-2025-0001"
        peter = registry.get_person(session, reg.peter)
        assert peter.status == "deceased" and peter.removal_reason == "death"
        mwangi = registry.get_household(session, reg.mwangi)
        assert [m.id for m in mwangi.members if m.relationship == "head"] == [reg.ruth]
        ali = registry.get_household(session, reg.ali)
        assert "Zawadi" in [m.given_name for m in ali.members]
        (waiting,) = crvs.review_list(session)
        assert waiting.external_id == "DRN-2025-0002"
        assert waiting.note == "no registry person matches"
    # Syncing again changes nothing: every registration is kept once.
    with unit_of_work(engine) as session:
        crvs.sync(session, _client(mock), date(2025, 1, 1))
    assert _approve_all(engine) == []
    # A reviewer names the person; the change request follows.
    with unit_of_work(engine) as session:
        row = crvs.resolve(
            session, waiting.id, person_id=reg.sara, household_id=None, actor="steward"
        )
        assert row.status == "change_requested"
    (removal,) = _approve_all(engine)
    assert removal.payload["removal_reason"] == "death"


def test_crvs_notifications_after_subscribing(
    engine: Engine, reg: TinyRegistry, api: FastAPI, crvs_account: TestClient
) -> None:
    token = crvs_account.headers["Authorization"].removeprefix("Bearer ")
    ours = TestClient(api, base_url="https://testserver")
    mock = create_mock_crvs([], notifier=ours, notify_token=token)
    client = _client(mock)
    answer = client.subscribe("birth", "https://testserver/dci/crvs/registry")
    validate(answer, "Ack")
    mock_client = TestClient(mock)
    response = mock_client.post("/mock/events", json=SAMPLE[0])
    assert response.json()["notified"] == 1
    with unit_of_work(engine) as session:
        (event,) = session.scalars(select(CrvsEvent)).all()
        assert event.status == "change_requested" and event.source == "mock-crvs"
    (request,) = _approve_all(engine)
    assert request.kind == "add_member" and request.household_id == reg.okello


def test_crvs_notify_endpoint_is_idempotent_and_refuses_bad_input(
    engine: Engine, reg: TinyRegistry, crvs_account: TestClient, anonymous: TestClient
) -> None:
    record = SAMPLE[1]
    body = envelope(
        "notify",
        {
            "transaction_id": "t-n",
            "notify_event": [
                {
                    "reference_id": "r-1",
                    "timestamp": "2025-03-10T10:00:00Z",
                    "data": {
                        "reg_event_type": "death",
                        "reg_record_type": "CRVS_Person",
                        "reg_records": record,
                    },
                }
            ],
        },
        sender_id="mock-crvs",
    )
    validate(body["message"], "NotifyEventRequest")
    for _ in range(2):
        response = crvs_account.post("/dci/crvs/registry/notify", json=body)
        assert response.status_code == 200, response.text
        validate(response.json(), "Ack")
    with unit_of_work(engine) as session:
        assert len(session.scalars(select(CrvsEvent)).all()) == 1
    assert anonymous.post("/dci/crvs/registry/notify", json=body).status_code == 401
    broken = {**body, "header": {**body["header"], "message_id": "m-other", "action": "search"}}
    response = crvs_account.post("/dci/crvs/registry/notify", json=broken)
    assert response.status_code == 400
    assert response.json()["message"]["error"]["code"] == "err.request.bad"


def test_cli_mounts_interop_and_refuses_a_bad_date() -> None:
    from solidarity.cli.main import app

    result = CliRunner().invoke(
        app, ["interop", "crvs", "sync", "--since", "last week", "--base-url", "http://x"]
    )
    assert result.exit_code != 0
    assert "not a date" in result.output
