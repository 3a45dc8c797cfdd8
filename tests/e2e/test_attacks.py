"""Attacks on the API: each is refused with a clear error and an audit entry; nothing
leaks, nothing changes (issue #8, "Bad input and attacks").

Oversized bodies, path traversal in upload names and malformed tokens have their
own tests beside the features they attack (test_governance_api, test_imports_api);
here the cross-cutting promises are checked: injection strings are plain data,
forged and replayed credentials are refused *and recorded*, and the registry and
the audit chain are intact afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance import audit
from solidarity.governance.models import AuditEntry
from solidarity.registry.models import ChangeRequest, Household, Person
from solidarity.web.deps import session_cookie_name
from tests.integration.test_registry_builders import TinyRegistry, build_registry

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE person; --",
    "Okello' UNION SELECT id, given_name FROM person --",
    "%' OR 1=1 --",
    '" OR ""="',
    "\\x00; SELECT pg_sleep(5)",
]


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


def _state(engine: Engine) -> tuple[int, int, int]:
    with session_factory(engine)() as session:
        return (
            session.scalar(select(func.count(Household.id))) or 0,
            session.scalar(select(func.count(Person.id))) or 0,
            session.scalar(select(func.count(ChangeRequest.id))) or 0,
        )


def _refusals(engine: Engine) -> list[dict[str, object]]:
    with session_factory(engine)() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "request.refused").order_by(AuditEntry.id)
        )
        return [dict(e.details or {}, actor=e.actor) for e in rows]


def test_injection_strings_are_plain_search_values(
    client_as: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    officer = client_as("registration_officer", "R01-D01")
    before = _state(engine)
    for value in INJECTIONS:
        for param in ("name", "id_value"):
            response = officer.get("/api/v1/persons", params={param: value})
            assert response.status_code in (200, 422), (param, value, response.text)
            if response.status_code == 200:
                assert response.json()["total"] == 0, (param, value)
        households = officer.get("/api/v1/households", params={"area": value})
        assert households.status_code in (200, 403, 404, 422), households.text
        if households.status_code == 200:
            assert households.json()["total"] == 0
    assert _state(engine) == before
    # The officer still finds what is really there.
    assert officer.get("/api/v1/persons", params={"id_value": "NID-001"}).json()["total"] == 1


def test_a_forged_session_cookie_is_refused_and_recorded(
    client_as: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    officer = client_as("registration_officer", "R01-D01", username="kato")
    name = session_cookie_name()
    genuine = officer.cookies.get(name)
    assert genuine
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    attacker = TestClient(officer.app, base_url="https://testserver")
    attacker.cookies.set(name, forged)
    response = attacker.get(f"/api/v1/households/{reg.okello}")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "Okello" not in response.text
    (entry,) = _refusals(engine)
    assert entry["status"] == 401 and entry["credential"] == "cookie"
    assert entry["path"] == f"/api/v1/households/{reg.okello}"


def test_a_replayed_session_after_logout_and_a_missing_csrf_token_are_recorded(
    client_as: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    officer = client_as("registration_officer", "R01-D01", username="kato")
    body = {"kind": "update_fields", "household_id": reg.okello,
            "payload": {"household": {"roof": "tiles"}}}  # fmt: skip
    token = officer.headers.pop("X-CSRF-Token")
    assert officer.post("/api/v1/change-requests", json=body).status_code == 403
    officer.headers["X-CSRF-Token"] = token
    cookie = officer.cookies.get(session_cookie_name())
    assert officer.post("/api/v1/auth/logout").status_code == 204
    # The captured cookie is replayed after the session ended.
    replay = TestClient(officer.app, base_url="https://testserver")
    replay.cookies.set(session_cookie_name(), cookie or "")
    replayed = replay.post("/api/v1/change-requests", json=body, headers={"X-CSRF-Token": token})
    assert replayed.status_code == 401
    statuses = [(e["status"], e["actor"]) for e in _refusals(engine)]
    assert statuses == [(403, "kato"), (401, "anonymous")]
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count(ChangeRequest.id))) == 0


def test_out_of_scope_and_missing_permission_are_recorded_but_anonymous_visits_are_not(
    client_as: Callable[..., TestClient],
    anonymous: TestClient,
    reg: TinyRegistry,
    engine: Engine,
) -> None:
    assert anonymous.get("/api/v1/households").status_code == 401  # no credentials: not recorded
    analyst = client_as("analyst", username="ana")
    assert analyst.get("/api/v1/users").status_code == 403
    officer = client_as("registration_officer", "R01-D01", username="kato")
    outside = officer.get(f"/api/v1/households/{reg.ali}")  # Ali lives in R02-D01
    assert outside.status_code in (403, 404)
    entries = _refusals(engine)
    assert (entries[0]["actor"], entries[0]["path"]) == ("ana", "/api/v1/users")
    if outside.status_code == 403:
        assert ("kato", f"/api/v1/households/{reg.ali}") in [
            (e["actor"], e["path"]) for e in entries
        ]
    assert all(e["actor"] != "anonymous" for e in entries)


def test_the_audit_chain_still_verifies_after_attacks(
    client_as: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    officer = client_as("registration_officer", "R01-D01")
    for value in INJECTIONS:
        officer.get("/api/v1/persons", params={"name": value})
    officer.headers["Authorization"] = "Bearer not.a.token"
    assert officer.get("/api/v1/areas").status_code == 401
    assert audit.chain(engine) >= 2
    with session_factory(engine)() as session:
        report = audit.verify(session)
        assert report.ok, report
        assert report.checked >= 2
