"""Erasure reaches the copies outside the registry: DCI log, jobs, import and payroll files."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from solidarity.config import get_settings
from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance import audit
from solidarity.interop.models import CrvsEvent, DciMessage, DciOutbox, DciRegistryEvent
from solidarity.jobs.models import Job
from solidarity.registry.models import ImportRun
from tests.etags import if_match
from tests.integration.test_privacy_erasure import AMINA, _aggregates, _tables_mentioning
from tests.integration.test_registry_builders import TinyRegistry, build_registry

PHONE = "+254700111222"
PERSON_COLUMNS = [
    "household_key", "given_name", "other_names", "family_name", "sex", "birth_date", "phone",
    "national_id",
]  # fmt: skip
AMINA_ROW = ["H1", "Amina", "Wanjiru", "Okello", "F", "1980-05-02", PHONE, "NID-001"]
JOHN_ROW = ["H1", "John", "", "Okello", "M", "1978-03-09", "+254700333444", "NID-002"]


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


def _member(
    given: str, family: str, nid: str, birth: str, phone: str, other: str = ""
) -> dict[str, Any]:
    ident = [{"identifier_type": "NID", "identifier_value": nid}]
    return {
        "member_identifier": ident,
        "demographic_info": {
            "identifier": ident,
            "name": {"surname": family, "given_name": given, "second_name": other},
            "sex": "2",
            "birth_date": birth,
            "phone_number": [phone],
        },
        "marital_status": "married",
    }


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _files(roots: list[Path]) -> dict[Path, str]:
    """Every file under ``roots`` as text (a Parquet file as its rows)."""
    found = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.suffix == ".parquet":
                found[path] = json.dumps(pl.read_parquet(path).to_dicts(), default=str)
            else:
                found[path] = path.read_text(encoding="utf-8")
    return found


def _seed_copies(engine: Engine, reg: TinyRegistry, uploads: Path, reports: Path) -> None:
    amina = _member("Amina", "Okello", "NID-001", "1980-05-02", PHONE, "Wanjiru")
    john = _member("John", "Okello", "NID-002", "1978-03-09", "+254700333444")
    response = {
        "header": {"status": "succ"},
        "message": {"search_response": [{"data": {"reg_records": [amina, john]}}]},
    }
    request = {
        "message": {
            "search_request": [
                {"search_criteria": {"query": {"type": "NID", "value": "NID-001"}}},
                {"search_criteria": {"query": {"type": "NID", "value": "NID-002"}}},
            ]
        }
    }
    run_dir = uploads / "run1"
    _write_csv(run_dir / "persons.csv", PERSON_COLUMNS, [AMINA_ROW, JOHN_ROW])
    pl.DataFrame([AMINA_ROW, JOHN_ROW], schema=PERSON_COLUMNS, orient="row").write_parquet(
        run_dir / "persons.parquet"
    )
    rejects = run_dir / "rejects" / "persons.rejected-1.csv"
    _write_csv(rejects, [*PERSON_COLUMNS, "_errors"], [[*AMINA_ROW, "phone: duplicate"]])
    errors = [
        {"file": "persons.csv", "row": 2, "column": "phone", "value": PHONE, "message": "dup"},
        {"file": "persons.csv", "row": 2, "column": "given_name", "value": "Amina", "message": "x"},
        {"file": "persons.csv", "row": 3, "column": "sex", "value": "M", "message": "kept"},
    ]
    report = reports / "import-1-errors.csv"
    _write_csv(report, list(errors[0]), [list(map(str, e.values())) for e in errors])
    report.with_suffix(".json").write_text(json.dumps(errors))
    payroll = reports / "payroll" / "payroll_CT_2026-01.csv"
    _write_csv(
        payroll,
        ["payment_reference", "household_id", "beneficiary_name", "account", "amount"],
        [
            ["CT-1", str(reg.okello), "Amina Okello", PHONE, "50.0"],
            ["CT-2", str(reg.mwangi), "Peter Mwangi", "+254700999888", "40.0"],
        ],
    )
    payroll.with_suffix(".xml").write_text(
        "<Document><CdtTrfTxInf><Cdtr><Nm>Amina Okello</Nm></Cdtr><Id>"
        f"{PHONE}</Id></CdtTrfTxInf><CdtTrfTxInf><Cdtr><Nm>Peter Mwangi</Nm></Cdtr>"
        "</CdtTrfTxInf></Document>"
    )
    with unit_of_work(engine) as session:
        session.add_all(
            [
                DciMessage(
                    server="social", sender_id="partner.example", message_id="m-1",
                    action="search", correlation_id="c-1", status="succ", request=request,
                    response=response, record_count=2,
                ),
                DciOutbox(kind="on-search", url="https://partner.example/cb", body=response),
                CrvsEvent(
                    source="crvs.example", event_type="death", external_id="D-1",
                    event_date="2026-01-03", status="review", person_id=reg.amina,
                    record={"name": {"given_name": "Amina"}, "birth_date": "1980-05-02",
                            "death_date": "2026-01-03"},
                    note="matched on Amina Okello", created_by="crvs", updated_by="crvs",
                ),
                DciRegistryEvent(
                    event="update", person_id=reg.amina, household_id=reg.okello,
                    details={"given_name": "Amina", "phone": PHONE},
                ),
                Job(
                    kind="test.export",
                    params={"filter": "NID-001", "persons": [
                        {"person_id": reg.amina, "given_name": "Amina", "other_names": "Wanjiru",
                         "birth_date": "1980-05-02"},
                        {"person_id": reg.john, "given_name": "John", "birth_date": "1978-03-09"},
                    ]},
                    result={"rows": 2, "first": {"name": "Amina Wanjiru Okello", "phone": PHONE}},
                    message="exported Amina Wanjiru Okello and John Okello", log="NID-001 ok\n",
                    status="done", created_by="tester", updated_by="tester",
                ),
                ImportRun(
                    source="ministry", files=[str(run_dir / "persons.csv")],
                    mode="accept_valid", status="done", households_in_file=1,
                    persons_in_file=2, households_rejected=1, error_count=3,
                    report={"report_path": str(report), "rejects_paths": [str(rejects)],
                            "first_errors": errors},
                    created_by="tester", updated_by="tester",
                ),
            ]
        )  # fmt: skip


def test_an_erasure_scrubs_the_dci_log_jobs_and_every_intake_and_payroll_file(
    engine: Engine,
    reg: TinyRegistry,
    client_as: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    uploads, reports = tmp_path / "uploads", tmp_path / "reports"
    monkeypatch.setenv("SOLIDARITY_REPORT_DIR", str(reports))
    get_settings.cache_clear()
    officer = client_as("registration_officer", "R01-D01")
    filed = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "update_fields",
            "household_id": reg.okello,
            "payload": {
                "person_id": reg.amina,
                "person": {"phone": PHONE, "other_names": "Wanjiru"},
            },
        },
        headers=if_match(officer, f"/api/v1/households/{reg.okello}"),
    )
    assert filed.status_code == 201, filed.text
    approved = client_as("supervisor", "R01-D01").post(
        f"/api/v1/change-requests/{filed.json()['id']}/approve",
        json={},
        headers=if_match(officer, f"/api/v1/change-requests/{filed.json()['id']}"),
    )
    assert approved.status_code == 200, approved.text
    _seed_copies(engine, reg, uploads, reports)
    before = _tables_mentioning(engine, AMINA)
    assert {"dci_message", "dci_outbox", "crvs_event", "dci_registry_event", "job"} <= set(before)
    assert "import_run" in before
    files_before = _files([uploads, reports])
    assert all("Amina" in text for text in files_before.values())
    figures = _aggregates(engine)

    steward = client_as("data_steward", "R01-D01", username="steward.one")
    made = steward.post(
        "/api/v1/erasure-requests", json={"person_id": reg.amina, "reason": "art. 17"}
    )
    assert made.status_code == 201, made.text
    done = client_as("data_steward", username="steward.two").post(
        f"/api/v1/erasure-requests/{made.json()['request_id']}/approve", json={}
    )
    assert done.status_code == 200, done.text
    counts = done.json()["counts"]
    assert counts["dci_message"] == 1 and counts["dci_outbox"] == 1
    assert counts["crvs_event"] == 1 and counts["dci_registry_event"] == 1
    assert counts["job"] == 1 and counts["import_run"] == 1
    assert counts["import_file_rows"] >= 5 and counts["payroll_file_rows"] == 2

    # No table and no file holds her names, identifier, phone or birth date any more.
    assert _tables_mentioning(engine, AMINA) == {}
    files_after = _files([uploads, reports])
    assert set(files_after) == set(files_before)  # rewritten in place, none dropped
    leaks = {str(p): [m for m in AMINA if m in text] for p, text in files_after.items()}
    assert {p: m for p, m in leaks.items() if m} == {}

    # Other people's rows, and what figures and the audit need, are kept.
    with session_factory(engine)() as session:
        audit.chain_pending(session)
        assert audit.verify(session).ok
        message = session.scalars(select(DciMessage)).one()
        assert (message.status, message.record_count) == ("succ", 2)
        records = message.response["message"]["search_response"][0]["data"]["reg_records"]
        assert records[1]["demographic_info"]["name"]["given_name"] == "John"
        assert records[0]["demographic_info"]["birth_date"] == "1980-01-01"
        assert records[0]["demographic_info"]["sex"] == "2"
        assert (
            message.request["message"]["search_request"][1]["search_criteria"]["query"]["value"]
            == "NID-002"
        )
        job = session.scalars(select(Job).where(Job.kind == "test.export")).one()
        assert job.status == "done" and job.result is not None and job.result["rows"] == 2
        assert job.params["persons"][1]["given_name"] == "John"
        # Free text loses every name of hers, the family name she shares included.
        assert job.message == "exported [erased] and John [erased]"
        run = session.scalars(select(ImportRun)).one()
        assert (run.persons_in_file, run.error_count, run.status) == (2, 3, "done")
        crvs = session.scalars(select(CrvsEvent)).one()
        assert crvs.record["death_date"] == "2026-01-03" and crvs.status == "review"
    persons = list(csv.DictReader((uploads / "run1" / "persons.csv").open()))
    assert [r["given_name"] for r in persons] == ["", "John"]
    assert [r["national_id"] for r in persons] == ["", "NID-002"]
    assert [r["sex"] for r in persons] == ["F", "M"]  # kept for counts
    parquet = pl.read_parquet(uploads / "run1" / "persons.parquet")
    assert parquet["given_name"].to_list() == [None, "John"]
    assert parquet["household_key"].to_list() == ["H1", "H1"]
    payroll = list(csv.DictReader((reports / "payroll" / "payroll_CT_2026-01.csv").open()))
    assert [r["amount"] for r in payroll] == ["50.0", "40.0"]
    assert [r["beneficiary_name"] for r in payroll] == ["", "Peter Mwangi"]
    assert "Peter Mwangi" in (reports / "payroll" / "payroll_CT_2026-01.xml").read_text()
    report = list(csv.DictReader((reports / "import-1-errors.csv").open()))
    assert [r["value"] for r in report] == ["", "", "M"] and len(report) == 3
    assert _aggregates(engine) == figures
