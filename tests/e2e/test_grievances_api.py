"""Grievances, cases and referrals through the API and the CLI, as users drive them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from solidarity.cli.main import app as cli
from solidarity.db.engine import unit_of_work
from solidarity.governance import agreements
from solidarity.governance.schemas import AgencyIn, AgreementIn
from tests.integration.test_registry_builders import TinyRegistry, build_registry


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as s:
        built = build_registry(s)
        agreements.create_agency(s, AgencyIn(code="MOE", name="Education"), actor="admin")
        agreements.create_agreement(
            s,
            AgreementIn(
                code="DSA-MOE",
                agency_code="MOE",
                purposes=["referral"],
                fields=["given_name", "birth_date"],
                valid_from=date(2020, 1, 1),
            ),
            actor="admin",
        )
    return built


def test_grievance_workflow_and_refusals_over_the_api(
    reg: TinyRegistry, client_as: Callable[..., TestClient]
) -> None:
    officer = client_as("registration_officer", "R01-D01", username="officer")
    refused = officer.post(
        "/api/v1/grievances",
        json={"category": "weather", "description": "x", "household_id": reg.okello},
    )
    assert refused.status_code == 422
    assert "weather" in refused.json()["detail"]
    made = officer.post(
        "/api/v1/grievances",
        json={
            "category": "payment",
            "channel": "phone",
            "description": "Not paid in January",
            "household_id": reg.okello,
            "complainant_name": "Amina Okello",
        },
    )
    assert made.status_code == 201, made.text
    g = made.json()
    wrong = officer.post(
        f"/api/v1/grievances/{g['id']}/resolve",
        json={"resolution": "x"},
        headers={"If-Match": f'"{g["version"]}"'},
    )
    assert wrong.status_code == 409
    assert "received" in wrong.json()["detail"] and wrong.json()["allowed"] == ["acknowledge"]
    url = f"/api/v1/grievances/{g['id']}"
    assert officer.post(f"{url}/acknowledge", json={}).status_code == 428
    stale = officer.post(f"{url}/acknowledge", json={}, headers={"If-Match": '"99"'})
    assert stale.status_code == 412
    read = officer.get(url)
    assert read.headers["etag"] == f'"{g["version"]}"'
    done = officer.post(f"{url}/acknowledge", json={}, headers={"If-Match": read.headers["etag"]})
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    assert done.headers["etag"] == f'"{done.json()["version"]}"' != read.headers["etag"]
    events = officer.get(f"/api/v1/grievances/{g['id']}/events").json()
    assert [e["action"] for e in events] == ["received", "acknowledge"]
    outside = client_as("registration_officer", "R02-D01", username="south")
    assert outside.get(f"/api/v1/grievances/{g['id']}").status_code == 404
    assert officer.get("/api/v1/grievances/indicators").json()["grievances"] == 1


def test_sensitive_grievances_over_the_api(
    reg: TinyRegistry, client_as: Callable[..., TestClient]
) -> None:
    officer = client_as("registration_officer", "R01-D01", username="officer")
    focal = client_as("supervisor", "R01", username="focal")
    made = officer.post(
        "/api/v1/grievances",
        json={
            "category": "sea",
            "description": "abuse at the distribution point",
            "area_code": "R01-D01",
            "subject_staff": "officer2",
            "anonymous": True,
        },
    )
    assert made.status_code == 201, made.text
    gid = made.json()["id"]
    assert focal.get(f"/api/v1/grievances/{gid}").status_code == 200
    assert officer.get(f"/api/v1/grievances/{gid}").status_code == 404
    assert officer.get("/api/v1/grievances").json()["total"] == 0
    accused = client_as("supervisor", "R01", username="officer2")
    assert accused.get(f"/api/v1/grievances/{gid}").status_code == 404


def test_referral_across_two_agencies_over_the_api(
    reg: TinyRegistry,
    client_as: Callable[..., TestClient],
    partner_client: Callable[..., TestClient],
    engine: Engine,
) -> None:
    steward = client_as("data_steward", username="steward")
    made = steward.post(
        "/api/v1/services",
        json={
            "code": "SCH",
            "name": "School bursary",
            "sector": "education",
            "agency_code": "MOE",
            "area_codes": ["R01"],
            "eligibility": "children >= 1",
        },
    )
    assert made.status_code == 201, made.text
    officer = client_as("registration_officer", "R01-D01", username="officer")
    suggested = officer.get(f"/api/v1/referrals/suggested/{reg.okello}").json()
    assert [s["service_code"] for s in suggested] == ["SCH"]
    refused = officer.post(
        "/api/v1/referrals",
        json={"service_code": "SCH", "household_id": reg.okello, "fields": ["family_name"]},
    )
    assert refused.status_code == 403 and "family_name" in refused.json()["detail"]
    sent = officer.post(
        "/api/v1/referrals",
        json={
            "service_code": "SCH",
            "household_id": reg.okello,
            "person_id": reg.grace,
            "fields": ["given_name"],
        },
    )
    assert sent.status_code == 201, sent.text
    r = sent.json()
    moe = partner_client(agency="MOE")
    listed = moe.get("/api/v1/referrals").json()
    assert [x["id"] for x in listed["items"]] == [r["id"]]
    assert listed["items"][0]["shared_record"]["given_name"] == "Grace"
    assert "family_name" not in listed["items"][0]["shared_record"]
    for action in ("receive", "accept", "serve"):
        step = moe.post(
            f"/api/v1/referrals/{r['id']}/{action}",
            json={},
            headers={"If-Match": f'"{r["version"]}"'},
        )
        assert step.status_code == 200, step.text
        r = step.json()
    assert r["status"] == "served"
    assert (
        moe.post(
            f"/api/v1/referrals/{r['id']}/close", json={}, headers={"If-Match": f'"{r["version"]}"'}
        ).status_code
        == 403
    )
    closed = officer.post(
        f"/api/v1/referrals/{r['id']}/close", json={}, headers={"If-Match": f'"{r["version"]}"'}
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    # An agency without an agreement is refused before anything is looked up; one
    # with an agreement does not see another agency's referral.
    assert partner_client(agency="MOH").get(f"/api/v1/referrals/{r['id']}").status_code == 403
    with unit_of_work(engine) as s:
        agreements.create_agency(s, AgencyIn(code="MOH", name="Health"), actor="admin")
        agreements.create_agreement(
            s,
            AgreementIn(
                code="DSA-MOH",
                agency_code="MOH",
                purposes=["referral"],
                fields=["given_name"],
                valid_from=date(2020, 1, 1),
            ),
            actor="admin",
        )
    other = partner_client(agency="MOH")
    assert other.get(f"/api/v1/referrals/{r['id']}").status_code == 404


def test_the_cli_lodges_moves_and_escalates(
    reg: TinyRegistry,
    database_url: str,
    make_account: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    make_account("officer", "registration_officer", "R01-D01")
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "grievances",
            "lodge",
            "--category",
            "payment",
            "--description",
            "not paid",
            "--household",
            str(reg.okello),
            "--user",
            "officer",
        ],
    )
    assert made.exit_code == 0, made.output
    g = json.loads(made.output)
    bad = runner.invoke(
        cli, ["grievances", "step", str(g["id"]), "close", "--version", "1", "--user", "officer"]
    )
    assert bad.exit_code == 5 and "received" in bad.output
    late = runner.invoke(cli, ["grievances", "escalate", "--now", "2099-01-01T00:00:00"])
    assert late.exit_code == 0 and json.loads(late.output)["escalated"] == [g["id"]]
    shown = runner.invoke(cli, ["grievances", "show", str(g["id"]), "--user", "officer"])
    assert json.loads(shown.output)["escalation_level"] == "region"
    opened = runner.invoke(
        cli,
        [
            "cases",
            "open",
            "--household",
            str(reg.okello),
            "--case-worker",
            "officer",
            "-u",
            "officer",
        ],
    )
    assert opened.exit_code == 0, opened.output
    listed = runner.invoke(cli, ["cases", "list", "-u", "officer"])
    assert len(json.loads(listed.output)) == 1
