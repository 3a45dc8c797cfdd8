"""Household page payments and grievances, every change-request form, conflicts, French errors.

Driven through the TestClient like ``test_pages.py``; the browser suite files the
same forms in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from tests.e2e.test_pages import browser, htmx, sign_in
from tests.integration.test_registry_builders import TinyRegistry, build_registry


@pytest.fixture
def tiny(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


@pytest.fixture
def officer(api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]) -> TestClient:
    make_account("kato", "registration_officer", "R01-D01")
    client = browser(api)
    client.headers.update(htmx(sign_in(client, "kato")))
    return client


def _file(client: TestClient, household: int, **fields: str) -> tuple[int, str]:
    response = client.post(f"/registry/households/{household}/change-requests", data=fields)
    return response.status_code, response.text


def _filed_id(text: str) -> int:
    found = re.search(r"Change request #(\d+) filed", text)
    assert found, text
    return int(found.group(1))


def _approve(api: FastAPI, request_id: int) -> None:
    supervisor = browser(api)
    token = sign_in(supervisor, "sup")
    done = supervisor.post(
        f"/registry/change-requests/{request_id}/approve",
        data={"reason": "ok"},
        headers=htmx(token),
    )
    assert done.status_code == 200 and "badge-applied" in done.text, done.text


def test_household_page_shows_payments_and_the_grievances_the_reader_may_see(
    api: FastAPI, engine: Engine, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    from solidarity.governance import service as governance
    from solidarity.grievances import service as grievances
    from solidarity.grievances.schemas import GrievanceIn
    from solidarity.programs import eligibility, payments
    from solidarity.programs import service as programmes
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn

    make_account("kato", "registration_officer", "R01-D01")
    make_account("sup", "supervisor", "R01-D01")
    make_account("pm", "programme_manager")
    with unit_of_work(engine) as session:
        programme = programmes.create_programme(
            session, ProgrammeIn(code="PX", name="Pay grant", currency="XOF"), "seed"
        )
        for kind, expression in (("eligibility", "size >= 1"), ("benefit", "100 * size")):
            programmes.add_rule_version(
                session,
                "PX",
                RuleVersionIn(kind=kind, expression=expression, valid_from=date(2020, 1, 1)),  # type: ignore[arg-type]
                "seed",
            )
        eligibility.enrol_eligible(session, programme, date.today(), "seed")
        cycle = payments.create_cycle(
            session, programme, "2026-02", date(2026, 2, 1), date(2026, 2, 28), "seed"
        )
        payments.compute_entitlements(session, cycle, "seed")
        handler = governance.cli_principal(session, "sup").scoped_to("grievances.manage")
        lodged = {
            category: grievances.lodge(
                session,
                handler,
                GrievanceIn(category=category, description="x", household_id=tiny.okello),
            ).reference
            for category in ("payment", "sea")
        }
    # Payments need programs.read (a programme manager's); grievances, grievances.read.
    manager = browser(api)
    sign_in(manager, "pm")
    page = manager.get(f"/registry/households/{tiny.okello}")
    assert page.status_code == 200
    payments_table = page.text.split('id="payments"')[1].split("</table>")[0]
    assert "Pay grant" in payments_table and "2026-02" in payments_table
    assert "300" in payments_table and "badge-computed" in payments_table  # 100 * 3 members
    grievances_table = page.text.split('id="grievances"')[1].split("</table>")[0]
    assert lodged["payment"] in grievances_table
    assert lodged["sea"] not in page.text  # sensitive: only for designated handlers
    officer = browser(api)
    sign_in(officer, "kato")
    seen = officer.get(f"/registry/households/{tiny.okello}").text
    assert 'id="payments"' not in seen  # a registration officer does not read payments
    assert lodged["payment"] in seen and lodged["sea"] not in seen
    supervisor = browser(api)
    sign_in(supervisor, "sup")
    seen = supervisor.get(f"/registry/households/{tiny.okello}").text
    assert lodged["payment"] in seen and lodged["sea"] in seen
    assert officer.get(f"/registry/households/{tiny.mwangi}").status_code == 404


#: kind -> (fields with an error, id of the error shown, fields that file it)
KINDS_WITH_AN_ERROR_THEN_SUCCESS: dict[
    str, tuple[dict[str, str], str, Callable[[TinyRegistry], dict[str, str]]]
] = {
    "change_head": (
        {"previous_head_relationship": "spouse"},
        "person_id-error",
        lambda t: {"person_id": str(t.john), "previous_head_relationship": "spouse"},
    ),
    "move_household": ({}, "area_code-error", lambda t: {"area_code": "R01-D02"}),
    "split_household": (
        {"head_person_id": "1"},
        "person_ids-error",
        lambda t: {f"person_ids.{t.grace}": "1", "head_person_id": str(t.grace)},
    ),
    "merge_households": (
        {"absorbed_household_id": "999999"},
        "absorbed_household_id-error",
        lambda t: {"absorbed_household_id": str(t.mwangi)},
    ),
    "remove_member": (
        {"person_id": "grace"},
        "removal_reason-error",
        lambda t: {"person_id": str(t.grace), "removal_reason": "migration"},
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS_WITH_AN_ERROR_THEN_SUCCESS))
def test_every_kind_has_a_form_with_errors_beside_fields_then_files(
    kind: str,
    api: FastAPI,
    tiny: TinyRegistry,
    make_account: Callable[..., str],
) -> None:
    make_account("kato", "registration_officer", "R01")  # R01: a move to R01-D02 is the officer's
    client = browser(api)
    client.headers.update(htmx(sign_in(client, "kato")))
    form = client.get(f"/registry/households/{tiny.okello}/change?kind={kind}")
    assert form.status_code == 200 and f'name="kind" value="{kind}"' in form.text
    assert 'name="base_version" value="1"' in form.text
    bad_fields, error_id, good = KINDS_WITH_AN_ERROR_THEN_SUCCESS[kind]
    status, text = _file(client, tiny.okello, kind=kind, base_version="1", **bad_fields)
    assert status == 422, text
    assert f'id="{error_id}"' in text
    status, text = _file(client, tiny.okello, kind=kind, base_version="1", **good(tiny))
    assert status == 201, text
    assert _filed_id(text) > 0


def test_merge_of_a_household_outside_the_officers_areas_is_refused_like_a_missing_one(
    officer: TestClient, tiny: TinyRegistry
) -> None:
    status, text = _file(
        officer, tiny.okello, kind="merge_households", absorbed_household_id=str(tiny.ali)
    )
    assert status == 422 and 'id="absorbed_household_id-error"' in text
    assert "no such household" in text


def test_correcting_a_member_in_an_update(officer: TestClient, tiny: TinyRegistry) -> None:
    status, text = _file(
        officer,
        tiny.okello,
        kind="update_fields",
        person_id=str(tiny.grace),
        **{"person.birth_date": "2999-01-01"},
    )
    assert status == 422 and 'id="person-birth_date-error"' in text
    assert "birth date is in the future" in text
    status, text = _file(
        officer,
        tiny.okello,
        kind="update_fields",
        person_id=str(tiny.grace),
        **{"person.given_name": "Gracie"},
    )
    assert status == 201, text


def test_a_change_based_on_an_old_version_shows_what_changed_and_reapplies(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    make_account("sup", "supervisor", "R01-D01")
    make_account("otto", "registration_officer", "R01-D01")
    kato = browser(api)
    kato.headers.update(htmx(sign_in(kato, "kato")))
    opened = kato.get(f"/registry/households/{tiny.okello}/change")
    assert 'name="base_version" value="1"' in opened.text
    # Meanwhile another officer's change of the roof and electricity is approved.
    otto = browser(api)
    otto.headers.update(htmx(sign_in(otto, "otto")))
    status, text = _file(
        otto,
        tiny.okello,
        kind="update_fields",
        base_version="1",
        **{"household.roof": "tiles", "household.electricity": "true"},
    )
    assert status == 201
    _approve(api, _filed_id(text))
    # Kato files a change of the roof and the cattle made on the form opened at version 1.
    form = {
        "kind": "update_fields",
        "base_version": "1",
        "household.roof": "metal_sheet",
        "household.electricity": "false",
        "household.livestock_cattle": "4",
    }
    status, text = _file(kato, tiny.okello, **form)
    assert status == 409
    assert "Changed by someone else since you opened it" in text
    differences = text.split('id="conflict-differences"')[1].split("</table>")[0]
    assert re.search(r"<code>roof</code>.*?<td>thatch</td><td>tiles</td>", differences, re.S)
    assert re.search(r"<code>electricity</code>.*?<td>false</td><td>true</td>", differences, re.S)
    assert "you changed it too" in differences  # the roof
    assert 'name="base_version" value="2"' in text
    assert "Re-apply my changes on version 2" in text
    # Re-applied on version 2: kato's roof and cattle, and otto's electricity is kept.
    again = dict(form, base_version="2", **{"household.electricity": "true"})
    status, text = _file(kato, tiny.okello, **again)
    assert status == 201, text
    filed = kato.get(f"/api/v1/change-requests/{_filed_id(text)}", headers={"Accept": "*/*"})
    assert filed.json()["payload"]["household"] == {"roof": "metal_sheet", "livestock_cattle": 4}


def test_an_unchanged_field_is_not_reverted_when_a_stale_update_is_filed(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer", "R01-D01")
    make_account("sup", "supervisor", "R01-D01")
    make_account("otto", "registration_officer", "R01-D01")
    otto = browser(api)
    otto.headers.update(htmx(sign_in(otto, "otto")))
    _status, text = _file(otto, tiny.okello, kind="update_fields", **{"household.roof": "tiles"})
    _approve(api, _filed_id(text))
    kato = browser(api)
    kato.headers.update(htmx(sign_in(kato, "kato")))
    # The form opened at version 1 still shows thatch; kato changes only the cattle.
    status, text = _file(
        kato,
        tiny.okello,
        kind="update_fields",
        base_version="1",
        **{"household.roof": "thatch", "household.livestock_cattle": "2"},
    )
    assert status == 409
    # The form comes back with the current roof, not the stale one, and kato's cattle.
    assert re.search(r'<option value="tiles" selected>', text)
    assert 'value="2"' in text


def test_service_errors_are_translated_on_french_pages(
    officer: TestClient, tiny: TinyRegistry
) -> None:
    officer.cookies.set("solidarity_lang", "fr")
    status, text = _file(
        officer,
        tiny.okello,
        kind="update_fields",
        **{"household.livestock_cattle": "-3", "household.land_hectares": "beaucoup"},
    )
    assert status == 422
    assert "doit être au moins 0" in text
    assert "doit être un nombre" in text
    assert "must be" not in text
    status, text = _file(officer, tiny.okello, kind="change_head")
    assert "doit être un identifiant de personne (un nombre entier)" in text


def test_every_message_template_has_a_french_translation() -> None:
    from solidarity.web.i18n import Locale
    from solidarity.web.pages.messages import templates

    french = Locale("fr")
    missing = [t for t in templates() if french.gettext(t) == t]
    assert missing == []


def test_plan_board_adds_an_action_with_field_errors_then_flags_it_overdue(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("ana", "analyst")
    client = browser(api)
    client.headers.update(htmx(sign_in(client, "ana")))
    board = client.get("/coherence")
    assert 'id="new-action"' in board.text
    bad = client.post("/coherence/actions", data={"code": "", "title": "", "due_on": "soon"})
    assert bad.status_code == 422
    assert 'id="new-code-error"' in bad.text and 'id="new-title-error"' in bad.text
    assert 'id="new-due_on-error"' in bad.text and 'value="soon"' in bad.text
    made = client.post(
        "/coherence/actions",
        data={
            "code": "ACT-9",
            "title": "Share the payroll with health",
            "responsible_person": "Dr Achieng",
            "due_on": "2020-03-01",
        },
    )
    assert made.status_code == 201, made.text
    assert "Action ACT-9 added to the plan." in made.text
    card = made.text.split('id="card-ACT-9"')[1].split("</article>")[0]
    assert "Dr Achieng" in card and "badge-overdue" in card
    again = client.post("/coherence/actions", data={"code": "ACT-9", "title": "twice"})
    assert again.status_code == 409 and "already exists" in again.text


def test_plan_board_edit_on_a_stale_card_shows_what_changed_and_reapplies(
    api: FastAPI, tiny: TinyRegistry, make_account: Callable[..., str]
) -> None:
    make_account("ana", "analyst")
    client = browser(api)
    client.headers.update(htmx(sign_in(client, "ana")))
    client.post("/coherence/actions", data={"code": "A1", "title": "Align", "due_on": "2030-01-01"})
    opened = {
        "code": "A1",
        "version": "1",
        "opened.status": "planned",
        "opened.due_on": "2030-01-01",
        "opened.responsible_person": "",
    }
    first = client.post(
        "/coherence/actions/update",
        data={**opened, "status": "in_progress", "due_on": "2030-01-01"},
    )
    assert first.status_code == 200
    stale = client.post(
        "/coherence/actions/update",
        data={**opened, "status": "planned", "due_on": "2030-06-30", "responsible_person": "Kim"},
    )
    assert stale.status_code == 409
    assert "Changed by someone else since you opened it" in stale.text
    assert re.search(r"<code>status</code></td><td>planned</td><td>in_progress</td>", stale.text)
    reapply = stale.text.split('id="action-conflict"')[1].split("</form>")[0]
    assert 'name="version" value="2"' in reapply and 'value="Kim"' in reapply
    saved = client.post(
        "/coherence/actions/update",
        data={
            "code": "A1",
            "version": "2",
            "status": "planned",
            "due_on": "2030-06-30",
            "responsible_person": "Kim",
        },
    )
    assert saved.status_code == 200
    card = saved.text.split('id="card-A1"')[1].split("</article>")[0]
    assert "Kim" in card and 'value="2030-06-30"' in card
