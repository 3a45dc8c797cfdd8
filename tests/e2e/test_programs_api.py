"""The programmes API and CLI as a programme manager drives them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from solidarity.cli.main import app as cli_app
from solidarity.jobs.worker import Worker
from tests.integration.test_programs_flow import BENEFIT, CHILD, seed_registry


@pytest.fixture
def people(client_as: Callable[..., TestClient]) -> Callable[[str], TestClient]:
    """Signed-in national programme managers by username."""
    signed_in: dict[str, TestClient] = {}

    def who(username: str) -> TestClient:
        if username not in signed_in:
            signed_in[username] = client_as("programme_manager", username=username)
        return signed_in[username]

    return who


@pytest.fixture
def client(people: Callable[[str], TestClient]) -> TestClient:
    return people("manager")


def test_programme_life_cycle_over_the_api(
    engine: Engine,
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    people: Callable[[str], TestClient],
) -> None:
    monkeypatch.setenv("SOLIDARITY_REPORT_DIR", str(tmp_path / "reports"))
    seed_registry(engine, tmp_path)
    made = people("designer").post(
        "/api/v1/programs", json={"code": "CG", "name": "Child grant", "ministry": "Social Affairs"}
    )
    assert made.status_code == 201, made.text
    assert made.headers["etag"] == '"1"'
    assert client.patch("/api/v1/programs/CG", json={"name": "x"}).status_code == 428
    stale = client.patch("/api/v1/programs/CG", json={"name": "x"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    read = client.get("/api/v1/programs/CG").headers["etag"]
    renamed = client.patch(
        "/api/v1/programs/CG", json={"budget_cap": 100000}, headers={"If-Match": read}
    )
    assert renamed.json()["version"] == 2 and renamed.headers["etag"] == '"2"'
    bad = client.post(
        "/api/v1/programs/CG/rules",
        json={
            "kind": "eligibility",
            "expression": "registration_date > 3",
            "valid_from": "2024-01-01",
        },
    )
    assert bad.status_code == 422
    assert bad.json()["line"] == 1 and bad.json()["column"] == 19
    for kind, expression, params in (
        ("eligibility", CHILD, {"threshold": 150}),
        ("benefit", BENEFIT, {"max_children": 3, "per_child": 40, "deduction": 10}),
    ):
        stored = client.post(
            "/api/v1/programs/CG/rules",
            json={
                "kind": kind,
                "expression": expression,
                "valid_from": "2024-01-01",
                "parameters": params,
            },
        )
        assert stored.status_code == 201, stored.text
    preview = client.get("/api/v1/programs/CG/preview", params={"as_of": "2025-06-30"}).json()
    assert preview["eligible"] == 4 and len(preview["page"]) == 4
    started = client.post("/api/v1/programs/CG/enrol", json={"as_of": "2025-06-30"})
    assert started.status_code == 202
    assert Worker(engine, "w").run_once() is True
    job = client.get(f"/api/v1/jobs/{started.json()['id']}").json()
    assert job["status"] == "succeeded", job
    assert job["result"]["enrolled"] == 4
    explained = client.get("/api/v1/programs/CG/explain/1", params={"as_of": "2025-06-30"}).json()
    assert explained["eligible"] is True and "met" in explained["text"]
    cycle = (
        people("officer")
        .post(
            "/api/v1/programs/CG/cycles",
            json={"period": "2025-07", "window_start": "2025-07-01", "window_end": "2025-07-31"},
        )
        .json()
    )
    at = {"If-Match": f'"{cycle["version"]}"'}
    computed = (
        people("officer").post(f"/api/v1/programs/cycles/{cycle['id']}/entitlements", headers=at)
    ).json()
    assert computed["entitlement_count"] == 4 and computed["total_amount"] == 160
    at = {"If-Match": f'"{computed["version"]}"'}
    refused = people("officer").post(f"/api/v1/programs/cycles/{cycle['id']}/approve", headers=at)
    assert refused.status_code == 403
    stale = people("boss").post(
        f"/api/v1/programs/cycles/{cycle['id']}/approve",
        headers={"If-Match": f'"{cycle["version"]}"'},
    )
    assert stale.status_code == 412
    approved = people("boss").post(f"/api/v1/programs/cycles/{cycle['id']}/approve", headers=at)
    assert approved.json()["status"] == "approved"
    payroll = client.post(f"/api/v1/programs/cycles/{cycle['id']}/payroll").json()
    again = client.post(f"/api/v1/programs/cycles/{cycle['id']}/payroll").json()
    assert payroll["xml_sha256"] == again["xml_sha256"] and payroll["transactions"] == 4
    refs = [line.split(",")[0] for line in Path(payroll["csv_path"]).read_text().splitlines()[1:]]
    report = "payment_reference,status,amount,date,reason\n" + "".join(
        f"{ref},paid,40,2025-07-03,\n" for ref in refs
    )
    report += "UNKNOWN,paid,40,2025-07-03,\n"
    imported = client.post(
        f"/api/v1/programs/cycles/{cycle['id']}/reconciliations",
        files={"file": ("report.csv", report.encode(), "text/csv")},
    ).json()
    assert (
        imported["matched"] == 4 and imported["discrepancies"][0]["problem"] == "unknown_reference"
    )
    accepted = client.post(f"/api/v1/programs/reconciliations/{imported['id']}/accept").json()
    assert accepted["status"] == "accepted"
    twice = client.post(
        f"/api/v1/programs/cycles/{cycle['id']}/reconciliations",
        files={"file": ("report.csv", report.encode(), "text/csv")},
    ).json()
    assert twice["id"] == imported["id"]


def test_programmes_from_the_command_line(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLIDARITY_DATABASE_URL", database_url)
    seed_registry(engine, tmp_path)
    spec = tmp_path / "programmes.yaml"
    spec.write_text(
        f"""
programmes:
  - code: CG
    name: Child grant
    ministry: Social Affairs
    lifecycle_group: children
    rules:
      - kind: eligibility
        valid_from: 2024-01-01
        expression: "{CHILD}"
        parameters: {{threshold: 150}}
      - kind: benefit
        valid_from: 2024-01-01
        expression: "{BENEFIT}"
        parameters: {{max_children: 3, per_child: 40, deduction: 10}}
"""
    )
    runner = CliRunner()
    done = runner.invoke(cli_app, ["programs", "import", str(spec)])
    assert done.exit_code == 0, done.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: eligibility\nvalid_from: 2030-01-01\nexpression: 'size / 0 > 1'\n")
    refused = runner.invoke(cli_app, ["programs", "rules", "add", "CG", str(bad)])
    assert refused.exit_code == 3 and "line 1, column" in refused.output
    shown = runner.invoke(cli_app, ["programs", "preview", "CG", "--as-of", "2025-06-30", "--json"])
    assert shown.exit_code == 0 and '"eligible": 4' in shown.output
    enrolled = runner.invoke(cli_app, ["programs", "enrol", "CG", "--as-of", "2025-06-30"])
    assert enrolled.exit_code == 0 and "enrolled: 4" in enrolled.output
    why = runner.invoke(cli_app, ["programs", "explain", "CG", "5", "--as-of", "2025-06-30"])
    assert why.exit_code == 0 and "not met" in why.output
