"""Agencies, data sharing agreements and consent records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance.agreements import AgreementRefused, allowed_fields, filter_record
from solidarity.governance.principal import Principal
from tests.integration.test_registry_builders import TinyRegistry, build_registry


@pytest.fixture
def reg(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


def _client(agency: str | None) -> Principal:
    return Principal(
        username="moh-mis",
        display_name="MoH MIS",
        kind="client",
        permissions=frozenset({"registry.read"}),
        grants=(),
        agency_code=agency,
    )


def test_agreements_decide_which_fields_a_client_gets_until_they_expire(
    client_as: Callable[..., TestClient], engine: Engine
) -> None:
    admin = client_as("administrator")
    assert admin.post("/api/v1/agencies", json={"code": "MOH", "name": "Health"}).status_code == 201
    today = date.today()
    made = admin.post(
        "/api/v1/agreements",
        json={
            "code": "MOH-2025",
            "agency_code": "MOH",
            "purposes": ["health_insurance_enrolment"],
            "fields": ["given_name", "family_name", "birth_date"],
            "valid_from": (today - timedelta(days=30)).isoformat(),
            "valid_to": (today + timedelta(days=30)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    unknown = admin.post(
        "/api/v1/agreements",
        json={
            "code": "X",
            "agency_code": "NOPE",
            "purposes": ["p"],
            "fields": ["sex"],
            "valid_from": today.isoformat(),
        },
    )
    assert unknown.status_code == 422

    with session_factory(engine)() as session:
        fields = allowed_fields(session, _client("MOH"), "health_insurance_enrolment")
        assert fields == {"given_name", "family_name", "birth_date"}
        record = {"id": 1, "given_name": "Amina", "phone": "+254", "birth_date": "1980-05-02"}
        assert filter_record(record, fields) == {
            "id": 1,
            "given_name": "Amina",
            "birth_date": "1980-05-02",
        }
        with pytest.raises(AgreementRefused):
            allowed_fields(session, _client("MOH"), "marketing")
        with pytest.raises(AgreementRefused):  # expired
            allowed_fields(
                session, _client("MOH"), "health_insurance_enrolment", today + timedelta(days=31)
            )
        with pytest.raises(AgreementRefused):
            allowed_fields(session, _client(None), "health_insurance_enrolment")
    assert [a["code"] for a in client_as("auditor").get("/api/v1/agreements").json()] == [
        "MOH-2025"
    ]


def test_consent_is_recorded_and_withdrawn_within_the_officers_area(
    client_as: Callable[..., TestClient], reg: TinyRegistry
) -> None:
    officer = client_as("registration_officer", "R01-D01")
    given = officer.post(
        "/api/v1/consents",
        json={"person_id": reg.amina, "purpose": "data sharing with MoH", "evidence": "form 12"},
    )
    assert given.status_code == 201, given.text
    consent = given.json()
    assert consent["recorded_by"] == "registration_officer@R01-D01"
    outside = officer.post(
        "/api/v1/consents", json={"person_id": reg.sara, "purpose": "data sharing with MoH"}
    )
    assert outside.status_code == 404
    withdrawn = officer.post(f"/api/v1/consents/{consent['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    assert officer.post(f"/api/v1/consents/{consent['id']}/withdraw").status_code == 409
    listed = officer.get(f"/api/v1/persons/{reg.amina}/consents").json()
    assert [c["purpose"] for c in listed] == ["data sharing with MoH"]
    assert officer.get(f"/api/v1/persons/{reg.sara}/consents").status_code == 404
    south = client_as("registration_officer", "R02")
    assert south.post(f"/api/v1/consents/{consent['id']}/withdraw").status_code == 404


def test_access_logs_drop_query_strings() -> None:
    import logging

    from solidarity.web.security import DropQueryStrings

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/api/v1/persons?id_value=NID-004&name=Sara", "1.1", 200),
        None,
    )
    DropQueryStrings().filter(record)
    assert "NID-004" not in record.getMessage() and "/api/v1/persons" in record.getMessage()
