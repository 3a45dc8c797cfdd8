"""What officers, managers, stewards and analysts do in the web pages, in Chromium.

Each flow asserts on what the page shows; each main page is checked with axe-core
(no serious or critical violation) and photographed into docs/screenshots.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import SCREENSHOTS, SKIP_REASON, Site

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect


def sign_in(page: Page, site: Site, role: str, target: str = "/registry") -> None:
    username = site.accounts[role]
    page.goto(site.url + target)
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(site.passwords[username])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".user-name")).to_be_visible()


def check_accessibility(page: Page, name: str) -> None:
    """No serious or critical axe-core violation; a screenshot for the docs."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_sign_in_page_shows_errors(page: Page, site: Site) -> None:
    page.goto(site.url + "/registry")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_accessibility(page, "sign-in")
    page.get_by_label("Username").fill(site.accounts["analyst"])
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    expect(page.get_by_role("alert")).to_contain_text("locked")


def test_officer_searches_and_opens_a_household(page: Page, site: Site) -> None:
    sign_in(page, site, "registration_officer")
    expect(page.locator("header")).to_contain_text(f"registration officer · {site.district}")
    expect(page.locator(".result-count")).to_contain_text("households found")
    first_name = page.locator("#results tbody tr td").nth(1).inner_text().split()[0]
    page.get_by_label("Name").fill(first_name)
    expect(page).to_have_url(re.compile(r"name="))  # htmx pushed the search to the address
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_contain_text(first_name)
    check_accessibility(page, "registry-search")
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.locator("#members-title + .table-scroll tbody tr").first).to_contain_text(
        first_name
    )
    check_accessibility(page, "household")


def test_change_request_filed_by_one_and_approved_by_another(browser: Browser, site: Site) -> None:
    officer = browser.new_page()
    sign_in(officer, site, "registration_officer", f"/registry/households/{site.household_id}")
    officer.get_by_role("link", name="File a change request").click()
    officer.get_by_label("Cattle").fill("-4")
    officer.get_by_role("button", name="File the request").click()
    expect(officer.locator("#household-livestock_cattle-error")).to_contain_text("")
    expect(officer.get_by_label("Cattle")).to_have_attribute("aria-invalid", "true")
    check_accessibility(officer, "change-request-errors")
    officer.get_by_label("Cattle").fill("7")
    officer.get_by_label("Reason for the change").fill("Home visit")
    officer.get_by_role("button", name="File the request").click()
    filed = officer.get_by_role("status")
    expect(filed).to_contain_text("filed")
    number = re.search(r"#(\d+)", filed.inner_text()).group(1)  # type: ignore[union-attr]
    officer.close()

    supervisor = browser.new_page()
    sign_in(supervisor, site, "supervisor", "/registry/change-requests")
    supervisor.locator(f'a[href="/registry/change-requests/{number}"]').click()
    expect(supervisor.locator("#request-status")).to_contain_text("submitted")
    supervisor.get_by_role("button", name="Reject").click()
    expect(supervisor.locator("#decision-reason-error")).to_be_visible()
    check_accessibility(supervisor, "change-request-decision")
    supervisor.get_by_label("Reason (required to reject)").fill("Checked on site")
    supervisor.get_by_role("button", name="Approve").click()
    expect(supervisor.locator("#request-status")).to_contain_text("applied")
    supervisor.goto(f"{site.url}/registry/households/{site.household_id}")
    expect(supervisor.locator(".timeline")).to_contain_text("livestock_cattle")
    supervisor.close()


def _combined_file(path: Path, site: Site, sex: str) -> Path:
    path.write_text(
        "hh_id,area_code,first_name,surname,gender,dob,relation\n"
        f"WEB-1,{site.community},Amani,Tembo,{sex},1984-02-03,head\n"
        f"WEB-1,{site.community},Zawadi,Tembo,female,2012-09-30,child\n"
        f"WEB-2,{site.community},Baraka,Mollel,male,1975-11-12,head\n",
        encoding="utf-8",
    )
    return path


def test_import_with_errors_then_fixed(page: Page, site: Site, tmp_path: Path) -> None:
    sign_in(page, site, "registration_officer", "/imports")
    check_accessibility(page, "import-upload")
    page.get_by_label("One combined file").set_input_files(
        str(_combined_file(tmp_path / "survey.csv", site, "mal"))
    )
    page.get_by_label("Source system").fill("survey-2025")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="Map columns and preview")).to_be_visible()
    expect(page.get_by_label("gender")).to_have_value("sex")  # suggested from the name
    expect(page.get_by_label("hh_id")).to_have_value("household_key")
    expect(page.locator("#preview table")).to_contain_text("Amani")
    check_accessibility(page, "import-mapping")
    page.get_by_role("button", name="Validate and import").click()
    expect(page.locator("#import-outcome")).to_contain_text("Nothing was imported", timeout=20_000)
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("gender")
    expect(errors).to_contain_text("mal")
    expect(page.get_by_role("link", name="Download the error file (CSV)")).to_be_visible()
    check_accessibility(page, "import-errors")

    page.get_by_role("link", name="Upload a corrected file").click()
    page.get_by_label("One combined file").set_input_files(
        str(_combined_file(tmp_path / "survey-fixed.csv", site, "male"))
    )
    page.get_by_label("Source system").fill("survey-2025")
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("button", name="Validate and import").click()
    expect(page.locator("#import-outcome")).to_contain_text(
        "Imported 2 households and 3 persons", timeout=20_000
    )


def test_rule_editor_checks_as_you_type_and_previews(page: Page, site: Site) -> None:
    sign_in(page, site, "programme_manager", "/programme?code=CG")
    count = page.locator("#preview-count")
    expect(count).to_contain_text("households would qualify")
    before = count.inner_text()
    editor = page.get_by_label("Expression")
    editor.fill("children >= 1 &&")
    expect(page.locator("#rule-error")).to_contain_text("Line 1, column")
    editor.fill("children >= 3")
    expect(page.locator("#rule-ok")).to_be_visible()
    expect(count).not_to_have_text(before)
    check_accessibility(page, "programme-rule-editor")
    page.get_by_label("Household number").fill(str(site.household_id))
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#explanation")).to_contain_text(f"Household {site.household_id}")


def test_duplicate_review_with_keyboard(page: Page, site: Site) -> None:
    sign_in(page, site, "data_steward", "/linkage/review")
    expect(page.locator("#agreement")).to_contain_text("given_name")
    expect(page.locator("#records")).to_be_visible()
    check_accessibility(page, "duplicate-review")
    waiting = page.locator("#review .result-count").inner_text()
    page.keyboard.press("n")
    expect(page.locator("#review")).to_contain_text("Decision recorded")
    expect(page.locator("#review .result-count")).not_to_have_text(waiting)


def test_coherence_dashboard_and_pdf(page: Page, site: Site) -> None:
    sign_in(page, site, "analyst", "/coherence")
    expect(page.get_by_role("heading", name="Overlaps between programmes")).to_be_visible()
    expect(page.get_by_role("heading", name="Action plan")).to_be_visible()
    check_accessibility(page, "coherence")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name="Download the PDF report").click()
    path = download.value.path()
    assert path is not None and Path(path).read_bytes()[:4] == b"%PDF"


def test_switch_to_french(page: Page, site: Site) -> None:
    sign_in(page, site, "registration_officer", f"/registry/households/{site.household_id}")
    page.get_by_role("link", name="Français").click()
    expect(page.get_by_role("heading", name="Membres")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("navigation", name="Principale")).to_contain_text("Registre")
    check_accessibility(page, "household-fr")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site.url + "/registry")
    expect(page.get_by_role("heading", name="Rechercher dans le registre")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "registry-phone-fr.png"))
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Search the registry")).to_be_visible()
