"""Change-request forms of every kind, conflicts, payments and grievances, the plan board,
and translated service errors, in Chromium.

Each flow asserts on what the page shows; each new or changed page is checked with
axe-core and, for the household page and the plan board, photographed into docs/.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SCREENSHOTS, SKIP_REASON, Site

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect

from tests.browser.test_flows import sign_in


def axe_clean(page: Page, name: str) -> None:
    """No serious or critical axe-core violation (without a screenshot for the docs)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"


def photograph(page: Page, name: str, top: str) -> None:
    """A screenshot for the docs with ``top`` (a selector) at the top of the window."""
    page.locator(top).evaluate("el => el.scrollIntoView({block: 'start'})")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _open_kind(page: Page, site: Site, kind: str) -> None:
    household = site.extra["large_household_id"]
    page.goto(f"{site.url}/registry/households/{household}/change")
    tab = page.get_by_role("navigation", name="Kind of change").get_by_role("link", name=kind)
    tab.click()
    expect(tab).to_have_attribute("aria-current", "page")  # the tabs follow the htmx switch
    expect(page.locator(f'#change-form input[name="kind"][value="{kind}"]')).to_be_attached()


def _file(page: Page) -> None:
    page.get_by_role("button", name="File the request").click()


def _expect_filed(page: Page) -> None:
    expect(page.get_by_role("status")).to_contain_text("filed")


def test_new_kinds_show_errors_beside_fields_then_file(page: Page, site: Site) -> None:
    sign_in(page, site, "registration_officer", "/registry")

    _open_kind(page, site, "change_head")
    _file(page)
    expect(page.locator("#person_id-error")).to_be_visible()
    expect(page.get_by_label("New head", exact=True)).to_have_attribute("aria-invalid", "true")
    axe_clean(page, "change-request-change-head-errors")
    page.get_by_label("New head", exact=True).select_option(index=1)
    _file(page)
    _expect_filed(page)

    _open_kind(page, site, "move_household")
    _file(page)
    expect(page.locator("#area_code-error")).to_be_visible()
    axe_clean(page, "change-request-move-errors")
    now_in = re.search(r"It is now in (\S+)\.", page.locator("#change-form").inner_text())
    assert now_in is not None
    current = now_in.group(1)
    options = page.locator("#area_code option").evaluate_all("os => os.map(o => o.value)")
    target = next(code for code in options if code and code != current)
    page.get_by_label("New area").select_option(target)
    _file(page)
    _expect_filed(page)

    _open_kind(page, site, "split_household")
    _file(page)
    expect(page.locator("#person_ids-error")).to_contain_text("choose at least one member")
    expect(page.locator("#head_person_id-error")).to_be_visible()
    axe_clean(page, "change-request-split-errors")
    photograph(page, "change-request-split-errors", "#change-form")
    leaving = page.locator("#change-form input[type=checkbox]").last
    leaving_id = (leaving.get_attribute("id") or "").removeprefix("person_ids-")
    leaving.check()
    page.get_by_label("Head of the new household").select_option(leaving_id)
    page.get_by_label("Address of the new household").fill("Plot 9, River Road")
    _file(page)
    _expect_filed(page)

    _open_kind(page, site, "merge_households")
    page.get_by_label("Number of the household to absorb").fill("99999999")
    _file(page)
    expect(page.locator("#absorbed_household_id-error")).to_contain_text("no such household")
    axe_clean(page, "change-request-merge-errors")
    page.get_by_label("Number of the household to absorb").fill(
        str(site.extra["other_household_id"])
    )
    _file(page)
    _expect_filed(page)


def test_a_stale_form_shows_what_changed_and_reapplies(browser: Browser, site: Site) -> None:
    household = f"/registry/households/{site.household_id}"
    late = browser.new_page()
    sign_in(late, site, "registration_officer", f"{household}/change")
    # Meanwhile the household changes: another page files an update, a supervisor approves it.
    early = browser.new_page()
    sign_in(early, site, "registration_officer", f"{household}/change")
    poultry = early.get_by_label("Poultry")
    before = poultry.input_value()
    changed = str(int(before or 0) + 11)
    poultry.fill(changed)
    _file(early)
    number = re.search(r"#(\d+)", early.get_by_role("status").inner_text())
    assert number is not None
    early.close()
    supervisor = browser.new_page()
    sign_in(supervisor, site, "supervisor", f"/registry/change-requests/{number.group(1)}")
    supervisor.get_by_role("button", name="Approve").click()
    expect(supervisor.locator("#request-status")).to_contain_text("applied")
    supervisor.close()

    late.get_by_label("Goats and sheep").fill("3")
    _file(late)
    conflict = late.locator("#conflict")
    expect(conflict).to_contain_text("Changed by someone else since you opened it")
    differences = late.locator("#conflict-differences")
    expect(differences).to_contain_text("livestock_poultry")
    expect(differences.locator("tbody tr").first).to_contain_text(changed)
    expect(late.get_by_label("Poultry")).to_have_value(changed)  # the form shows it as it is now
    expect(late.get_by_label("Goats and sheep")).to_have_value("3")  # with the officer's change
    axe_clean(late, "change-request-conflict")
    photograph(late, "change-request-conflict", "#conflict")
    late.get_by_role("button", name=re.compile("Re-apply my changes on version")).click()
    _expect_filed(late)
    late.close()


def test_household_page_shows_payments_and_grievances(page: Page, site: Site) -> None:
    paid = site.extra["paid_household_id"]
    sign_in(page, site, "programme_manager", f"/registry/households/{paid}")
    payments = page.locator("#payments")
    expect(payments).to_contain_text("Child grant")
    expect(payments.locator("tbody tr").first).to_contain_text("computed")
    grievances = page.locator("#grievances")
    expect(grievances).to_contain_text(site.extra["grievances"]["payment"])
    expect(grievances).to_contain_text("payment")
    # The sensitive one is only for designated handlers (supervisors).
    expect(page.locator("main")).not_to_contain_text(site.extra["grievances"]["sea"])
    axe_clean(page, "household-payments-grievances")
    photograph(page, "household-payments-grievances", "#programmes-title")


def test_plan_board_adds_an_action_and_flags_it_overdue(page: Page, site: Site) -> None:
    sign_in(page, site, "analyst", "/coherence")
    form = page.locator("#new-action")
    form.get_by_role("button", name="Add the action").click()
    expect(page.locator("#new-code-error")).to_contain_text("is required")
    expect(page.locator("#new-code")).to_have_attribute("aria-invalid", "true")
    form = page.locator("#new-action")
    form.get_by_label("Code").fill("ACT-B1")
    form.get_by_label("Title").fill("Share the social registry with the health insurer")
    form.get_by_label("Responsible").fill("Director of planning")
    form.get_by_label("Due").fill("2021-06-30")
    form.get_by_role("button", name="Add the action").click()
    expect(page.locator("#action-created")).to_contain_text("ACT-B1")
    card = page.locator("#card-ACT-B1")
    expect(card).to_contain_text("overdue")
    card.get_by_label("Status").select_option("in_progress")
    # The card moves to the in-progress column (whatever else other tests put there).
    column = page.locator("section", has=page.locator("#col-in_progress"))
    expect(column.locator("#card-ACT-B1")).to_be_visible(timeout=15_000)
    expect(page.locator("#card-ACT-B1 select")).to_have_value("in_progress")
    axe_clean(page, "coherence-board-page")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#board").screenshot(path=str(SCREENSHOTS / "coherence-action-plan.png"))


def test_french_page_translates_a_service_error(page: Page, site: Site) -> None:
    sign_in(page, site, "registration_officer", f"/registry/households/{site.household_id}")
    page.get_by_role("link", name="Français").click()
    expect(page.get_by_role("heading", name="Membres")).to_be_visible()
    page.goto(f"{site.url}/registry/households/{site.household_id}/change")
    page.get_by_label("Bovins").fill("-4")
    page.get_by_role("button", name="Déposer la demande").click()
    expect(page.locator("#household-livestock_cattle-error")).to_have_text("doit être au moins 0")
    expect(page.locator("#form-problem")).to_contain_text(re.compile(r"refusée : \d erreur\(s\)"))
    axe_clean(page, "change-request-errors-fr")
    photograph(page, "change-request-errors-fr", "#form-problem")
    page.get_by_role("link", name="English").click()
