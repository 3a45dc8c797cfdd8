"""The synthetic country as a test bed: generate, import, seed, diagnose, report.

A small country (400 households, seed 1) goes through the demo's set-up
(``prepare_demo``: generation, areas, registry import, then programmes, rules,
enrolment, a payment cycle, linked outside lists, journeys and the institutional
map), then every coherence diagnostic and the report in HTML and PDF. The
planted findings must come out: the OAP/CSP mutual-exclusion violations (checked
against the generator's ground truth) and the gap at age 15 between the Child
Grant and the bursary.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from PIL import Image, ImageStat
from sqlalchemy import Engine, func, select

from solidarity.cli.serve import prepare_demo
from solidarity.coherence import service as diagnostics
from solidarity.coherence.consistency import consistency_of
from solidarity.coherence.institutions import institutional_map
from solidarity.coherence.report import render_html, render_pdf
from solidarity.db.engine import unit_of_work
from solidarity.linkage.models import LinkageLink
from solidarity.programs.models import Enrolment, Entitlement, JourneyEvent, ProgrammeRule
from solidarity.registry.models import Household
from solidarity.synthetic.seed import seed_country

HOUSEHOLDS = 400
SECTIONS = (
    "summary", "policy-map", "institutions", "overlaps", "coverage", "fiscal", "journey",
    "consistency", "rules", "framework", "scorecard", "actions",
)  # fmt: skip


def _planted_pension_overlap(country: Path) -> tuple[set[str], set[str]]:
    """Household keys on both current OAP and CSP lists, and those where one person is on both."""
    truth = pl.read_csv(country / "ground_truth_links.csv", infer_schema_length=0)
    listed: dict[str, pl.DataFrame] = {}
    for code in ("OAP", "CSP"):
        current = pl.read_csv(country / f"beneficiaries_{code}.csv", infer_schema_length=0).filter(
            pl.col("exit_date").is_null()
        )
        listed[code] = truth.filter(pl.col("programme_code") == code).join(
            current.select("beneficiary_id"), on="beneficiary_id"
        )
    households = set(listed["OAP"]["household_key"]) & set(listed["CSP"]["household_key"])
    same_person = set(
        listed["OAP"]
        .join(listed["CSP"], on="person_key")
        .filter(pl.col("household_key").is_in(list(households)))["household_key"]
    )
    return households, same_person


def _counts(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine) as session:
        return {
            table.__name__: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (ProgrammeRule, Enrolment, Entitlement, JourneyEvent, LinkageLink)
        }


def _non_blank(png: Path) -> bool:
    with Image.open(png) as image:
        stat = ImageStat.Stat(image.convert("L"))
    return stat.stddev[0] > 1.0


def test_synthetic_country_end_to_end(engine: Engine, tmp_path: Path) -> None:
    setup = prepare_demo(engine, tmp_path, households=HOUSEHOLDS, seed=1, say=lambda _l: None)
    seeded = setup.seeded
    assert seeded is not None and len(seeded.programmes) == 11
    assert seeded.enrolled["CGR"] > 0 and seeded.cycles == {"CGR": "approved", "DSG": "approved"}
    assert not seeded.link_problems
    assert set(seeded.linked) == {"SBY", "SFP", "OAP", "CSP", "MHV", "PWP", "UIB", "ECS"}
    assert sum(seeded.journey_events.values()) > 0

    # A second run changes nothing.
    before = _counts(engine)
    again = seed_country(engine, setup.country_dir, actor="demo")
    assert not again.linked and not any(again.enrolled.values())
    assert _counts(engine) == before

    as_of = date.today()
    with unit_of_work(engine) as session:
        ctx = diagnostics.Context(session, as_of)
        keys = {k: i for k, i in session.execute(select(Household.source_key, Household.id))}

        policy = diagnostics.policy_map_of(ctx)
        assert policy.cells and any(c["beneficiaries"] for c in policy.cells)

        overlaps = diagnostics.overlaps_of(ctx)
        assert overlaps.beneficiaries > 0
        assert sum(p["households_both"] for p in overlaps.pairs) > 0
        found = {
            v["household_id"]
            for v in overlaps.exclusive_violations
            if (v["programme_a"], v["programme_b"]) == ("OAP", "CSP")
        }
        planted, same_person = _planted_pension_overlap(setup.country_dir)
        assert planted, "the generator should plant OAP/CSP overlaps"
        planted_ids = {keys[k] for k in planted}
        assert {keys[k] for k in same_person} <= found
        assert len(planted_ids & found) >= 0.8 * len(planted_ids)

        rules = diagnostics.rules_of(ctx)
        gap = next(
            h for h in rules.hand_overs if (h["programme_a"], h["programme_b"]) == ("CGR", "SBY")
        )
        assert gap["gap"] == "15" and gap["gap_years"] == 1
        assert {r["programme"] for r in rules.rules} == set(seeded.programmes)
        assert all(r["legal_reference"] for r in rules.rules)

        targeting = diagnostics.targeting_of(ctx)
        assert any(r["programme"] == "ALL" for r in targeting.rows)
        fiscal = diagnostics.fiscal_of(ctx)
        spent = {r["programme"]: r["spending"] for r in fiscal.by_programme}
        assert spent["CGR"] > 0 and spent["DSG"] > 0
        journey = diagnostics.journey_of(ctx)
        assert {r["programme"] for r in journey.funnel} >= {"OAP", "CSP"}
        consistency = consistency_of(ctx)
        assert consistency.definitions
        # The ministries' lists carry planted typos: linked records disagree with the
        # registry on some fields, and every rate is a share of compared records.
        rates = consistency.disagreement
        assert {r["source"] for r in rates} >= {"OAP", "CSP"}
        assert all(0 <= r["differ"] <= r["compared"] for r in rates)
        assert any(r["differ"] > 0 for r in rates)
        institutions = institutional_map(session, as_of)
        flags = {f["kind"] for f in institutions.flags}
        assert {"agreement_expired", "function_duplicated", "function_unassigned"} <= flags

        html = render_html(diagnostics.Context(session, as_of))
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert "OAP" in html and "CSP" in html

    pdf = tmp_path / "coherence.pdf"
    pdf.write_bytes(render_pdf(html))
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: PDF pages not rendered")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    assert all(_non_blank(p) for p in pages)
