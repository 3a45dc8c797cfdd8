"""Sign-in, sessions, CSRF, machine-client tokens, scopes, field permissions and hardening."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from solidarity.config import get_settings
from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance.keys import KeyStore
from solidarity.governance.models import AuditEntry
from solidarity.governance.tokens import AUDIENCE
from tests.conftest import TEST_PASSWORD
from tests.integration.test_registry_builders import TinyRegistry, build_registry

PROBLEM = "application/problem+json"


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


def _actions(engine: Engine) -> list[tuple[str, str, str | None]]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.actor, e.action, e.object_id) for e in rows]


# --- sign-in ---------------------------------------------------------------------------


def test_sign_in_sets_a_hardened_cookie_and_returns_a_csrf_token(
    anonymous: TestClient, make_account: Callable[..., str], engine: Engine
) -> None:
    make_account("kato", "registration_officer")
    response = anonymous.post(
        "/api/v1/auth/login", json={"username": "kato", "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-solidarity=")
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["csrf_token"] and body["roles"] == ["registration_officer"]
    assert "registry.write" in body["permissions"]

    me = anonymous.get("/api/v1/auth/me").json()
    assert (me["username"], me["csrf_token"]) == ("kato", body["csrf_token"])
    assert me["grants"][0]["area_code"] is None
    assert ("kato", "auth.login", "kato") in _actions(engine)


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    anonymous: TestClient, make_account: Callable[..., str], engine: Engine
) -> None:
    make_account("kato", "registration_officer")
    wrong = anonymous.post("/api/v1/auth/login", json={"username": "kato", "password": "nope"})
    unknown = anonymous.post("/api/v1/auth/login", json={"username": "ghost", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"] == PROBLEM
    assert "set-cookie" not in wrong.headers
    assert anonymous.get("/api/v1/auth/me").status_code == 401
    failed = [a for a in _actions(engine) if a[1] == "auth.login_failed"]
    assert [f[0] for f in failed] == ["kato", "ghost"]


def test_repeated_failures_lock_the_account(
    api: FastAPI, make_account: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLIDARITY_MAX_FAILED_LOGINS", "3")
    get_settings.cache_clear()
    make_account("kato", "registration_officer")
    api.state.login_limiter.burst = 100  # this test is about lockout, not rate limiting
    client = TestClient(api, base_url="https://testserver")
    for _ in range(3):
        assert (
            client.post(
                "/api/v1/auth/login", json={"username": "kato", "password": "wrong-password"}
            ).status_code
            == 401
        )
    locked = client.post("/api/v1/auth/login", json={"username": "kato", "password": TEST_PASSWORD})
    assert locked.status_code == 401


def test_an_administrator_reset_unlocks_and_ends_sessions(
    client_as: Callable[..., TestClient], anonymous: TestClient, engine: Engine
) -> None:
    officer = client_as("registration_officer", username="kato")
    admin = client_as("administrator", username="root.admin")
    reset = admin.post("/api/v1/users/kato/password", json={"password": "a-new-long-password"})
    assert reset.status_code == 204, reset.text
    assert officer.get("/api/v1/auth/me").status_code == 401  # session ended
    weak = admin.post("/api/v1/users/kato/password", json={"password": "short"})
    assert weak.status_code == 422
    again = anonymous.post(
        "/api/v1/auth/login", json={"username": "kato", "password": "a-new-long-password"}
    )
    assert again.status_code == 200
    assert ("root.admin", "user.password_reset", "kato") in _actions(engine)


def test_sign_in_is_rate_limited_per_address_and_account(
    anonymous: TestClient, make_account: Callable[..., str]
) -> None:
    make_account("kato", "registration_officer")
    codes = [
        anonymous.post(
            "/api/v1/auth/login", json={"username": "kato", "password": "wrong"}
        ).status_code
        for _ in range(get_settings().login_burst + 1)
    ]
    assert codes[-1] == 429
    last = anonymous.post("/api/v1/auth/login", json={"username": "kato", "password": "wrong"})
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1
    assert last.headers["content-type"] == PROBLEM


def test_logout_ends_the_session(client_as: Callable[..., TestClient]) -> None:
    client = client_as("analyst")
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_cookie_changes_need_the_csrf_token(
    client_as: Callable[..., TestClient], reg: TinyRegistry
) -> None:
    officer = client_as("registration_officer")
    body = {"kind": "update_fields", "household_id": reg.okello, "payload": {}}
    token = officer.headers.pop("X-CSRF-Token")
    missing = officer.post("/api/v1/change-requests", json=body)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = officer.post("/api/v1/change-requests", json=body, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    assert officer.get(f"/api/v1/households/{reg.okello}").status_code == 200  # reads need none
    officer.headers["X-CSRF-Token"] = token
    through = officer.post("/api/v1/change-requests", json=body, headers={"If-Match": '"1"'})
    assert through.status_code == 422  # got through


def test_the_x_actor_header_is_not_trusted(anonymous: TestClient, reg: TinyRegistry) -> None:
    response = anonymous.get("/api/v1/households", headers={"X-Actor": "administrator"})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_missing_permission_is_403(client_as: Callable[..., TestClient]) -> None:
    analyst = client_as("analyst")
    response = analyst.get("/api/v1/users")
    assert response.status_code == 403
    assert "users.manage" in response.json()["detail"]


# --- machine clients -------------------------------------------------------------------


def _agency_with_agreement(engine: Engine, agency: str) -> str:
    """An agency sharing every field under an agreement in force (REST needs one)."""
    from datetime import date

    from solidarity.governance import agreements
    from solidarity.governance.schemas import AgencyIn, AgreementIn

    with unit_of_work(engine) as s:
        agreements.create_agency(s, AgencyIn(code=agency, name=agency), actor="test")
        agreements.create_agreement(
            s,
            AgreementIn(
                code=f"DSA-{agency}",
                agency_code=agency,
                purposes=["verification"],
                fields=["*"],
                valid_from=date(2020, 1, 1),
            ),
            actor="test",
        )
    return agency


def test_client_credentials_issue_an_rs256_token_verifiable_with_the_jwks(
    partner_client: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    client = partner_client(agency=_agency_with_agreement(engine, "MOH"))
    token = client.headers["Authorization"].removeprefix("Bearer ")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    jwks = client.get("/.well-known/jwks.json").json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = jwt.PyJWK(key).key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE)
    assert claims["sub"] == "client-1"
    assert claims["exp"] - claims["iat"] == get_settings().token_minutes * 60
    assert "registry.read" in claims["scope"].split()

    persons = client.get("/api/v1/persons", params={"id_value": "NID-004"})
    assert persons.status_code == 200
    assert persons.json()["items"][0]["given_name"] == "Sara"
    assert ("client-1", "oauth.token_issued", "client-1") in _actions(engine)


def test_token_requests_that_are_wrong_are_refused(
    anonymous: TestClient, partner_client: Callable[..., TestClient]
) -> None:
    partner_client()
    bad_grant = anonymous.post("/oauth2/client/token", data={"grant_type": "password"})
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "unsupported_grant_type"
    bad_secret = anonymous.post(
        "/oauth2/client/token",
        data={"grant_type": "client_credentials", "client_id": "client-1", "client_secret": "x"},
    )
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"


def test_a_token_carries_only_the_scope_asked_for(
    partner_client: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    agency = _agency_with_agreement(engine, "MOH")
    client = partner_client(scope="registry.read", agency=agency)
    person = client.get(f"/api/v1/persons/{reg.sara}").json()
    assert person["given_name"] != "Sara"  # pii.names not in the scope: pseudonymised
    with pytest.raises(AssertionError):
        partner_client(scope="users.manage")


def _forged(keys: KeyStore, **changes: object) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": get_settings().token_issuer,
        "sub": "client-1",
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "scope": "registry.read",
    }
    claims.update(changes)
    key = keys.signing_key()
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def test_expired_foreign_and_malformed_tokens_are_401(
    api: FastAPI, partner_client: Callable[..., TestClient], tmp_path: object
) -> None:
    partner_client()
    keys: KeyStore = api.state.keys
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = _forged(keys, iat=int(past.timestamp()), exp=int(past.timestamp()) + 60)
    from pathlib import Path

    other = KeyStore(Path(str(tmp_path)) / "other-keys")
    foreign = _forged(other)
    client = TestClient(api, base_url="https://testserver")
    for token, words in [
        (expired, "expired"),
        (foreign, "unknown key"),
        ("not.a.token", "malformed"),
        (_forged(keys, aud="someone-else"), "not valid"),
    ]:
        response = client.get("/api/v1/areas", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["content-type"] == PROBLEM
        assert words in response.json()["detail"]
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert client.get("/api/v1/areas", headers={"Authorization": "Basic abc"}).status_code == 401
    assert (
        client.get(
            "/api/v1/areas", headers={"Authorization": f"Bearer {_forged(keys)}"}
        ).status_code
        == 200
    )


def test_a_rotated_key_stays_published_until_its_tokens_expire(tmp_path: object) -> None:
    from pathlib import Path

    store = KeyStore(Path(str(tmp_path)) / "keys", token_minutes=10)
    first = store.signing_key()
    second = store.rotate()
    assert store.signing_key().kid == second.kid != first.kid
    assert {k["kid"] for k in store.jwks()["keys"]} == {first.kid, second.kid}
    later = datetime.now(UTC) + timedelta(minutes=12)
    assert [k.kid for k in store.published(later)] == [second.kid]
    assert (Path(str(tmp_path)) / "keys" / f"jwt-{first.kid}.pem").stat().st_mode & 0o077 == 0


# --- scope and field permissions -------------------------------------------------------


def test_an_officer_sees_only_their_district(
    client_as: Callable[..., TestClient], reg: TinyRegistry
) -> None:
    officer = client_as("registration_officer", "R01-D01")
    households = officer.get("/api/v1/households").json()
    assert [h["id"] for h in households["items"]] == [reg.okello]
    assert households["total"] == 1
    assert officer.get("/api/v1/persons").json()["total"] == 3
    by_id = officer.get("/api/v1/persons", params={"id_value": "NID-004"}).json()
    assert by_id["total"] == 0  # Sara lives in R02-D01
    for path in (
        f"/api/v1/households/{reg.ali}",
        f"/api/v1/households/{reg.ali}/history",
        f"/api/v1/persons/{reg.sara}",
    ):
        outside = officer.get(path)
        missing = officer.get(path.replace(str(reg.ali), "9999").replace(str(reg.sara), "9999"))
        assert outside.status_code == missing.status_code == 404
        assert outside.json()["title"] == missing.json()["title"]
    refused = officer.post(
        "/api/v1/change-requests",
        json={"kind": "update_fields", "household_id": reg.ali, "payload": {}},
        headers={"If-Match": '"1"'},
    )
    assert refused.status_code == 404
    move = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "move_household",
            "household_id": reg.okello,
            "payload": {"area_code": "R02"},
        },
        headers={"If-Match": '"1"'},
    )
    assert move.status_code == 403


def test_a_supervisor_cannot_decide_requests_outside_their_area(
    client_as: Callable[..., TestClient], reg: TinyRegistry
) -> None:
    national = client_as("registration_officer")
    request = national.post(
        "/api/v1/change-requests",
        json={
            "kind": "update_fields",
            "household_id": reg.ali,
            "payload": {"household": {"roof": "tiles"}},
        },
        headers={"If-Match": '"1"'},
    ).json()
    read = {"If-Match": f'"{request["version"]}"'}
    north = client_as("supervisor", "R01")
    assert north.get(f"/api/v1/change-requests/{request['id']}").status_code == 404
    assert north.get("/api/v1/change-requests").json()["total"] == 0
    decided = north.post(f"/api/v1/change-requests/{request['id']}/approve", headers=read)
    assert decided.status_code == 404
    south = client_as("supervisor", "R02")
    approved = south.post(f"/api/v1/change-requests/{request['id']}/approve", headers=read)
    assert approved.status_code == 200


def test_field_permissions_hide_identifiers_contact_and_health(
    client_as: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    with unit_of_work(engine) as session:
        from solidarity.registry.models import Person

        amina = session.get(Person, reg.amina)
        assert amina is not None
        amina.phone, amina.wg_seeing, amina.pregnant = "+254700000001", 3, True

    full = client_as("registration_officer").get(f"/api/v1/persons/{reg.amina}").json()
    assert (full["phone"], full["wg_seeing"], full["pregnant"]) == ("+254700000001", 3, True)
    assert full["identifiers"][0]["value"] == "NID-001"

    manager = client_as("programme_manager").get(f"/api/v1/persons/{reg.amina}").json()
    assert manager["phone"] == "+254700000001" and manager["given_name"] == "Amina"
    assert manager["wg_seeing"] is None and manager["pregnant"] is None  # no pii.health


def test_analysts_see_pseudonymised_persons(
    client_as: Callable[..., TestClient], reg: TinyRegistry
) -> None:
    analyst = client_as("analyst")
    person = analyst.get(f"/api/v1/persons/{reg.amina}").json()
    assert person["given_name"] != "Amina" and person["given_name"].startswith("N-")
    assert person["birth_date"] == "1980-01-01" and person["age"] is not None
    assert person["identifiers"][0]["value"] not in {"NID-001", "[hidden]"}
    assert person["phone"] is None and person["wg_seeing"] is None
    again = analyst.get(f"/api/v1/persons/{reg.amina}").json()
    assert again["given_name"] == person["given_name"]  # stable pseudonyms link records
    household = analyst.get(f"/api/v1/households/{reg.okello}").json()
    assert "Okello" not in str(household)
    summaries = analyst.get("/api/v1/households").json()["items"]
    assert all("Okello" not in (s["head_name"] or "") for s in summaries)


def test_reads_of_personal_data_are_audited(
    client_as: Callable[..., TestClient], reg: TinyRegistry, engine: Engine
) -> None:
    officer = client_as("registration_officer", username="kato")
    officer.get(f"/api/v1/households/{reg.okello}")
    officer.get(f"/api/v1/persons/{reg.sara}")
    officer.get("/api/v1/persons", params={"name": "Okello"})
    actions = [a for a in _actions(engine) if a[0] == "kato"]
    assert ("kato", "household.read", str(reg.okello)) in actions
    assert ("kato", "person.read", str(reg.sara)) in actions
    with session_factory(engine)() as session:
        search = session.scalar(select(AuditEntry).where(AuditEntry.action == "person.search"))
        assert search is not None
        assert sorted(search.details["ids"]) == sorted([reg.amina, reg.john, reg.grace])


def test_auditors_search_the_trail(client_as: Callable[..., TestClient], reg: TinyRegistry) -> None:
    officer = client_as("registration_officer", username="kato")
    officer.get(f"/api/v1/persons/{reg.sara}")
    auditor = client_as("auditor")
    page = auditor.get("/api/v1/audit", params={"actor": "kato", "action": "person.read"}).json()
    assert page["total"] == 1
    assert page["items"][0]["object_id"] == str(reg.sara)
    assert len(page["items"][0]["hash"]) == 64
    today = datetime.now(UTC).date().isoformat()
    assert auditor.get("/api/v1/audit", params={"since": today}).json()["total"] >= 2
    assert officer.get("/api/v1/audit").status_code == 403


def test_imports_outside_the_importers_area_are_refused_row_by_row(
    client_as: Callable[..., TestClient], engine: Engine, tmp_path: object
) -> None:
    from pathlib import Path

    from solidarity.jobs.worker import Worker
    from tests.registry_files import load_test_areas, registry_files

    load_test_areas(engine)
    with unit_of_work(engine) as session:
        from solidarity.registry.service import list_areas

        districts = [a.code for a in list_areas(session, level=1)]
    mine, other = districts[0], districts[-1]

    def areas(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        for row in rows:
            row["area_code"] = mine
        rows[1]["area_code"] = other
        return rows

    households, persons = registry_files(Path(str(tmp_path)), n=3, households=areas)
    officer = client_as("registration_officer", mine)
    files = [("files", (p.name, p.read_bytes(), "text/csv")) for p in (households, persons)]
    job = officer.post("/api/v1/imports", files=files).json()
    Worker(engine, "test-worker").run_once()
    result = officer.get(job["url"]).json()["result"]
    assert result["status"] == "refused"
    assert [e["rule"] for e in result["errors"]] == ["outside_scope"]


# --- hardening -------------------------------------------------------------------------


def test_security_headers(anonymous: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    response = anonymous.get("/healthz")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers
    monkeypatch.setenv("SOLIDARITY_HSTS", "true")
    get_settings.cache_clear()
    assert "max-age" in anonymous.get("/healthz").headers["strict-transport-security"]
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "'unsafe-inline'" in docs.headers["content-security-policy"]
    # The API reference works offline: its scripts are ours, never a CDN's.
    assert "cdn." not in docs.text and "/api-docs/static/swagger-ui-bundle.js" in docs.text
    assert "http" not in docs.headers["content-security-policy"]
    script = anonymous.get("/api-docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text[:2000]
    redoc = anonymous.get("/redoc")
    assert redoc.status_code == 200 and "/api-docs/static/redoc.standalone.js" in redoc.text
    assert "fonts.googleapis" not in redoc.text


def test_oversized_bodies_are_refused(
    client_as: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    officer = client_as("registration_officer")
    monkeypatch.setenv("SOLIDARITY_MAX_REQUEST_BYTES", "2048")
    get_settings.cache_clear()
    response = officer.post(
        "/api/v1/change-requests",
        json={"kind": "update_fields", "household_id": 1, "payload": {"x": "y" * 5000}},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def test_demo_users_cover_every_role(engine: Engine, anonymous: TestClient) -> None:
    from solidarity.governance.roles import roles
    from solidarity.governance.service import ensure_demo_users

    with unit_of_work(engine) as session:
        build_registry(session)
        accounts = ensure_demo_users(session)
    with unit_of_work(engine) as session:
        assert ensure_demo_users(session) == accounts  # idempotent
    assert {role for _u, _p, role, _s in accounts} == set(roles()) - {"partner"}
    officer = next(a for a in accounts if a[2] == "registration_officer")
    assert officer[3] == "R01-D01"
    signed = anonymous.post(
        "/api/v1/auth/login", json={"username": officer[0], "password": officer[1]}
    )
    assert signed.status_code == 200


def test_change_request_payloads_follow_field_permissions(
    engine: Engine, client_as: Callable[..., TestClient]
) -> None:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
    officer = client_as("registration_officer")
    created = officer.post(
        "/api/v1/change-requests",
        json={
            "kind": "add_member",
            "household_id": reg.okello,
            "payload": {
                "person": {
                    "given_name": "Omar",
                    "family_name": "Okello",
                    "sex": "male",
                    "birth_date": "2025-02-01",
                    "relationship": "child",
                    "phone": "+999 700 000 111",
                    "wg_seeing": 3,
                },
                "identifiers": [{"id_type": "birth_certificate", "value": "BC-2025-77"}],
            },
        },
        headers={"If-Match": '"1"'},
    )
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    assert "Omar" in created.text and "BC-2025-77" in created.text  # the officer may see it
    for role in ("analyst", "auditor"):
        client = client_as(role)
        for response in (
            client.get(f"/api/v1/change-requests/{request_id}"),
            client.get("/api/v1/change-requests"),
        ):
            assert response.status_code in (200, 403), response.text
            if response.status_code == 403:
                continue
            text = response.text
            assert "Omar" not in text and "BC-2025-77" not in text, (role, text)
            assert "+999 700 000 111" not in text and "2025-02-01" not in text, (role, text)
    shown = client_as("analyst").get(f"/api/v1/change-requests/{request_id}").json()
    person = shown["payload"]["person"]
    assert person["given_name"].startswith("N-") and person["birth_date"] == "2025-01-01"
    assert person["wg_seeing"] is None and person["phone"] is None
