"""Erasure requests (maker-checker) and retention: personal data gone, figures and audit kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from solidarity.cli.main import app
from solidarity.config import get_settings
from solidarity.db.base import Base
from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance import audit
from solidarity.governance.repository import AuditFilter, AuditRepository
from solidarity.registry.models import Person
from tests.etags import if_match
from tests.integration.test_registry_builders import TinyRegistry, build_registry

runner = CliRunner()
AMINA = ("Amina", "Wanjiru", "NID-001", "+254700111222", "1980-05-02")


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


def _tables_mentioning(engine: Engine, markers: tuple[str, ...]) -> dict[str, list[str]]:
    """Every table (read through its column types) whose rows contain one of ``markers``."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                text = json.dumps([*row], default=str, ensure_ascii=False)
                hits = [m for m in markers if m in text]
                if hits:
                    found.setdefault(table.name, []).extend(hits)
    return found


def _aggregates(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Person.area_id, Person.sex, Person.status, func.count())
            .group_by(Person.area_id, Person.sex, Person.status)
            .order_by(Person.area_id, Person.sex, Person.status)
        )
        return [tuple(r) for r in rows]


def _years(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(d.year for d in conn.scalars(select(Person.birth_date)))


def test_an_approved_erasure_leaves_no_personal_data_but_keeps_figures_and_audit(
    engine: Engine, reg: TinyRegistry, client_as: Callable[..., TestClient]
) -> None:
    officer = client_as("registration_officer", "R01-D01")
    supervisor = client_as("supervisor", "R01-D01")
    filed = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "update_fields",
            "household_id": reg.okello,
            "payload": {
                "person_id": reg.amina,
                "person": {"phone": "+254700111222", "other_names": "Wanjiru"},
            },
            "reason": "Amina Okello brought her new phone",
        },
        headers=if_match(officer, f"/api/v1/households/{reg.okello}"),
    )
    assert filed.status_code == 201, filed.text
    approved = supervisor.post(
        f"/api/v1/change-requests/{filed.json()['id']}/approve",
        json={},
        headers=if_match(officer, f"/api/v1/change-requests/{filed.json()['id']}"),
    )
    assert approved.status_code == 200, approved.text
    consent = officer.post(
        "/api/v1/consents",
        json={"person_id": reg.amina, "purpose": "referral", "evidence": "signed by NID-001"},
    )
    assert consent.status_code == 201, consent.text
    grievance = officer.post(
        "/api/v1/grievances",
        json={
            "category": "payment",
            "channel": "phone",
            "description": "Amina Okello (NID-001) was not paid; call +254700111222",
            "household_id": reg.okello,
            "person_id": reg.amina,
            "complainant_name": "Amina Okello",
            "complainant_contact": "+254700111222",
        },
    )
    assert grievance.status_code == 201, grievance.text
    assert officer.get(f"/api/v1/persons/{reg.amina}").status_code == 200
    before = _tables_mentioning(engine, AMINA)
    assert {"person", "person_history", "identifier", "change_request", "consent"} <= set(before)
    assert "grievance" in before
    figures, years = _aggregates(engine), _years(engine)

    steward = client_as("data_steward", "R01-D01", username="steward.one")
    other = client_as("data_steward", username="steward.two")
    outsider = client_as("data_steward", "R02-D01", username="steward.south")
    body = {"person_id": reg.amina, "reason": "request of Amina Okello under the data law"}
    assert outsider.post("/api/v1/erasure-requests", json=body).status_code == 404
    made = steward.post("/api/v1/erasure-requests", json=body)
    assert made.status_code == 201, made.text
    request = made.json()
    assert request["status"] == "submitted" and "Amina" not in request["reason"]
    assert outsider.get("/api/v1/erasure-requests").json() == []
    own = steward.post(f"/api/v1/erasure-requests/{request['request_id']}/approve", json={})
    assert own.status_code == 403 and "maker-checker" in own.text
    assert (
        client_as("registration_officer")
        .post(f"/api/v1/erasure-requests/{request['request_id']}/approve", json={})
        .status_code
        == 403
    )
    done = other.post(f"/api/v1/erasure-requests/{request['request_id']}/approve", json={})
    assert done.status_code == 200, done.text
    counts = done.json()["counts"]
    assert done.json()["status"] == "applied"
    assert counts["person"] == 1 and counts["person_history"] >= 1
    assert counts["identifier"] == 1 and counts["change_request"] == 1 and counts["consent"] == 1
    assert counts["grievance"] == 1
    again = other.post(f"/api/v1/erasure-requests/{request['request_id']}/approve", json={})
    assert again.status_code == 409

    assert _tables_mentioning(engine, AMINA) == {}
    assert "John" in json.dumps(_tables_mentioning(engine, ("John",)))  # others untouched
    assert _aggregates(engine) == figures and _years(engine) == years
    with session_factory(engine)() as session:
        audit.chain_pending(session)
        assert audit.verify(session).ok
    shown = officer.get(f"/api/v1/persons/{reg.amina}").json()
    assert shown["given_name"] == "[erased]" and shown["birth_date"] == "1980-01-01"
    assert shown["identifiers"] == [] and shown["sex"] == "female"
    trail = client_as("auditor").get("/api/v1/audit", params={"object_type": "erasure_request"})
    assert [e["action"] for e in trail.json()["items"]] == ["erasure.applied", "erasure.requested"]


def test_a_rejected_erasure_changes_nothing(
    engine: Engine, reg: TinyRegistry, client_as: Callable[..., TestClient]
) -> None:
    steward = client_as("data_steward", username="steward.one")
    other = client_as("data_steward", username="steward.two")
    made = steward.post(
        "/api/v1/erasure-requests", json={"household_id": reg.mwangi, "reason": "asked"}
    ).json()
    no_reason = other.post(f"/api/v1/erasure-requests/{made['request_id']}/reject", json={})
    assert no_reason.status_code == 422
    rejected = other.post(
        f"/api/v1/erasure-requests/{made['request_id']}/reject",
        json={"reason": "benefits still being paid"},
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert set(_tables_mentioning(engine, ("Peter", "NID-003"))) >= {"person", "identifier"}
    listed = steward.get("/api/v1/erasure-requests", params={"status": "rejected"}).json()
    assert [r["request_id"] for r in listed] == [made["request_id"]]


def test_retention_lists_then_anonymises_records_past_their_period(
    engine: Engine,
    reg: TinyRegistry,
    client_as: Callable[..., TestClient],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    officer = client_as("registration_officer", "R01-D02")
    filed = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "remove_member",
            "household_id": reg.mwangi,
            "payload": {"person_id": reg.ruth, "removal_reason": "migration"},
        },
        headers=if_match(officer, f"/api/v1/households/{reg.mwangi}"),
    )
    assert filed.status_code == 201, filed.text
    approved = client_as("supervisor", "R01-D02").post(
        f"/api/v1/change-requests/{filed.json()['id']}/approve",
        json={},
        headers=if_match(officer, f"/api/v1/change-requests/{filed.json()['id']}"),
    )
    assert approved.status_code == 200, approved.text
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    figures = _aggregates(engine)

    listed = runner.invoke(app, ["governance", "retention", "show"])
    assert listed.exit_code == 0 and "person_left" in listed.output and "10y" in listed.output
    dry = runner.invoke(app, ["governance", "retention", "apply", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output
    # Not due yet today; due when judged twenty years on. A dry run changes nothing.
    future = ["--as-of", "2100-01-01"]
    dry = runner.invoke(app, ["governance", "retention", "apply", "--dry-run", *future])
    assert dry.exit_code == 0 and str(reg.ruth) in dry.output, dry.output
    assert "Ruth" in json.dumps(_tables_mentioning(engine, ("Ruth",)))
    done = runner.invoke(app, ["governance", "retention", "apply", *future, "--actor", "dpo"])
    assert done.exit_code == 0, done.output
    assert _tables_mentioning(engine, ("Ruth", "1955-11-30")) == {}
    assert "Peter" in json.dumps(_tables_mentioning(engine, ("Peter",)))  # still active
    assert _aggregates(engine) == figures
    with session_factory(engine)() as session:
        audit.chain_pending(session)
        assert audit.verify(session).ok
        rows, _total = AuditRepository(session).search(
            AuditFilter(action="retention.applied"), 10, 0
        )
        assert {r.object_type for r in rows} >= {"person_left", "auth_session"}
        assert all(r.actor == "dpo" for r in rows)
    # Nothing is picked twice.
    again = runner.invoke(app, ["governance", "retention", "apply", "--dry-run", *future])
    assert str(reg.ruth) not in again.output.split("person_left")[1].split("\n")[0]


def test_a_malformed_retention_file_is_refused_naming_the_record_type(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "retention.yaml"
    bad.write_text("record_types:\n  person_left:\n    period: ten years\n")
    monkeypatch.setenv("SOLIDARITY_RETENTION_FILE", str(bad))
    get_settings.cache_clear()
    result = runner.invoke(app, ["governance", "retention", "show"])
    assert result.exit_code == 2
    assert "person_left.period" in result.output and "ten years" in result.output
