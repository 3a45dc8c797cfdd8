"""Grievance, case and referral pages through the TestClient: intake with inline errors,
the inbox with timers, workflow steps from the current status, sensitive categories
hidden exactly as the API hides them, the caseload and a case, the referral send form
offering only agreed fields, and the receiving agency's view."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from fastapi import FastAPI
from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from solidarity.governance import agreements
from solidarity.governance import service as governance
from solidarity.governance.schemas import AgencyIn, AgreementIn, GrantIn
from solidarity.grievances import referrals
from solidarity.grievances.schemas import ServiceIn
from tests.conftest import TEST_PASSWORD
from tests.e2e.test_pages import browser, htmx, sign_in
from tests.integration.test_registry_builders import TinyRegistry, build_registry


def _world(engine: Engine, make_account: Callable[..., str]) -> TinyRegistry:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
    make_account("officer", "registration_officer", "R01-D01")
    make_account("investigator", "registration_officer", "R01-D01")
    make_account("focal", "supervisor", "R01-D01")
    make_account("analyst", "analyst")
    return reg


def _lodge(client: object, token: str, **fields: str) -> object:
    data = {"kind": "complaint", "channel": "phone", "description": "Not paid in March", **fields}
    return client.post("/grievances", data=data, headers=htmx(token))  # type: ignore[attr-defined]


def test_intake_inbox_and_workflow(
    api: FastAPI, engine: Engine, make_account: Callable[..., str]
) -> None:
    reg = _world(engine, make_account)
    officer = browser(api)
    token = sign_in(officer, "officer")
    form = officer.get("/grievances/new")
    assert form.status_code == 200 and "Payment not received or wrong amount" in form.text
    refused = _lodge(officer, token, category="", household_id="abc")
    assert refused.status_code == 422
    assert 'id="category" name="category" aria-invalid="true"' in refused.text
    assert 'aria-invalid="true"' in refused.text and "household_id-error" in refused.text
    outside = _lodge(officer, token, category="payment", household_id=str(reg.ali))
    assert outside.status_code == 422 and "household_id-error" in outside.text
    lodged = _lodge(officer, token, category="payment", household_id=str(reg.okello))
    target = lodged.headers["HX-Redirect"]
    grievance_id = int(re.search(r"/grievances/(\d+)", target).group(1))  # type: ignore[union-attr]
    inbox = officer.get("/grievances")
    assert f"GRV-{grievance_id:06d}" in inbox.text
    assert re.search(r"1 d 23 h left to acknowledge|2 d 0 h left to acknowledge", inbox.text)
    page = officer.get(f"/grievances/{grievance_id}")
    assert page.status_code == 200 and "Acknowledge" in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    done = officer.post(
        f"/grievances/{grievance_id}/steps/acknowledge",
        data={"version": version},
        headers=htmx(token),
    )
    assert done.status_code == 200 and "badge-acknowledged" in done.text
    assert 'value="investigator"' in done.text and 'value="analyst"' not in done.text
    stale = officer.post(
        f"/grievances/{grievance_id}/steps/investigate",
        data={"version": version},
        headers=htmx(token),
    )
    assert stale.status_code == 409 and "from acknowledged it can be assign" in stale.text
    # French
    officer.cookies.set("solidarity_lang", "fr")
    assert "Plaintes" in officer.get("/grievances").text


def test_sensitive_grievances_are_hidden_as_in_the_api(
    api: FastAPI, engine: Engine, make_account: Callable[..., str]
) -> None:
    reg = _world(engine, make_account)
    focal = browser(api)
    token = sign_in(focal, "focal")
    lodged = _lodge(
        focal, token, category="sea", household_id=str(reg.okello), subject_staff="investigator"
    )
    grievance_id = int(re.search(r"/grievances/(\d+)", lodged.headers["HX-Redirect"]).group(1))  # type: ignore[union-attr]
    reference = f"GRV-{grievance_id:06d}"
    assert reference in focal.get("/grievances").text
    officer = browser(api)
    sign_in(officer, "officer")
    assert reference not in officer.get("/grievances?view=all").text
    assert officer.get(f"/grievances/{grievance_id}").status_code == 404
    api_view = officer.get(f"/api/v1/grievances/{grievance_id}")
    assert api_view.status_code == 404


def test_cases_and_referrals_pages(
    api: FastAPI, engine: Engine, make_account: Callable[..., str]
) -> None:
    reg = _world(engine, make_account)
    with unit_of_work(engine) as s:
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
        governance.create_user(
            s,
            username="moe.desk",
            display_name="MOE desk",
            password=TEST_PASSWORD,
            actor="admin",
            grants=[GrantIn(role="partner")],
            agency_code="MOE",
        )
        steward = governance.cli_principal(s, "officer").scoped_to("referrals.manage")
        national = governance.create_user(
            s,
            username="steward",
            display_name="s",
            password=TEST_PASSWORD,
            actor="admin",
            grants=[GrantIn(role="data_steward")],
        )
        assert national is not None and steward is not None
        referrals.create_service(
            s,
            governance.cli_principal(s, "steward").scoped_to("referrals.manage"),
            ServiceIn(
                code="SCH",
                name="School bursary",
                sector="education",
                agency_code="MOE",
                area_codes=["R01"],
                eligibility="children >= 1",
            ),
        )
    officer = browser(api)
    token = sign_in(officer, "officer")
    # a case: open, assess, plan
    opened = officer.post(
        "/cases",
        data={"household_id": str(reg.okello), "case_worker": "officer"},
        headers=htmx(token),
    )
    case_id = int(re.search(r"/cases/(\d+)", opened.headers["HX-Redirect"]).group(1))  # type: ignore[union-attr]
    page = officer.get(f"/cases/{case_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    assessed = officer.post(
        f"/cases/{case_id}/assessment",
        data={
            "version": version,
            "score.child_protection": "3",
            "score.food_security": "3",
            "score.health": "3",
        },
        headers=htmx(token),
    )
    assert assessed.status_code == 200 and ">high (" in assessed.text
    assert (
        "My caseload" in officer.get("/cases").text
        and f"/cases/{case_id}" in officer.get("/cases").text
    )
    # worklist and suggestions
    worklist = officer.get("/referrals/worklist")
    assert worklist.status_code == 200 and f"#{reg.okello}" in worklist.text
    suggested = officer.get(f"/referrals/suggested?household_id={reg.okello}")
    assert "School bursary" in suggested.text
    form = officer.get(f"/referrals/new?household_id={reg.okello}&service_code=SCH")
    assert 'name="field.given_name"' in form.text and 'name="field.birth_date"' in form.text
    assert 'name="field.sex"' not in form.text  # not in the agreement: never offered
    refused = officer.post(
        "/referrals",
        data={"household_id": str(reg.okello), "service_code": "SCH", "field.sex": "on"},
        headers=htmx(token),
    )
    assert refused.status_code == 403 and "covers sex" in refused.text
    sent = officer.post(
        "/referrals",
        data={"household_id": str(reg.okello), "service_code": "SCH", "field.given_name": "on"},
        headers=htmx(token),
    )
    referral_id = int(re.search(r"/referrals/(\d+)", sent.headers["HX-Redirect"]).group(1))  # type: ignore[union-attr]
    # the receiving agency's view
    agency = browser(api)
    agency_token = sign_in(agency, "moe.desk")
    received = agency.get("/referrals")
    assert f"/referrals/{referral_id}" in received.text and "Received by MOE" in received.text
    detail = agency.get(f"/referrals/{referral_id}")
    assert "Mark received" in detail.text and "Amina" in detail.text
    version = re.search(r'name="version" value="(\d+)"', detail.text).group(1)  # type: ignore[union-attr]
    step = agency.post(
        f"/referrals/{referral_id}/steps/receive",
        data={"version": version},
        headers=htmx(agency_token),
    )
    assert "badge-received" in step.text
    version = re.search(r'name="version" value="(\d+)"', step.text).group(1)  # type: ignore[union-attr]
    no_reason = agency.post(
        f"/referrals/{referral_id}/steps/decline",
        data={"version": version},
        headers=htmx(agency_token),
    )
    assert no_reason.status_code == 422 and "decline-reason-error" in no_reason.text
    # the sender cannot accept for the agency
    sender_view = officer.get(f"/referrals/{referral_id}")
    assert "Accept" not in sender_view.text
