"""The web pages as a browser drives them, through the TestClient.

Sign-in through the form, redirects of anonymous page requests, the registry's
search, household and change request pages with maker-checker, and the area
scope of pages. The browser suite (tests/browser) drives the same pages in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from tests.conftest import TEST_PASSWORD
from tests.integration.test_registry_builders import TinyRegistry, build_registry

HTML = {"Accept": "text/html"}


@pytest.fixture
def tiny(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


def browser(api: FastAPI) -> TestClient:
    return TestClient(api, base_url="https://testserver", headers=HTML, follow_redirects=False)


def sign_in(client: TestClient, username: str, password: str = TEST_PASSWORD) -> str:
    """Sign in through the form; returns the page's CSRF token (for htmx posts)."""
    response = client.post("/sign-in", data={"username": username, "password": password})
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    assert page.status_code == 200, page.text
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, "the layout carries the CSRF token for htmx"
    return found.group(1)


def htmx(token: str, target: str | None = None) -> dict[str, str]:
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    if target:
        headers["HX-Target"] = target
    return headers


def test_anonymous_page_requests_go_to_sign_in_and_come_back(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    client = browser(api)
    response = client.get("/registry?name=Okello")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/registry%3Fname%3DOkello"
    form = client.get(response.headers["location"])
    assert form.status_code == 200 and 'name="password"' in form.text
    signed = client.post(
        "/sign-in",
        data={"username": "kato", "password": TEST_PASSWORD, "next": "/registry?name=Okello"},
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/registry?name=Okello"
    page = client.get("/registry?name=Okello")
    assert "Amina Okello" in page.text
    # htmx requests are told where to go instead of receiving the sign-in page as a fragment
    anonymous = browser(api)
    partial = anonymous.get("/registry", headers={"HX-Request": "true"})
    assert partial.headers["HX-Redirect"].startswith("/sign-in")
    # API clients still get 401 problem details
    assert TestClient(api).get("/registry").status_code == 401


def test_sign_in_errors_are_shown_and_accounts_lock(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    client = browser(api)
    wrong = client.post("/sign-in", data={"username": "kato", "password": "nope"})
    assert wrong.status_code == 401
    assert "Sign-in failed" in wrong.text and "locked" in wrong.text
    empty = client.post("/sign-in", data={"username": "", "password": ""})
    assert empty.status_code == 422 and "Enter your username and password" in empty.text
    for _ in range(6):
        client.post("/sign-in", data={"username": "kato", "password": "nope"})
    locked = client.post("/sign-in", data={"username": "kato", "password": TEST_PASSWORD})
    assert locked.status_code in (401, 200)
    assert "locked" in locked.text or "Too many" in locked.text


def test_layout_shows_user_scope_navigation_by_permission_and_signs_out(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    client = browser(api)
    token = sign_in(client, "kato")
    page = client.get("/registry")
    assert "registration officer · R01-D01" in page.text
    assert 'href="/imports"' in page.text and 'href="/programmes"' not in page.text
    assert 'href="#main"' in page.text and "<main" in page.text
    out = client.post("/sign-out", headers=htmx(token))
    assert out.headers["HX-Redirect"] == "/sign-in"
    assert client.get("/registry").status_code == 303


def test_search_pages_and_partials_stay_inside_the_officers_area(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    client = browser(api)
    token = sign_in(client, "kato")
    page = client.get("/registry")
    assert "Amina Okello" in page.text and "Sara" not in page.text
    partial = client.get("/registry?name=Sara", headers=htmx(token, "results"))
    assert "<html" not in partial.text and "0 households found" in partial.text
    assert client.get(f"/registry/households/{tiny.ali}").status_code == 404
    household = client.get(f"/registry/households/{tiny.okello}")
    assert household.status_code == 200
    assert "NID-001" in household.text and "Grace" in household.text
    past = client.get(f"/registry/households/{tiny.okello}?as_of=2023-06-01")
    assert past.status_code == 404  # registered in 2024


def test_analysts_see_pseudonyms_on_pages(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("ana", "analyst")
    client = browser(api)
    sign_in(client, "ana")
    page = client.get(f"/registry/households/{tiny.okello}")
    assert page.status_code == 200
    assert "Amina" not in page.text and "NID-001" not in page.text


def test_change_request_filed_with_field_errors_then_approved_by_another_person(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    make_account("sup", "supervisor", "R01-D01")
    officer = browser(api)
    token = sign_in(officer, "kato")
    form = officer.get(f"/registry/households/{tiny.okello}/change")
    assert form.status_code == 200 and 'name="household.roof"' in form.text
    bad = officer.post(
        f"/registry/households/{tiny.okello}/change-requests",
        data={
            "kind": "update_fields",
            "household.roof": "thatch",
            "household.livestock_cattle": "-3",
        },
        headers=htmx(token),
    )
    assert bad.status_code == 422
    assert 'id="household-livestock_cattle-error"' in bad.text
    good = officer.post(
        f"/registry/households/{tiny.okello}/change-requests",
        data={"kind": "update_fields", "household.roof": "tiles", "reason": "visit"},
        headers=htmx(token),
    )
    assert good.status_code == 201, good.text
    request_id = int(re.search(r"Change request #(\d+) filed", good.text).group(1))  # type: ignore[union-attr]

    own = officer.get(f"/registry/change-requests/{request_id}")
    assert "another person must decide it" in own.text

    supervisor = browser(api)
    sup_token = sign_in(supervisor, "sup")
    inbox = supervisor.get("/registry/change-requests")
    assert f"/registry/change-requests/{request_id}" in inbox.text
    # The payload, sealed at rest, is shown decrypted to the person deciding.
    shown = supervisor.get(f"/registry/change-requests/{request_id}")
    assert shown.status_code == 200 and "tiles" in shown.text
    no_reason = supervisor.post(
        f"/registry/change-requests/{request_id}/reject", data={}, headers=htmx(sup_token)
    )
    assert no_reason.status_code == 422 and "decision-reason-error" in no_reason.text
    approved = supervisor.post(
        f"/registry/change-requests/{request_id}/approve",
        data={"reason": "checked"},
        headers=htmx(sup_token),
    )
    assert approved.status_code == 200 and "badge-applied" in approved.text
    household = officer.get(f"/registry/households/{tiny.okello}")
    assert "tiles" in household.text and "thatch → tiles" in household.text


def test_pages_answer_in_french_with_local_formats(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    client = browser(api)
    sign_in(client, "kato")
    switched = client.get("/language?lang=fr&next=/registry")
    assert switched.status_code == 303 and switched.headers["location"] == "/registry"
    page = client.get("/registry")
    assert '<html lang="fr">' in page.text
    assert "Rechercher dans le registre" in page.text
    household = client.get(f"/registry/households/{tiny.okello}")
    assert "2 mai 1980" in household.text
    outside = client.get("/language?lang=fr&next=https://evil.example/")
    assert outside.headers["location"] == "/"


def test_import_columns_are_suggested_from_their_names() -> None:
    from solidarity.web.pages.imports import suggest_field

    assert suggest_field("hh_id") == "household_key"
    assert suggest_field("grp_member/First Name") == "given_name"
    assert suggest_field("Gender") == "sex"
    assert suggest_field("DOB") == "birth_date"
    assert suggest_field("nid") == "id_national_id"
    assert suggest_field("Roof material") == "roof"
    assert suggest_field("birth_dat") == "birth_date"
    assert suggest_field("favourite colour") == ""


def test_rule_editor_previews_an_unsaved_draft_in_the_managers_areas(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    from datetime import date

    from solidarity.db.engine import unit_of_work
    from solidarity.programs import service as programmes
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn

    with unit_of_work(api.state.engine) as session:
        programmes.create_programme(session, ProgrammeIn(code="DR", name="Draft grant"), "t")
        programmes.add_rule_version(
            session,
            "DR",
            RuleVersionIn(kind="eligibility", expression="size >= 1", valid_from=date(2020, 1, 1)),
            "t",
        )
    make_account("national.pm", "programme_manager")
    make_account("district.pm", "programme_manager", "R01-D01")
    form = {"code": "DR", "kind": "eligibility", "expression": "size >= 2", "parameters": ""}
    for username, expected in (
        ("national.pm", "2 of 3 households would qualify"),
        ("district.pm", "1 of 1 households would qualify"),
    ):
        client = browser(api)
        token = sign_in(client, username)
        page = client.post("/programme/rules/draft", data=form, headers=htmx(token))
        assert page.status_code == 200, page.text
        assert expected in page.text, (username, page.text)
