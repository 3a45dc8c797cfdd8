"""The registry REST API as a client drives it: reads, as_of, ETag, change requests, problems."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from solidarity.db.engine import unit_of_work
from tests.etags import if_match
from tests.integration.test_registry_builders import TinyRegistry, build_registry

PROBLEM = "application/problem+json"


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


@pytest.fixture
def officer(reg: TinyRegistry, client_as: Callable[..., TestClient]) -> TestClient:
    # Also a supervisor, so that approving their own request meets maker-checker.
    return client_as(("registration_officer", "supervisor"), username="officer")


@pytest.fixture
def supervisor(reg: TinyRegistry, client_as: Callable[..., TestClient]) -> TestClient:
    return client_as("supervisor", username="supervisor")


@pytest.fixture
def client(officer: TestClient) -> TestClient:
    """A national registration officer: reads everything, files change requests."""
    return officer


def test_areas_endpoints(client: TestClient, reg: TinyRegistry) -> None:
    response = client.get("/api/v1/areas", params={"parent": "R01"})
    assert [a["code"] for a in response.json()] == ["R01-D01", "R01-D02"]
    assert client.get("/api/v1/areas", params={"level": 0}).json()[1]["code"] == "R02"
    assert client.get("/api/v1/areas/R01-D01").json()["parent_code"] == "R01"
    missing = client.get("/api/v1/areas/R99")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["title"] == "Not found"
    assert "R99" in missing.json()["detail"]


def test_search_and_detail(client: TestClient, reg: TinyRegistry) -> None:
    page = client.get("/api/v1/households", params={"area": "R01", "page_size": 1}).json()
    assert (page["total"], len(page["items"]), page["items"][0]["head_name"]) == (
        2,
        1,
        "Amina Okello",
    )
    persons = client.get(
        "/api/v1/persons", params={"id_type": "national_id", "id_value": "NID-004"}
    ).json()
    assert [p["given_name"] for p in persons["items"]] == ["Sara"]
    response = client.get(f"/api/v1/households/{reg.okello}")
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert body["head_person_id"] == reg.amina
    assert [m["given_name"] for m in body["members"]] == ["Amina", "John", "Grace"]
    assert body["members"][0]["identifiers"][0]["value"] == "NID-001"
    person = client.get(f"/api/v1/persons/{reg.grace}").json()
    assert person["household_id"] == reg.okello
    bad = client.get("/api/v1/persons", params={"min_age": -1})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == PROBLEM
    assert bad.json()["errors"][0]["field"].endswith("min_age")


def test_change_request_lifecycle(
    client: TestClient, reg: TinyRegistry, officer: TestClient, supervisor: TestClient
) -> None:
    etag = client.get(f"/api/v1/households/{reg.okello}").headers["etag"]
    created = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "update_fields",
            "household_id": reg.okello,
            "payload": {"household": {"roof": "tiles"}},
            "reason": "home visit",
        },
        headers={"If-Match": etag},
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert (request["status"], request["requested_by"]) == ("submitted", "officer")
    assert request["payload"]["base_version"] == int(etag.strip('"'))
    assert created.headers["etag"] == f'"{request["version"]}"'
    url = f"/api/v1/change-requests/{request['id']}"

    own = officer.post(f"{url}/approve", headers=if_match(client, url))
    assert own.status_code == 403
    assert own.headers["content-type"] == PROBLEM
    assert "maker-checker" in own.json()["detail"]

    approved = supervisor.post(
        f"{url}/approve", json={"reason": "photo checked"}, headers=if_match(client, url)
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "applied"
    assert approved.json()["result"]["household_version"] == 2
    assert approved.json()["applied_at"].endswith("Z")  # UTC on both databases

    again = supervisor.post(f"{url}/approve", headers=if_match(client, url))
    assert again.status_code == 409
    assert again.json()["status"] == 409

    now = client.get(f"/api/v1/households/{reg.okello}")
    assert (now.json()["roof"], now.headers["etag"]) == ("tiles", '"2"')
    before = client.get(f"/api/v1/households/{reg.okello}", params={"as_of": "2024-06-01"})
    assert (before.json()["roof"], before.headers["etag"]) == ("thatch", '"1"')
    history = client.get(f"/api/v1/households/{reg.okello}/history").json()
    assert [v["change_request_id"] for v in history["versions"]] == [None, request["id"]]

    listed = client.get(
        "/api/v1/change-requests", params={"status": "applied", "household": reg.okello}
    ).json()
    assert [r["id"] for r in listed["items"]] == [request["id"]]
    assert client.get(f"/api/v1/change-requests/{request['id']}").json()["decided_by"] == (
        "supervisor"
    )


def test_two_concurrent_updates_of_one_household_one_gets_412(
    client: TestClient, reg: TinyRegistry, officer: TestClient, supervisor: TestClient
) -> None:
    # Two officers read the household at the same version and each file a change.
    household = f"/api/v1/households/{reg.mwangi}"
    read_by_both = if_match(client, household)
    ids = []
    for roof in ("tiles", "concrete"):
        response = officer.post(
            "/api/v1/change-requests",
            json={
                "kind": "update_fields",
                "household_id": reg.mwangi,
                "payload": {"household": {"roof": roof}},
            },
            headers=read_by_both,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    first, second = (f"/api/v1/change-requests/{i}" for i in ids)
    assert supervisor.post(f"{first}/approve", headers=if_match(client, first)).is_success
    stale = supervisor.post(f"{second}/approve", headers=if_match(client, second))
    assert stale.status_code == 412
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["current_version"] == 2
    assert client.get(household).json()["roof"] == "tiles"
    assert client.get(second).json()["status"] == "submitted"

    # Filing against the version both read is now refused at once.
    late = officer.post(
        "/api/v1/change-requests",
        json={"kind": "update_fields", "household_id": reg.mwangi, "payload": {"household": {}}},
        headers=read_by_both,
    )
    assert (late.status_code, late.json()["current_version"]) == (412, 2)


def test_changes_without_or_with_a_bad_if_match_are_refused(
    client: TestClient, reg: TinyRegistry, officer: TestClient, supervisor: TestClient
) -> None:
    body = {"kind": "update_fields", "household_id": reg.okello, "payload": {"household": {}}}
    missing = officer.post("/api/v1/change-requests", json=body)
    assert (missing.status_code, missing.headers["content-type"]) == (428, PROBLEM)
    assert "If-Match" in missing.json()["detail"]
    for bad in ('W/"1"', '"one"', '"1", "2"'):
        refused = officer.post("/api/v1/change-requests", json=body, headers={"If-Match": bad})
        assert (refused.status_code, refused.json()["status"]) == (412, 412), bad
    disagree = {**body, "payload": {"household": {}, "base_version": 7}}
    both = officer.post("/api/v1/change-requests", json=disagree, headers={"If-Match": '"1"'})
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "payload.base_version"

    created = officer.post(
        "/api/v1/change-requests",
        json={**body, "payload": {"household": {"roof": "tiles"}}},
        headers={"If-Match": '"1"'},
    ).json()
    url = f"/api/v1/change-requests/{created['id']}"
    assert supervisor.post(f"{url}/approve").status_code == 428
    assert supervisor.post(f"{url}/reject", json={"reason": "x"}).status_code == 428
    assert supervisor.post(f"{url}/approve", headers={"If-Match": '"99"'}).status_code == 412
    assert client.get(url).json()["status"] == "submitted"


def test_reject_and_validation_problems(
    client: TestClient, reg: TinyRegistry, officer: TestClient, supervisor: TestClient
) -> None:
    invalid = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "remove_member",
            "household_id": reg.ali,
            "payload": {"person_id": reg.amina, "removal_reason": "bored"},
        },
        headers=if_match(client, f"/api/v1/households/{reg.ali}"),
    )
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in invalid.json()["errors"]}
    assert fields == {"person_id", "removal_reason"}

    created = officer.post(
        "/api/v1/change-requests",
        json={"kind": "move_household", "household_id": reg.ali, "payload": {"area_code": "R01"}},
        headers=if_match(client, f"/api/v1/households/{reg.ali}"),
    ).json()
    url = f"/api/v1/change-requests/{created['id']}"
    no_reason = supervisor.post(f"{url}/reject", json={}, headers=if_match(client, url))
    assert no_reason.status_code == 422
    rejected = supervisor.post(
        f"{url}/reject", json={"reason": "address not verified"}, headers=if_match(client, url)
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_reason"] == "address not verified"
    assert client.get(f"/api/v1/households/{reg.ali}").json()["area_code"] == "R02-D01"

    missing = client.get("/api/v1/households/9999")
    assert missing.status_code == 404
    assert missing.json()["instance"] == "/api/v1/households/9999"
    not_yet = client.get(f"/api/v1/households/{reg.ali}", params={"as_of": "2023-01-01"})
    assert not_yet.status_code == 404


def test_operation_ids_are_stable(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    ids = {op["operationId"] for path in paths.values() for op in path.values()}
    assert {
        "list_areas",
        "get_area",
        "list_households",
        "get_household",
        "get_household_history",
        "list_persons",
        "get_person",
        "list_change_requests",
        "create_change_request",
        "get_change_request",
        "approve_change_request",
        "reject_change_request",
    } <= ids


def test_change_request_payload_is_encrypted_at_rest_and_read_through_the_api(
    engine: Engine, reg: TinyRegistry, officer: TestClient, supervisor: TestClient
) -> None:
    url = f"/api/v1/households/{reg.okello}"
    person = {"phone": "+256700555444", "other_names": "Wanjiru"}
    created = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "update_fields",
            "household_id": reg.okello,
            "payload": {"person_id": reg.amina, "person": person},
        },
        headers={"If-Match": officer.get(url).headers["etag"]},
    )
    assert created.status_code == 201, created.text
    request_url = f"/api/v1/change-requests/{created.json()['id']}"
    approved = supervisor.post(f"{request_url}/approve", headers=if_match(officer, request_url))
    assert approved.status_code == 200, approved.text
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT payload, result FROM change_request")).all()
    stored = "\n".join(str(v) for row in raw for v in row)
    assert "Wanjiru" not in stored and "+256700555444" not in stored
    assert all(v is None or v.count(":") == 1 for row in raw for v in row)  # "<key id>:<sealed>"
    shown = officer.get(request_url).json()
    assert shown["payload"]["person"] == person
    assert shown["status"] == "applied" and shown["result"]["household_version"] == 2
