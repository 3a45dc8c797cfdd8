"""Every route declares a permission, and no role sees records outside its areas.

The matrix is built from the application's own routes: a new route without a
permission fails ``test_every_api_route_declares_a_permission``; a new GET route
with an unknown path parameter fails the leak test until its parameter is mapped
to records inside and outside the caller's area below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from solidarity.governance.roles import permissions_of, roles
from solidarity.jobs import service as jobs
from solidarity.web.deps import api_routes, is_public, route_permission
from tests.integration.test_registry_builders import TinyRegistry, build_registry

#: Routes open to anonymous callers, and nothing else.
PUBLIC_ROUTES = {
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/oauth2/client/token"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/api/v1/auth/oidc/login"),
    ("GET", "/api/v1/auth/oidc/callback"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
}

#: Routes whose permission is not wired yet (none: keep it that way).
AWAITING_PERMISSIONS: set[tuple[str, str]] = set()

#: Words that appear only in records outside district R01-D01 of the tiny registry.
OUTSIDE_MARKERS = ("Sara", "NID-004", "Peter", "Ruth", "Mwangi", "NID-003")

#: Reference data every reader may see whatever their area.
UNSCOPED_PREFIXES = ("/api/v1/areas", "/api/v1/auth/", "/api/v1/users", "/api/v1/agencies")


def _routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    return [
        (method, path, route)
        for path, route in api_routes(app.routes)
        for method in sorted(route.methods or ())
    ]


def test_every_api_route_declares_a_permission(api: FastAPI) -> None:
    undeclared = []
    for method, path, route in _routes(api):
        key = (method, path)
        if key in PUBLIC_ROUTES:
            assert is_public(route.endpoint), f"{key} is listed public but not marked @public"
            continue
        assert not is_public(route.endpoint), f"{key} is marked @public but not listed"
        permission = route_permission(route)
        if permission is None and key not in AWAITING_PERMISSIONS:
            undeclared.append(key)
        if permission is not None:
            assert key not in AWAITING_PERMISSIONS, f"{key} is wired now: drop it from the list"
            known = {p for r in roles() for p in permissions_of(r)} | {"authenticated"}
            assert permission in known, f"{key} requires an unknown permission {permission!r}"
    assert undeclared == [], f"routes without a permission: {undeclared}"


def _fill(path: str, values: dict[str, str]) -> str:
    # ``{code}`` names an area under /areas and a programme under /programs.
    if path.startswith("/api/v1/programs"):
        values = {**values, "code": values.get("programme", "1")}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


def test_anonymous_callers_reach_only_public_routes(api: FastAPI, anonymous: TestClient) -> None:
    for method, path, _route in _routes(api):
        if (method, path) in PUBLIC_ROUTES or path.startswith("/docs"):
            continue
        response = anonymous.request(method, _fill(path, {}))
        assert response.status_code == 401, (method, path, response.status_code)


@pytest.fixture
def world(engine: Engine, client_as: Callable[..., TestClient]) -> dict[str, dict[str, str]]:
    """The tiny registry, a change request and a job on each side of district R01-D01."""
    with unit_of_work(engine) as session:
        reg: TinyRegistry = build_registry(session)
    national = client_as(("registration_officer", "administrator"), username="national")
    requests = {}
    for name, household in (("inside", reg.okello), ("outside", reg.ali)):
        created = national.post(
            "/api/v1/change-requests",
            json={
                "kind": "update_fields",
                "household_id": household,
                "payload": {"household": {"roof": "tiles"}},
            },
            headers={"If-Match": national.get(f"/api/v1/households/{household}").headers["etag"]},
        )
        assert created.status_code == 201, created.text
        requests[name] = str(created.json()["id"])
    with unit_of_work(engine) as session:
        others_job = str(jobs.enqueue(session, "test.matrix", {}, actor="someone.else").id)
        cycle_id = str(_programme_with_a_cycle(session))
    with unit_of_work(engine) as session:
        redress = _redress_records(session, reg)
    return {
        "inside": {
            "household_id": str(reg.okello),
            "person_id": str(reg.amina),
            "change_request_id": requests["inside"],
            "code": "R01-D01",
            "username": "national",
            "programme": "MX",
            "cycle_id": cycle_id,
            **redress["inside"],
        },
        "outside": {
            "household_id": str(reg.ali),
            "person_id": str(reg.sara),
            "change_request_id": requests["outside"],
            "code": "R02-D01",
            "username": "national",
            "programme": "MX",
            "cycle_id": cycle_id,
            "job_id": others_job,
            "import_id": "1",
            "consent_id": "1",
            "grant_id": "1",
            # No linkage run, model, pair or merge exists: 404 for everyone who may ask.
            "run_id": "1",
            "model_id": "1",
            "pair_id": "1",
            "merge_id": "1",
            **redress["outside"],
        },
    }


SCOPED_PARAMS = {
    "household_id",
    "person_id",
    "change_request_id",
    "grievance_id",
    "case_id",
    "referral_id",
}


def _redress_records(session: Any, reg: TinyRegistry) -> dict[str, dict[str, str]]:
    """A grievance, a case and a referral on each side of R01-D01, and one catalogue service."""
    from datetime import date

    from solidarity.governance import agreements
    from solidarity.governance import service as governance
    from solidarity.governance.schemas import AgencyIn, AgreementIn
    from solidarity.grievances import cases, referrals
    from solidarity.grievances import service as grievances
    from solidarity.grievances.schemas import CaseIn, GrievanceIn, ReferralIn, ServiceIn

    agreements.create_agency(session, AgencyIn(code="EDU", name="Education"), actor="national")
    agreements.create_agreement(
        session,
        AgreementIn(
            code="DSA-EDU",
            agency_code="EDU",
            purposes=["referral"],
            fields=["given_name"],
            valid_from=date(2020, 1, 1),
        ),
        actor="national",
    )
    user = governance.cli_principal(session, "national")
    referrals.create_service(
        session,
        user.scoped_to("referrals.manage"),
        ServiceIn(
            code="SVC",
            name="School bursary",
            sector="education",
            agency_code="EDU",
            area_codes=["R01", "R02"],
            eligibility="size >= 1",
        ),
    )
    out: dict[str, dict[str, str]] = {}
    for side, household, person, name in (
        ("inside", reg.okello, reg.amina, "Amina Okello"),
        ("outside", reg.ali, reg.sara, "Sara Ali"),
    ):
        grievance = grievances.lodge(
            session,
            user.scoped_to("grievances.manage"),
            GrievanceIn(
                category="data_error",
                description="wrong birth date",
                household_id=household,
                person_id=person,
                complainant_name=name,
            ),
        )
        case = cases.open_case(
            session,
            user.scoped_to("cases.manage"),
            CaseIn(household_id=household, case_worker="national"),
        )
        referral = referrals.send_referral(
            session,
            user.scoped_to("referrals.manage"),
            ReferralIn(service_code="SVC", household_id=household, fields=["given_name"]),
        )
        out[side] = {
            "grievance_id": str(grievance.id),
            "case_id": str(case.id),
            "referral_id": str(referral.id),
            "service_code": "SVC",
        }
    return out


def _programme_with_a_cycle(session: Any) -> int:
    """Programme MX for every household, enrolled on both sides, with an open cycle."""
    from datetime import date

    from solidarity.programs import eligibility, payments
    from solidarity.programs import service as programmes
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn

    programme = programmes.create_programme(
        session, ProgrammeIn(code="MX", name="Matrix grant"), "national"
    )
    for kind, expression in (("eligibility", "size >= 1"), ("benefit", "10 * size")):
        programmes.add_rule_version(
            session,
            "MX",
            RuleVersionIn(kind=kind, expression=expression, valid_from=date(2020, 1, 1)),
            "national",
        )
    eligibility.enrol_eligible(session, programme, date.today(), "national")
    cycle = payments.create_cycle(
        session, programme, "2026-01", date(2026, 1, 1), date(2026, 1, 31), "national"
    )
    return int(cycle.id)


@pytest.mark.parametrize("role", sorted(r for r in roles() if r != "partner"))
def test_no_role_sees_records_outside_its_district(
    role: str,
    api: FastAPI,
    world: dict[str, dict[str, str]],
    client_as: Callable[..., TestClient],
) -> None:
    client = client_as(role, "R01-D01")
    held = permissions_of(role)
    for method, path, route in _routes(api):
        if method != "GET" or (method, path) in PUBLIC_ROUTES | AWAITING_PERMISSIONS:
            continue
        params = set(re.findall(r"\{(\w+)\}", path))
        unknown = params - set(world["outside"])
        assert not unknown, f"{path}: map {unknown} to records inside and outside a district"
        permission = route_permission(route)
        for side in ("inside", "outside"):
            if side == "inside" and not params <= set(world["inside"]):
                continue
            response = client.get(_fill(path, world[side]))
            label = f"{role} GET {path} ({side})"
            assert response.status_code < 500, label
            if permission not in held and permission != "authenticated":
                assert response.status_code == 403, label
                continue
            text = response.text
            if path.startswith(UNSCOPED_PREFIXES):
                continue
            if side == "outside" and params & (SCOPED_PARAMS | {"job_id", "import_id"}):
                if "jobs.manage" in held and params & {"job_id"}:
                    continue  # job managers see every job; jobs are not area records
                assert response.status_code == 404, label
                assert "Sara" not in text and "NID-004" not in text, label
                continue
            if side == "inside" and params & SCOPED_PARAMS:
                assert response.status_code == 200, f"{label}: {response.text}"
            if not path.startswith("/api/v1/audit"):
                leaked = [m for m in OUTSIDE_MARKERS if m in text]
                assert not leaked, f"{label} leaks {leaked}"
            _assert_counts(path, response, label)


IN_SCOPE_TOTALS = {"/api/v1/households": 1, "/api/v1/persons": 3, "/api/v1/change-requests": 1}


def _assert_counts(path: str, response: Any, label: str) -> None:
    if path not in IN_SCOPE_TOTALS or response.status_code != 200:
        return
    body = json.loads(response.text)
    assert body["total"] == IN_SCOPE_TOTALS[path], f"{label}: total {body['total']}"
    assert len(body["items"]) == IN_SCOPE_TOTALS[path], label


def test_national_roles_answer_every_get_route_without_error(
    api: FastAPI, world: dict[str, dict[str, str]], role_clients: dict[str, TestClient]
) -> None:
    for role, client in role_clients.items():
        for method, path, route in _routes(api):
            if method != "GET" or (method, path) in PUBLIC_ROUTES | AWAITING_PERMISSIONS:
                continue
            values = {**world["outside"], **world["inside"]}
            response = client.get(_fill(path, values))
            assert response.status_code < 500, (role, path, response.text)
            if route_permission(route) in permissions_of(role) and not (
                {"job_id", "import_id", "consent_id", "grant_id"}
                | {"run_id", "model_id", "pair_id", "merge_id"}
                & set(re.findall(r"\{(\w+)\}", path))
            ):
                assert response.status_code == 200, (role, path, response.text)


def test_district_programme_manager_previews_only_its_district(
    api: FastAPI, world: dict[str, dict[str, str]], client_as: Callable[..., TestClient]
) -> None:
    national = client_as("programme_manager").get("/api/v1/programs/MX/preview").json()
    district = client_as("programme_manager", "R01-D01").get("/api/v1/programs/MX/preview")
    assert district.status_code == 200, district.text
    body = district.json()
    assert national["households_evaluated"] == 3
    assert body["households_evaluated"] == 1
    assert [h["household_id"] for h in body["page"]] == [int(world["inside"]["household_id"])]
    # Payment cycles span every area: a district grant may not run them.
    cycle = client_as("programme_manager", "R01-D01").get(
        f"/api/v1/programs/cycles/{world['inside']['cycle_id']}"
    )
    assert cycle.status_code == 403
