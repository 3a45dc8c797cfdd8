"""Grievances, cases and referrals in Chromium: intake then the inbox with its timer,
acknowledge / assign / resolve, sensitive categories hidden as the API hides them, a
referral sent by the registry office and accepted and served by the receiving
agency's own account. Every new page is checked with axe-core; the inbox and the
referral worklist are photographed into docs/screenshots."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from tests.browser.conftest import SKIP_REASON, Site

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect

from tests.browser.test_flows import check_accessibility, sign_in

AGENCY_USER = "moe.desk"
AGENCY_PASSWORD = "moe-desk-demo-2025!"


@pytest.fixture(scope="module")
def redress(site: Site) -> Iterator[Site]:
    """The site plus an education agency, its agreement, a service and the agency's account."""
    from solidarity.db.base import utcnow
    from solidarity.db.engine import make_engine, unit_of_work
    from solidarity.governance import agreements
    from solidarity.governance import service as governance
    from solidarity.governance.schemas import AgencyIn, AgreementIn, GrantIn
    from solidarity.grievances import referrals
    from solidarity.grievances import service as grievances
    from solidarity.grievances.schemas import GrievanceIn, ServiceIn

    engine = make_engine(os.environ["SOLIDARITY_DATABASE_URL"])
    with unit_of_work(engine) as session:
        agreements.create_agency(session, AgencyIn(code="MOE", name="Education"), actor="seed")
        agreements.create_agreement(
            session,
            AgreementIn(
                code="DSA-MOE",
                agency_code="MOE",
                purposes=["referral"],
                fields=["given_name", "birth_date"],
                valid_from=date(2020, 1, 1),
            ),
            actor="seed",
        )
        governance.create_user(
            session,
            username=AGENCY_USER,
            display_name="Education desk",
            password=AGENCY_PASSWORD,
            actor="seed",
            grants=[GrantIn(role="partner")],
            agency_code="MOE",
        )
        steward = governance.cli_principal(session, site.accounts["data_steward"])
        referrals.create_service(
            session,
            steward.scoped_to("referrals.manage"),
            ServiceIn(
                code="BURSARY",
                name="School bursary",
                sector="education",
                agency_code="MOE",
                area_codes=[site.district],
                eligibility="size >= 1",
            ),
        )
        # A grievance lodged four days ago and never acknowledged: its standard is breached.
        officer = governance.cli_principal(session, site.accounts["registration_officer"])
        grievances.lodge(
            session,
            officer.scoped_to("grievances.manage"),
            GrievanceIn(
                category="payment",
                channel="office",
                description="No payment since January",
                household_id=site.household_id,
            ),
            now=utcnow() - timedelta(days=4),
        )
    engine.dispose()
    site.accounts["agency"] = AGENCY_USER
    site.passwords[AGENCY_USER] = AGENCY_PASSWORD
    yield site


def _lodge(page: Page, site: Site, category: str, **extra: str) -> str:
    page.goto(site.url + "/grievances/new")
    page.get_by_label("Category").select_option(label=category)
    page.get_by_label("Channel").select_option("phone")
    page.get_by_label("Household number").fill(str(site.household_id))
    page.get_by_label("What happened").fill("The March payment never arrived")
    for label, value in extra.items():
        page.get_by_label(label.replace("_", " ")).fill(value)
    page.get_by_role("button", name="Lodge the grievance").click()
    expect(page.get_by_role("status")).to_contain_text("lodged")
    return page.locator("h1").inner_text().split(":")[0]


def test_intake_then_the_inbox_shows_it_with_its_timer(page: Page, redress: Site) -> None:
    sign_in(page, redress, "registration_officer", "/grievances/new")
    page.get_by_role("button", name="Lodge the grievance").click()  # nothing filled in
    expect(page.get_by_label("Category")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#category-error")).to_be_visible()
    check_accessibility(page, "grievance-intake-errors")
    reference = _lodge(page, redress, "Payment not received or wrong amount")
    assert reference.startswith("GRV-")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Grievances").click()
    row = page.locator("#inbox tbody tr", has_text=reference)
    expect(row).to_contain_text("left to acknowledge")
    expect(row).to_contain_text("received")
    # Most urgent first: the grievance whose standard is breached heads the inbox.
    first = page.locator("#inbox tbody tr").first
    expect(first).to_contain_text("breached")
    expect(first).to_contain_text("acknowledge overdue by 2 d")
    check_accessibility(page, "grievance-inbox")


def test_acknowledge_assign_investigate_and_resolve(page: Page, redress: Site) -> None:
    sign_in(page, redress, "registration_officer", "/grievances")
    reference = _lodge(page, redress, "Data error")
    status = page.locator("#grievance-status")
    page.get_by_role("button", name="Acknowledge").click()
    expect(status).to_contain_text("acknowledged")
    expect(page.locator("#timer")).to_contain_text("left to resolve")
    page.get_by_label("Investigator (in the grievance's area)").select_option(
        redress.accounts["registration_officer"]
    )
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(status).to_contain_text("assigned")
    expect(page.locator("#assigned-to")).to_contain_text(redress.accounts["registration_officer"])
    page.get_by_role("button", name="Start the investigation").click()
    expect(status).to_contain_text("under investigation")
    check_accessibility(page, "grievance-detail")
    page.get_by_role("button", name="Resolve").click()  # no resolution text: refused inline
    expect(page.locator("#resolution-error")).to_be_visible()
    page.get_by_label("How it was resolved").fill("Date of birth corrected at the office")
    page.get_by_role("button", name="Resolve").click()
    expect(status).to_contain_text("resolved")
    expect(page.locator("#timer")).to_contain_text("resolved within the standard")
    expect(page.locator("#grievance-events")).to_contain_text("resolve")
    page.goto(redress.url + "/grievances?view=all")
    expect(page.locator("#inbox tbody tr", has_text=reference)).to_contain_text("resolved")


def test_a_sensitive_grievance_is_hidden_from_the_staff_member_and_non_designated(
    browser: Browser, redress: Site
) -> None:
    focal = browser.new_page()
    sign_in(focal, redress, "supervisor", "/grievances")
    officer_name = redress.accounts["registration_officer"]
    reference = _lodge(
        focal,
        redress,
        "Sexual exploitation and abuse",
        **{"Staff member complained about (username)": officer_name},
    )
    url = focal.url.split("?")[0]
    focal.goto(redress.url + "/grievances")
    expect(focal.locator("#inbox")).to_contain_text(reference)
    expect(focal.locator("#inbox tbody tr", has_text=reference)).to_contain_text("sensitive")
    focal.close()
    officer = browser.new_page()
    sign_in(officer, redress, "registration_officer", "/grievances?view=all")
    expect(officer.locator("main")).not_to_contain_text(reference)
    response = officer.goto(url)
    assert response is not None and response.status == 404
    expect(officer.locator("main")).not_to_contain_text("exploitation")
    officer.close()


def test_a_case_with_its_assessment(page: Page, redress: Site) -> None:
    sign_in(page, redress, "registration_officer", "/cases")
    page.get_by_label("Household number").fill(str(redress.household_id))
    page.get_by_role("button", name="Open the case").click()
    expect(page.get_by_role("heading", name="Needs assessment")).to_be_visible()
    page.get_by_label("Child protection concern").select_option("3")
    page.get_by_label("Food insecurity").select_option("3")
    page.get_by_label("Health or disability needs without care").select_option("3")
    page.get_by_role("button", name="Save the assessment").click()
    expect(page.locator("#case-priority")).to_contain_text("high")
    page.get_by_label("Description").fill("Children back in school")
    page.get_by_label("Due date").fill("2020-01-31")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#plan")).to_contain_text("overdue")
    check_accessibility(page, "case")
    page.goto(redress.url + "/cases")
    expect(page.locator("#caseload")).to_contain_text("high")
    check_accessibility(page, "caseload")


def test_a_referral_sent_by_the_office_is_accepted_and_served_by_the_agency(
    browser: Browser, redress: Site
) -> None:
    officer = browser.new_page()
    sign_in(officer, redress, "registration_officer", "/referrals/worklist")
    expect(officer.locator("#worklist-count")).to_contain_text("suggested referrals")
    check_accessibility(officer, "referral-worklist")
    officer.locator("#worklist tbody tr").first.get_by_role("link").nth(1).click()
    expect(officer.get_by_role("heading", name="Send a referral")).to_be_visible()
    expect(officer.get_by_label("given_name")).to_be_visible()
    expect(officer.get_by_label("birth_date")).to_be_visible()
    expect(officer.locator("input[name='field.sex']")).to_have_count(0)  # not agreed
    check_accessibility(officer, "referral-send")
    officer.get_by_label("given_name").check()
    officer.get_by_label("Reason for the referral").fill("Child out of school")
    officer.get_by_role("button", name="Send the referral").click()
    expect(officer.get_by_role("status")).to_contain_text("sent to MOE")
    number = re.search(r"/referrals/(\d+)", officer.url).group(1)  # type: ignore[union-attr]
    expect(officer.locator("#referral-status")).to_contain_text("sent")
    expect(officer.get_by_role("button", name="Accept")).to_have_count(0)
    officer.close()

    agency = browser.new_page()
    sign_in(agency, redress, "agency", "/referrals")
    expect(agency.get_by_role("link", name="Received by MOE")).to_have_attribute(
        "aria-current", "page"
    )
    agency.locator(f'a[href="/referrals/{number}"]').click()
    expect(agency.locator("#shared-record")).to_contain_text("given_name")
    expect(agency.locator("#shared-record")).not_to_contain_text("birth_date")
    status = agency.locator("#referral-status")
    agency.get_by_role("button", name="Mark received").click()
    expect(status).to_contain_text("received")
    check_accessibility(agency, "referral-received")
    agency.get_by_role("button", name="Accept").click()
    expect(status).to_contain_text("accepted")
    agency.get_by_label("Outcome").fill("Bursary granted for the school year")
    agency.get_by_role("button", name="Mark served").click()
    expect(status).to_contain_text("served")
    expect(agency.locator("#referral-events")).to_contain_text("serve")
    agency.goto(redress.url + "/referrals")
    expect(agency.locator("#referrals tbody tr", has_text=f"#{number}")).to_contain_text("served")
    check_accessibility(agency, "referrals-agency")
    agency.close()
