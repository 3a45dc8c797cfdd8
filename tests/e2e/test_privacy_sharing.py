"""Every REST response to a machine client is limited by its agency's agreements in force."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance import agreements
from solidarity.governance.repository import AuditFilter, AuditRepository
from solidarity.governance.schemas import AgencyIn, AgreementIn
from tests.integration.test_registry_builders import TinyRegistry, build_registry

TODAY = date.today()


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as s:
        built = build_registry(s)
        for code in ("MOH", "MOE", "MOL"):
            agreements.create_agency(s, AgencyIn(code=code, name=code), actor="admin")
        agreements.create_agreement(
            s,
            AgreementIn(
                code="DSA-MOH",
                agency_code="MOH",
                purposes=["health_insurance"],
                fields=["given_name", "sex", "birth_date"],
                record_types=["person"],
                area_codes=["R01"],
                operations=["search"],
                valid_from=TODAY - timedelta(days=30),
                valid_to=TODAY + timedelta(days=30),
            ),
            actor="admin",
        )
        agreements.create_agreement(
            s,
            AgreementIn(
                code="DSA-MOE-2024",
                agency_code="MOE",
                purposes=["school_feeding"],
                fields=["given_name"],
                valid_from=date(2024, 1, 1),
                valid_to=TODAY - timedelta(days=1),
            ),
            actor="admin",
        )
    return built


def test_a_client_gets_only_agreed_fields_record_types_and_areas(
    reg: TinyRegistry, partner_client: Callable[..., TestClient], engine: Engine
) -> None:
    moh = partner_client(agency="MOH")
    persons = moh.get("/api/v1/persons", params={"page_size": 50})
    assert persons.status_code == 200, persons.text
    body = persons.json()
    assert body["total"] == 5  # R01 only: the Okellos and the Mwangis
    assert "Sara" not in persons.text and "NID-" not in persons.text
    for person in body["items"]:
        assert {"given_name", "sex", "birth_date", "id"} <= set(person)
        assert not {"family_name", "identifiers", "phone", "relationship"} & set(person)
    one = moh.get(f"/api/v1/persons/{reg.amina}")
    assert one.status_code == 200 and one.json()["given_name"] == "Amina"
    assert "Okello" not in one.text
    assert moh.get(f"/api/v1/persons/{reg.sara}").status_code == 404  # outside R01

    households = moh.get(f"/api/v1/households/{reg.okello}")
    assert households.status_code == 403
    assert "do not cover household records" in households.json()["detail"]
    other_purpose = moh.get("/api/v1/persons", headers={"X-Purpose": "marketing"})
    assert other_purpose.status_code == 403 and "marketing" in other_purpose.json()["detail"]
    assert moh.get("/api/v1/persons", headers={"X-Purpose": "health_insurance"}).status_code == 200
    assert moh.get("/api/v1/areas").status_code == 200  # reference data
    page = moh.get(f"/registry/households/{reg.okello}")  # HTML is for people
    assert page.status_code == 403 and "Okello" not in page.text
    assert moh.get("/api/v1/auth/me").status_code == 200

    with session_factory(engine)() as session:
        shared, _ = AuditRepository(session).search(AuditFilter(action="sharing.response"), 50, 0)
        refused, _ = AuditRepository(session).search(AuditFilter(action="sharing.refused"), 50, 0)
    assert shared and all(e.details["agreements"] == ["DSA-MOH"] for e in shared)
    assert {e.details["path"] for e in refused} >= {f"/api/v1/households/{reg.okello}"}


def test_an_expired_agreement_or_no_agency_is_refused_with_the_reason(
    reg: TinyRegistry, partner_client: Callable[..., TestClient]
) -> None:
    expired = partner_client(agency="MOE").get("/api/v1/persons")
    assert expired.status_code == 403
    assert f"expired on {TODAY - timedelta(days=1)}" in expired.json()["detail"]
    none = partner_client(agency="MOL").get("/api/v1/persons")
    assert none.status_code == 403 and "has no data sharing agreement" in none.json()["detail"]
    orphan = partner_client()
    refused = orphan.get(f"/api/v1/persons/{reg.amina}")
    assert refused.status_code == 403 and "acts for no agency" in refused.json()["detail"]
    assert "Amina" not in refused.text
    assert orphan.get("/api/v1/auth/me").status_code == 200


def test_agreements_show_their_terms_and_refuse_unknown_ones(
    reg: TinyRegistry, client_as: Callable[..., TestClient]
) -> None:
    admin = client_as("administrator")
    listed = {a["code"]: a for a in admin.get("/api/v1/agreements").json()}
    assert listed["DSA-MOH"]["fields"] == ["given_name", "sex", "birth_date"]
    assert listed["DSA-MOH"]["record_types"] == ["person"]
    assert listed["DSA-MOH"]["area_codes"] == ["R01"] and listed["DSA-MOH"]["operations"] == [
        "search"
    ]
    bad = admin.post(
        "/api/v1/agreements",
        json={
            "code": "BAD",
            "agency_code": "MOH",
            "purposes": ["p"],
            "fields": ["sex"],
            "area_codes": ["NOWHERE"],
            "operations": ["delete_everything"],
            "valid_from": TODAY.isoformat(),
        },
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"area_codes", "operations"}
