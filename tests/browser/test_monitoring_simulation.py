"""The monitoring, data-quality and simulation pages in Chromium, against hand counts.

Each page is checked with axe-core (no serious or critical violation) and
photographed into docs/screenshots.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SKIP_REASON, Site
from tests.browser.test_flows import check_accessibility, sign_in

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from playwright.sync_api import Page, expect
from sqlalchemy import text


def _database() -> Any:
    from solidarity.db.engine import make_engine

    return make_engine(os.environ["SOLIDARITY_DATABASE_URL"])


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _children_per_household() -> Counter[int]:
    """Members under 18 today of every active household, counted by hand."""
    today = date.today()
    engine = _database()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.household_id, p.birth_date FROM person p "
                "JOIN household h ON h.id = p.household_id "
                "WHERE h.status = 'active' AND (p.status IS NULL OR p.status = 'active') "
                "AND p.birth_date IS NOT NULL"
            )
        ).all()
    engine.dispose()
    children: Counter[int] = Counter()
    for household, born in rows:
        if _age(date.fromisoformat(str(born)[:10]), today) < 18:
            children[household] += 1
    return children


def _covered_persons() -> tuple[int, int]:
    """(persons in a household enrolled today, persons): SDG 1.3.1 counted by hand."""
    today = date.today().isoformat()
    engine = _database()
    with engine.connect() as conn:
        persons = conn.execute(
            text(
                "SELECT p.household_id FROM person p JOIN household h ON h.id = p.household_id "
                "WHERE h.status = 'active' AND (p.status IS NULL OR p.status = 'active')"
            )
        ).all()
        enrolled = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT household_id FROM enrolment WHERE status IN ('active', 'exited') "
                    "AND enrolled_on <= :today AND (exited_on IS NULL OR exited_on > :today)"
                ),
                {"today": today},
            )
        }
    engine.dispose()
    return sum(1 for (h,) in persons if h in enrolled), len(persons)


def test_monitoring_dashboard_shows_a_hand_counted_indicator(page: Page, site: Site) -> None:
    sign_in(page, site, "analyst", "/monitoring")
    expect(page.get_by_role("heading", name="Monitoring and evaluation")).to_be_visible()
    page.get_by_role("button", name="Load the standard indicators").click()
    expect(page.locator("#indicator-SDG_1_3_1")).to_contain_text("no snapshot yet")
    page.get_by_label("Period").fill("2026-Q4")
    page.get_by_role("button", name="Take a snapshot").click()
    expect(page).to_have_url(re.compile(r"/monitoring/jobs/\d+"))
    expect(page.get_by_role("status")).to_contain_text("indicators computed", timeout=60_000)
    page.get_by_role("link", name="Back to the monitoring dashboard").click()

    covered, persons = _covered_persons()
    assert covered > 0 and persons > covered
    row = page.locator("#indicator-SDG_1_3_1")
    expect(row).to_contain_text("2026-Q4")
    expect(row.locator("td").nth(2)).to_have_text(f"{covered / persons:.1%}")
    expect(row.locator("td").nth(3)).to_have_text(f"{covered:,}")
    expect(row.locator("td").nth(4)).to_have_text(f"{persons:,}")
    # Without payments in the fixture, payment timeliness says why it has no value.
    expect(page.locator("#indicator-PAYMENT_TIMELINESS")).to_contain_text("not computable")
    expect(page.locator("#indicator-PAYMENT_TIMELINESS")).to_contain_text("no payment records")
    row.get_by_role("link", name="SDG_1_3_1").click()
    expect(page.get_by_role("heading", name="Trend of SDG_1_3_1 against")).to_be_visible()
    expect(page.locator("#trend")).to_contain_text(f"{covered / persons:.1%}")
    expect(page.locator("#disaggregation")).to_contain_text("sex")
    expect(page.locator("figure.chart svg")).to_be_visible()
    check_accessibility(page, "monitoring")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name="Download the PDF report").click()
    path = download.value.path()
    assert path is not None and Path(path).read_bytes()[:4] == b"%PDF"


def test_data_quality_dashboard_lists_a_planted_defect(page: Page, site: Site) -> None:
    engine = _database()
    with engine.begin() as conn:
        household = conn.execute(text("SELECT min(id) FROM household WHERE status = 'active'"))
        defective = int(household.scalar_one())
        conn.execute(
            text("UPDATE household SET urban_rural = NULL WHERE id = :id"), {"id": defective}
        )
    engine.dispose()
    sign_in(page, site, "analyst", "/data-quality")
    expect(page.locator("#overall")).to_contain_text("Overall score")
    expect(page.locator("#dimensions")).to_contain_text("completeness")
    check_accessibility(page, "data-quality")
    page.get_by_label("Check", exact=True).select_option("settlement type given")
    page.get_by_role("button", name="Filter").click()
    first = page.locator("#failing tbody tr").first
    expect(first.locator("td").nth(1)).to_have_text(str(defective))
    expect(first).to_contain_text("settlement type given")
    expect(first).to_contain_text("urban_rural")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name="Plan as CSV").click()
    plan = Path(download.value.path() or "").read_text(encoding="utf-8")
    assert plan.startswith("dimension,check,level,field,rule")
    assert "settlement type given" in plan


SCENARIO = """name: bigger-child-grant
description: Child grant of 2000 a child instead of 1500
baseline_date: {today}
poverty_line: 100000
changes:
  - {{kind: parameters, programme: CG, rule: benefit, set: {{per_child: 2000}}}}
"""


def test_run_a_small_scenario_and_see_its_cost(page: Page, site: Site) -> None:
    children = _children_per_household()
    baseline = sum(min(n, 4) * 1500 * 12 for n in children.values())
    reform = sum(min(n, 4) * 2000 * 12 for n in children.values())
    assert baseline > 0

    sign_in(page, site, "analyst", "/simulation")
    expect(page.get_by_role("heading", name="Policy simulation")).to_be_visible()
    page.get_by_label("Scenario (YAML)").fill("name: broken\nbaseline_date: 2025-01-01\n")
    page.get_by_role("button", name="Check and store").click()
    expect(page.locator("#scenario-result")).to_contain_text("poverty_line")
    page.get_by_label("Scenario (YAML)").fill(SCENARIO.format(today=date.today().isoformat()))
    page.get_by_role("button", name="Check and store").click()
    expect(page.locator("#scenarios")).to_contain_text("bigger-child-grant")
    check_accessibility(page, "simulation")
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/simulation/jobs/\d+"))
    expect(page.locator("#scenario-cost-1")).to_have_text(f"{reform:,.2f}", timeout=60_000)
    expect(page.locator("#baseline-cost-1")).to_have_text(f"{baseline:,.2f}")
    expect(page.locator(".explanations li").first).to_contain_text(
        f"costs {reform - baseline:,.0f} more a year"
    )
    check_accessibility(page, "simulation-report")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name="Download the PDF brief").click()
    path = download.value.path()
    assert path is not None and Path(path).read_bytes()[:4] == b"%PDF"

    page.goto(site.url + "/simulation")
    page.get_by_label("Programme code").fill("CG")
    page.get_by_label("Rule", exact=True).select_option("benefit")
    page.get_by_label("Parameter").fill("per_child")
    page.get_by_label("From", exact=True).fill("0")
    page.get_by_label("To", exact=True).fill("4000")
    page.get_by_label("Target value").fill(str(baseline))
    page.get_by_role("button", name="Solve").click()
    expect(page.locator("#solution")).to_contain_text("Value found", timeout=60_000)
    expect(page.locator("#curve tbody tr")).to_have_count(8)
    # The baseline's own budget is spent at (close to) the baseline's 1500 a child.
    found = float(page.locator("#solution dd").first.inner_text().replace(",", ""))
    assert 1490 <= found <= 1500
    check_accessibility(page, "simulation-solver")
