"""The coherence report from the CLI (HTML and PDF, pages rendered to PNG) and the API."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.coherence.report import SECTIONS
from tests.integration.test_coherence_diagnostics import AS_OF, _build

runner = CliRunner()


def non_blank_pages(pdf: Path, out: Path) -> list[float]:
    """Render each PDF page to PNG (pdftoppm) and return each page's share of non-white pixels."""
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(out / "page")], check=True)
    shares = []
    for png in sorted(out.glob("page*.png")):
        image = Image.open(png).convert("L")
        pixels = list(image.getdata())
        shares.append(sum(1 for p in pixels if p < 200) / len(pixels))
    return shares


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")
def test_report_html_and_pdf_from_the_cli(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _build(session)
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    html = tmp_path / "report.html"
    result = runner.invoke(
        app,
        ["coherence", "report", "--format", "html", "--out", str(html), "--as-of", str(AS_OF)],
    )
    assert result.exit_code == 0, result.output
    text = html.read_text(encoding="utf-8")
    for _id, title in SECTIONS:
        assert title in text
    assert text.count("<svg") >= 5
    assert "<script" not in text
    assert "ages 15 are covered by neither" in text

    pdf = tmp_path / "report.pdf"
    result = runner.invoke(
        app,
        ["coherence", "report", "--format", "pdf", "--out", str(pdf), "--area", "D1",
         "--as-of", str(AS_OF)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    pages = tmp_path / "pages"
    pages.mkdir()
    shares = non_blank_pages(pdf, pages)
    assert len(shares) >= 3
    assert all(share > 0.005 for share in shares)


def test_unknown_area_is_a_clear_cli_error(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build(session)
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    result = runner.invoke(app, ["coherence", "overlaps", "--area", "NOPE"])
    assert result.exit_code == 4
    assert "no area has the code 'NOPE'" in result.output


def test_api_diagnostics_need_a_signed_in_reader(
    session: Session, client_as: Callable[..., TestClient], anonymous: TestClient
) -> None:
    ids = _build(session)
    assert anonymous.get("/api/v1/coherence/overlaps").status_code == 401
    analyst = client_as("analyst")
    response = analyst.get(f"/api/v1/coherence/overlaps?as_of={AS_OF}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["beneficiaries"] == 8
    assert [v["household_id"] for v in body["exclusive_violations"]] == [ids["h2"]]
    response = analyst.get(f"/api/v1/coherence/targeting?as_of={AS_OF}&by=quintile")
    assert response.status_code == 200
    assert {r["group"] for r in response.json()["rows"]} >= {"Q1", "Q5"}
    assert analyst.get("/api/v1/coherence/targeting?by=planet").status_code == 422
    # Keeping the plan needs coherence.manage: the analysts who prepare the
    # committee's work hold it; a programme manager only reads.
    action = {"code": "A1", "title": "Close the gap", "due_on": "2025-01-01"}
    manager = client_as("programme_manager")
    assert manager.post("/api/v1/coherence/actions", json=action).status_code == 403
    created = analyst.post("/api/v1/coherence/actions", json=action)
    assert created.status_code == 201, created.text
    assert created.json()["overdue"] is True
    listed = analyst.get("/api/v1/coherence/actions?overdue=true&as_of=2025-06-30")
    assert [a["code"] for a in listed.json()] == ["A1"]
    report = analyst.get(f"/api/v1/coherence/report?as_of={AS_OF}&format=html")
    assert report.status_code == 200
    assert "Coherence scorecard" in report.text


def test_report_of_a_registry_with_programmes_but_no_beneficiary_yet(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import date

    from solidarity.programs import service as programmes
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn
    from tests.integration.test_registry_builders import build_registry

    build_registry(session)
    programmes.create_programme(session, ProgrammeIn(code="NEW", name="New grant"), "t")
    programmes.add_rule_version(
        session,
        "NEW",
        RuleVersionIn(kind="eligibility", expression="size >= 1", valid_from=date(2020, 1, 1)),
        "t",
    )
    session.commit()
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    html = tmp_path / "report.html"
    result = runner.invoke(app, ["coherence", "report", "--format", "html", "--out", str(html)])
    assert result.exit_code == 0, result.output
    assert "no household is enrolled yet" in html.read_text(encoding="utf-8")
