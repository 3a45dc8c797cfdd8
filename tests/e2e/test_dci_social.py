# ruff: noqa: E501
"""Contract tests of the DCI Social Registry server, written from the DCI digest.

Every request and response body is validated against ``tests/contracts/dci.schema.json``.
Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from solidarity.db.engine import unit_of_work
from solidarity.governance.agreements import create_agency, create_agreement
from solidarity.governance.models import AuditEntry
from solidarity.governance.schemas import AgencyIn, AgreementIn
from solidarity.governance.tokens import issue_access_token
from solidarity.interop import signatures
from solidarity.interop.models import DciMessage
from solidarity.interop.service import set_partner
from solidarity.registry.models import Household
from tests.contracts.dci import envelope, search_message, ts, validate
from tests.integration.test_registry_builders import TinyRegistry, build_registry

SR = "/dci/social/registry"
ALL_FIELDS = [
    "given_name", "family_name", "other_names", "sex", "birth_date", "relationship",
    "marital_status", "identifiers", "area_code", "consumption_per_capita",
    "registration_date", "urban_rural", "status", "valid_from", "household_id",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _unsigned_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLIDARITY_DCI_REQUIRE_SIGNATURES", "false")


@pytest.fixture
def registry(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
        for household_id, score in ((reg.okello, 2.0), (reg.mwangi, 8.0), (reg.ali, 4.0)):
            household = session.get(Household, household_id)
            assert household is not None
            household.consumption_per_capita = score
    return reg


def make_agreement(engine: Engine, agency: str, fields: list[str], **extra: Any) -> None:
    with unit_of_work(engine) as session:
        create_agency(session, AgencyIn(code=agency, name=agency), actor="test")
        create_agreement(
            session,
            AgreementIn(
                code=f"{agency}-dci",
                agency_code=agency,
                purposes=["registry.search", *extra.pop("purposes", [])],
                fields=fields,
                valid_from=date(2020, 1, 1),
                **extra,
            ),
            actor="test",
        )


class Partner:
    """A partner system: its HTTP client and DCI sender id."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.sender_id = client.get("/api/v1/auth/me").json()["username"]

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.client.post(path, json=body, **kwargs)

    def envelope(self, action: str, message: Any, **kwargs: Any) -> dict[str, Any]:
        return envelope(action, message, sender_id=self.sender_id, **kwargs)


@pytest.fixture
def partner(
    engine: Engine, registry: TinyRegistry, partner_client: Callable[..., TestClient]
) -> Partner:
    make_agreement(engine, "MOH", ALL_FIELDS)
    return Partner(partner_client(agency="MOH"))


def sync_search(partner: Partner, message: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    validate(message, "SearchRequest")
    response = partner.post(f"{SR}/sync/search", partner.envelope("search", message, **kwargs))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    validate(body["header"], "UnionHeader")
    assert body["header"]["action"] == "on-search"
    validate(body["message"], "SearchResponse")
    assert body["message"]["transaction_id"] == message["transaction_id"]
    return body


def records(body: dict[str, Any]) -> list[dict[str, Any]]:
    item = body["message"]["search_response"][0]
    assert item["status"] == "succ", item
    return list(item["data"]["reg_records"])


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    validate(body, "ErrorAck")
    assert body["message"]["error"]["code"] == code, body
    return dict(body)


def member_ids(recs: list[dict[str, Any]], id_type: str = "PERSON_ID") -> list[str]:
    return [
        next(
            i["identifier_value"] for i in r["member_identifier"] if i["identifier_type"] == id_type
        )
        for r in recs
    ]


# --- the three query types ---------------------------------------------------------------


def test_search_by_identifier_returns_the_member_record(
    partner: Partner, registry: TinyRegistry, api: FastAPI
) -> None:
    body = sync_search(partner, search_message("idtype-value", {"type": "UIN", "value": "NID-001"}))
    (record,) = records(body)
    validate(record, "Member")
    info = record["demographic_info"]
    assert info["name"] == {"surname": "Okello", "given_name": "Amina"}
    assert info["sex"] == "female" and info["birth_date"] == "1980-05-02"
    assert {"identifier_type": "UIN", "identifier_value": "NID-001"} in record["member_identifier"]
    assert record["related_person"][0]["relationship_type"] == "SELF"
    item = body["message"]["search_response"][0]
    assert item["pagination"] == {"page_size": 20, "page_number": 1, "total_count": 1}
    assert item["locale"] == "eng"
    # The response is signed with the key published at /.well-known/jwks.json.
    signatures.verify_ours(body, api.state.keys)


def test_search_by_household_id_and_nothing_found_is_success(
    partner: Partner, registry: TinyRegistry
) -> None:
    body = sync_search(
        partner,
        search_message(
            "idtype-value", {"type": "HOUSEHOLD_ID", "value": str(registry.okello)},
            response_entity="Group",
        ),
    )  # fmt: skip
    (group,) = records(body)
    validate(group, "Group")
    assert group["group_size"] == 3
    assert group["poverty_score"] == 2.0
    assert group["group_head_info"]["demographic_info"]["name"]["given_name"] == "Amina"
    assert len(group["member_list"]) == 3
    assert group["address"][0]["sub_region_code"] == "R01-D01"
    empty = sync_search(partner, search_message("idtype-value", {"type": "UIN", "value": "nobody"}))
    assert records(empty) == []


def test_expression_query_on_groups(partner: Partner, registry: TinyRegistry) -> None:
    query = {
        "type": "ns:org:QueryType:expression",
        "value": {
            "expression": {
                "collection": "Group",
                "query": {
                    "$and": [
                        {"poverty_score": {"$lt": 5}},
                        {"location": {"$eq": "R01"}},
                        {"group_size": {"$lt": 5}},
                    ]
                },
            }
        },
    }
    body = sync_search(partner, search_message("expression", query))
    ids = [g["group_identifier"][0]["identifier_value"] for g in records(body)]
    assert ids == [str(registry.okello)]
    either = {"$or": [{"poverty_score": {"$gte": 8}}, {"location": "R02"}]}
    query["value"]["expression"]["query"] = either  # type: ignore[index]
    body = sync_search(partner, search_message("expression", query))
    ids = [g["group_identifier"][0]["identifier_value"] for g in records(body)]
    assert ids == [str(registry.mwangi), str(registry.ali)]


def test_predicate_query_coerces_string_values(partner: Partner, registry: TinyRegistry) -> None:
    predicate = [
        {"seq_num": 1, "expression1": {"attribute_name": "age", "operator": "lt", "attribute_value": "25"},
         "condition": "and",
         "expression2": {"attribute_name": "poverty_score", "operator": "lt", "attribute_value": "2.5"}},
    ]  # fmt: skip
    body = sync_search(partner, search_message("predicate", predicate))
    assert member_ids(records(body)) == [str(registry.grace)]
    predicate = [
        {"seq_num": 2, "expression1": {"attribute_name": "sex", "operator": "eq", "attribute_value": "female"}},
        {"seq_num": 1, "expression1": {"attribute_name": "age", "operator": "ge", "attribute_value": "30"},
         "condition": "not",
         "expression2": {"attribute_name": "location", "operator": "eq", "attribute_value": "R02"}},
    ]  # fmt: skip
    body = sync_search(partner, search_message("predicate", predicate))
    assert member_ids(records(body)) == [str(registry.amina), str(registry.ruth)]


def test_pagination_and_sorting(partner: Partner, registry: TinyRegistry) -> None:
    everyone = [{"expression1": {"attribute_name": "age", "operator": "ge", "attribute_value": 0}}]
    pages = []
    for number in (1, 2, 3, 4):
        message = search_message(
            "predicate",
            everyone,
            sort=[{"attribute_name": "age", "sort_order": "desc"}],
            pagination={"page_size": 2, "page_number": number},
        )
        body = sync_search(partner, message)
        item = body["message"]["search_response"][0]
        assert item["pagination"] == {"page_size": 2, "page_number": number, "total_count": 6}
        pages.append(member_ids(records(body)))
    assert pages[3] == []  # past the last page: an empty page, not an error
    oldest_first = [registry.peter, registry.ruth, registry.john, registry.amina, registry.sara,
                    registry.grace]  # fmt: skip
    assert [i for page in pages for i in page] == [str(i) for i in oldest_first]
    # The suite's placement of pagination on the item works too.
    message = search_message("predicate", everyone)
    message["search_request"][0]["pagination"] = {"page_size": 5, "page_number": 2}
    assert len(records(sync_search(partner, message))) == 1


@pytest.mark.parametrize(
    "pagination",
    [{"page_size": 0}, {"page_size": -1}, {"page_size": 5, "page_number": 0}, {"page_size": 101},
     {"page_size": "10"}],
)  # fmt: skip
def test_bad_pages_are_refused_before_processing(
    partner: Partner, registry: TinyRegistry, pagination: dict[str, Any]
) -> None:
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    message["search_request"][0]["search_criteria"]["pagination"] = pagination
    refused(partner.post(f"{SR}/sync/search", partner.envelope("search", message)), 400,
            "err.request.bad")  # fmt: skip


def test_functional_problems_reject_the_item_not_the_request(
    partner: Partner, registry: TinyRegistry
) -> None:
    cases = [
        (search_message("idtype-value", {"type": "SHOE_SIZE", "value": "42"}),
         "rjct.search_criteria.invalid"),
        (search_message("idtype-value", {"type": "UIN", "value": "NID-001"}, reg_type="ns:org:RegistryType:Farmer"),
         "rjct.search_criteria.invalid"),
        (search_message("predicate", [{"expression1": {"attribute_name": "salary", "operator": "gt", "attribute_value": 1}}]),
         "rjct.search_criteria.invalid"),
        (search_message("predicate", [{"expression1": {"attribute_name": "age", "operator": "gt", "attribute_value": "old"}}]),
         "rjct.search_criteria.invalid"),
        (search_message("idtype-value", {"type": "UIN", "value": "NID-001"}, sort=[{"attribute_name": "shoe", "sort_order": "asc"}]),
         "rjct.sort.invalid"),
        (search_message("expression", {"type": "x", "value": {"expression": {"collection": "Group", "query": {"age": {"$regex": "1"}}}}}),
         "rjct.search_criteria.invalid"),
    ]  # fmt: skip
    for message, reason in cases:
        body = sync_search(partner, message)
        item = body["message"]["search_response"][0]
        assert item["status"] == "rjct" and item["status_reason_code"] == reason, item
        assert "data" not in item
        assert body["header"]["status"] == "rjct"


# --- malformed requests --------------------------------------------------------------------


def _valid(partner: Partner) -> dict[str, Any]:
    return partner.envelope(
        "search", search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    )


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], Any], int, str]]:
    def drop(*path: str) -> Callable[[dict[str, Any]], Any]:
        def change(body: dict[str, Any]) -> None:
            target = body
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]

        return change

    def put(value: Any, *path: str | int) -> Callable[[dict[str, Any]], Any]:
        def change(body: dict[str, Any]) -> None:
            target: Any = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return change

    item = ("message", "search_request", 0)
    return [
        ("no message", drop("message"), 400, "err.request.bad"),
        ("no header", drop("header"), 400, "err.request.bad"),
        ("no message_id", drop("header", "message_id"), 400, "err.request.bad"),
        ("no sender_id", drop("header", "sender_id"), 400, "err.request.bad"),
        ("total_count as text", put("1", "header", "total_count"), 400, "err.request.bad"),
        ("message_ts without zone", put("2025-06-01T10:00:00", "header", "message_ts"), 400, "err.request.bad"),
        ("message_ts not a time", put("yesterday", "header", "message_ts"), 400, "err.request.bad"),
        ("version 2", put("2.0.0", "header", "version"), 400, "err.version.not_supported"),
        ("wrong action", put("subscribe", "header", "action"), 400, "err.request.bad"),
        ("encrypted", put(True, "header", "is_msg_encrypted"), 400, "err.encryption.invalid"),
        ("unknown query type", put("sql", *item, "search_criteria", "query_type"), 400, "err.request.bad"),
        ("query missing", drop(*item, "search_criteria", "query"), 400, "err.request.bad"),
        ("idtype query not an object", put("NID-001", *item, "search_criteria", "query"), 400, "err.request.bad"),
        ("locale en", put("en", *item, "locale"), 400, "err.request.bad"),
        ("locale ENG", put("ENG", *item, "locale"), 400, "err.request.bad"),
        ("item timestamp", put("not-a-timestamp", *item, "timestamp"), 400, "err.request.bad"),
        ("transaction_id of 100", put("t" * 100, "message", "transaction_id"), 400, "err.request.bad"),
        ("empty batch", put([], "message", "search_request"), 400, "err.request.bad"),
        ("bad predicate operator", put([{"expression1": {"attribute_name": "age", "operator": "like", "attribute_value": 1}}],
                                        *item, "search_criteria", "query"), 400, "err.request.bad"),
        ("predicate not a list", put("age<5", *item, "search_criteria", "query"), 400, "err.request.bad"),
        ("stale message", put("2000-01-01T00:00:00Z", "header", "message_ts"), 400, "err.request.bad"),
    ]  # fmt: skip


@pytest.mark.parametrize("case", _mutations(), ids=lambda c: c[0])
def test_malformed_requests_get_the_standard_error_and_change_nothing(
    partner: Partner, registry: TinyRegistry, engine: Engine, case: Any
) -> None:
    _name, mutate, status, code = case
    body = _valid(partner)
    mutate(body)
    for path in (f"{SR}/sync/search", f"{SR}/search"):
        if path.endswith("/search") and "sync" not in path:
            body.setdefault("header", {}).setdefault("sender_uri", "http://127.0.0.1:9/on-search")
        refused(partner.post(path, body), status, code)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count(DciMessage.id))) == 0


def test_invalid_json_and_limits(partner: Partner, registry: TinyRegistry) -> None:
    for raw in (b"{not json", b"[1, 2]", b'"text"'):
        response = partner.client.post(
            f"{SR}/sync/search", content=raw, headers={"Content-Type": "application/json"}
        )
        refused(response, 400, "err.request.bad")
    ok = _valid(partner)
    ok["message"]["transaction_id"] = "t" * 99
    assert partner.post(f"{SR}/sync/search", ok).status_code == 200


# --- authentication, authorisation, replay ----------------------------------------------------


def test_no_token_and_expired_token_are_unauthorized(
    partner: Partner, registry: TinyRegistry, anonymous: TestClient, api: FastAPI
) -> None:
    body = _valid(partner)
    for path in ("/sync/search", "/search", "/subscribe", "/unsubscribe", "/txn/status",
                 "/sync/txn/status"):  # fmt: skip
        refused(anonymous.post(f"{SR}{path}", json=body), 401, "err.request.unauthorized")
    token, _ = issue_access_token(
        api.state.keys,
        subject=partner.sender_id,
        scopes=["registry.read"],
        issuer="solidarity",
        minutes=1,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    expired = anonymous.post(
        f"{SR}/sync/search", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    error = refused(expired, 401, "err.request.unauthorized")
    assert "expired" in error["message"]["error"]["message"]
    garbage = anonymous.post(
        f"{SR}/sync/search", json=body, headers={"Authorization": "Bearer not.a.jwt"}
    )
    refused(garbage, 401, "err.request.unauthorized")


def test_sender_must_be_the_authenticated_client(partner: Partner, registry: TinyRegistry) -> None:
    body = _valid(partner)
    body["header"]["sender_id"] = "someone-else"
    refused(partner.post(f"{SR}/sync/search", body), 403, "err.sender_id.invalid")


def test_a_client_without_permission_or_agreement_is_forbidden(
    engine: Engine, registry: TinyRegistry, partner_client: Callable[..., TestClient]
) -> None:
    no_agreement = Partner(partner_client(agency=None))
    refused(no_agreement.post(f"{SR}/sync/search", _valid(no_agreement)), 403,
            "err.request.forbidden")  # fmt: skip
    administrator = Partner(partner_client(roles=("administrator",)))
    refused(administrator.post(f"{SR}/sync/search", _valid(administrator)), 403,
            "err.request.forbidden")  # fmt: skip


def test_replayed_message_ids_are_refused(
    partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    body = _valid(partner)
    assert partner.post(f"{SR}/sync/search", body).status_code == 200
    error = refused(partner.post(f"{SR}/sync/search", body), 409, "err.request.bad")
    assert "rjct.message_id.duplicate" in error["message"]["error"]["message"]
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count(DciMessage.id))) == 1


def test_the_agreement_decides_which_fields_a_partner_sees(
    engine: Engine, registry: TinyRegistry, partner_client: Callable[..., TestClient]
) -> None:
    make_agreement(engine, "MOE", ["given_name", "family_name"])
    narrow = Partner(partner_client(agency="MOE"))
    body = sync_search(narrow, search_message("idtype-value", {"type": "UIN", "value": "NID-001"}))
    (record,) = records(body)
    assert record["demographic_info"]["name"] == {"surname": "Okello", "given_name": "Amina"}
    assert "birth_date" not in record["demographic_info"]
    assert "sex" not in record["demographic_info"]
    assert record["member_identifier"] == [
        {"identifier_type": "PERSON_ID", "identifier_value": str(registry.amina)}
    ]
    # A purpose the agreement does not cover is refused.
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"},
                             authorize={"purpose": {"code": "marketing"}})  # fmt: skip
    refused(narrow.post(f"{SR}/sync/search", narrow.envelope("search", message)), 403,
            "err.request.forbidden")  # fmt: skip


def test_area_scoped_partners_see_only_their_area(
    engine: Engine, registry: TinyRegistry, partner_client: Callable[..., TestClient]
) -> None:
    make_agreement(engine, "DISTRICT", ALL_FIELDS)
    local = Partner(partner_client(agency="DISTRICT", area="R01-D01"))
    everyone = [{"expression1": {"attribute_name": "age", "operator": "ge", "attribute_value": 0}}]
    body = sync_search(local, search_message("predicate", everyone))
    assert sorted(member_ids(records(body))) == sorted(
        str(i) for i in (registry.amina, registry.john, registry.grace)
    )
    outside = sync_search(
        local, search_message("idtype-value", {"type": "UIN", "value": "NID-004"})
    )
    assert records(outside) == []


def test_every_request_is_in_the_audit_trail(
    partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    sync_search(partner, search_message("idtype-value", {"type": "UIN", "value": "NID-001"}))
    body = _valid(partner)
    body["header"]["version"] = "9"
    partner.post(f"{SR}/sync/search", body)
    with unit_of_work(engine) as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("dci.%")).order_by(AuditEntry.id)
        ).all()
        done = next(e for e in entries if e.action == "dci.social.search")
        assert done.actor == partner.sender_id
        assert done.details["sender"] == partner.sender_id
        assert done.details["receiver"] == "solidarity"
        assert done.details["record_count"] == 1
        assert done.details["queries"] == [{"type": "UIN", "value": "NID-001"}]
        assert done.details["person_ids"] == [registry.amina]
        refusal = next(e for e in entries if e.action == "dci.refused")
        assert refusal.details["code"] == "err.version.not_supported"


# --- signatures ---------------------------------------------------------------------------


def _ed25519_partner(
    engine: Engine, partner: Partner, fmt: str = "spdci"
) -> ed25519.Ed25519PrivateKey:
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    with unit_of_work(engine) as session:
        set_partner(
            session,
            sender_id=partner.sender_id,
            client_id=partner.sender_id,
            actor="test",
            signature_required=True,
            signature_format=fmt,
            public_jwk=jwk,
        )
    return key


def test_signatures_are_required_when_switched_on(
    partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    key = _ed25519_partner(engine, partner)
    unsigned = _valid(partner)
    refused(partner.post(f"{SR}/sync/search", unsigned), 401, "err.signature.missing")
    bad = _valid(partner)
    bad["signature"] = "invalid-signature"
    refused(partner.post(f"{SR}/sync/search", bad), 401, "err.signature.invalid")
    signed = _valid(partner)
    signed["signature"] = signatures.sign_spdci(signed, key, sender_id=partner.sender_id, kid="k1")
    assert partner.post(f"{SR}/sync/search", signed).status_code == 200
    tampered = _valid(partner)
    tampered["signature"] = signatures.sign_spdci(
        tampered, key, sender_id=partner.sender_id, kid="k1"
    )
    tampered["message"]["search_request"][0]["search_criteria"]["query"]["value"] = "NID-002"
    refused(partner.post(f"{SR}/sync/search", tampered), 401, "err.signature.invalid")
    expired = _valid(partner)
    expired["signature"] = signatures.sign_spdci(
        expired, key, sender_id=partner.sender_id, kid="k1", now=time.time() - 3600
    )
    refused(partner.post(f"{SR}/sync/search", expired), 401, "err.signature.invalid")


def test_jws_signatures_and_switching_off(
    partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    key = _ed25519_partner(engine, partner, fmt="jws")
    signed = _valid(partner)
    signed["signature"] = signatures.sign_jws(signed, key, kid="k1")
    assert partner.post(f"{SR}/sync/search", signed).status_code == 200
    with unit_of_work(engine) as session:
        set_partner(session, sender_id=partner.sender_id, client_id=None, actor="test",
                    signature_required=False)  # fmt: skip
    assert partner.post(f"{SR}/sync/search", _valid(partner)).status_code == 200


def test_signatures_default_to_required(
    partner: Partner, registry: TinyRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLIDARITY_DCI_REQUIRE_SIGNATURES", "true")
    refused(partner.post(f"{SR}/sync/search", _valid(partner)), 401, "err.signature.missing")


# --- transaction status ------------------------------------------------------------------------


def test_sync_transaction_status(partner: Partner, registry: TinyRegistry) -> None:
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    first = sync_search(partner, message)

    def status(attribute_type: str, value: Any) -> dict[str, Any]:
        request = {
            "transaction_id": "t-status",
            "txnstatus_request": {
                "reference_id": "r-status",
                "txn_type": "search",
                "attribute_type": attribute_type,
                "attribute_value": value,
            },
        }
        response = partner.post(f"{SR}/sync/txn/status", partner.envelope("txn-status", request))
        assert response.status_code == 200, response.text
        body = response.json()
        validate(body["header"], "UnionHeader")
        assert body["header"]["action"] == "txn-on-status"
        validate(body["message"], "TxnStatusResponse")
        return dict(body["message"]["txnstatus_response"]["txn_status"])

    known = status("transaction_id", message["transaction_id"])
    validate(known, "SearchResponse")
    assert known["search_response"] == first["message"]["search_response"]
    by_correlation = status("correlation_id", first["message"]["correlation_id"])
    assert by_correlation["transaction_id"] == message["transaction_id"]
    reference = message["search_request"][0]["reference_id"]
    assert status("reference_id_list", [reference])["transaction_id"] == message["transaction_id"]
    unknown = status("transaction_id", "never-sent")
    validate(unknown, "SearchResponse")
    assert unknown["search_response"][0]["status"] == "rjct"
    assert unknown["search_response"][0]["status_reason_code"] == "rjct.reference_id.invalid"


def test_json_bodies_round_trip(partner: Partner, registry: TinyRegistry) -> None:
    body = sync_search(partner, search_message("idtype-value", {"type": "NID", "value": "NID-002"}))
    assert json.loads(json.dumps(body)) == body
    assert member_ids(records(body), "UIN") == ["NID-002"]


def test_suite_style_records_keep_crvs_fields_scalar(
    partner: Partner, registry: TinyRegistry
) -> None:
    body = sync_search(partner, search_message("idtype-value", {"type": "UIN", "value": "NID-001"}))
    for record in records(body):
        for key in ("identifier", "address", "parent1_identifier", "parent2_identifier"):
            assert key not in record or isinstance(record[key], dict)


@pytest.fixture
def now_text() -> Iterator[str]:
    yield ts()


class _JwksServer:
    """A partner's key set on 127.0.0.1 that the test can change, counting fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, kid: str, key: ed25519.Ed25519PrivateKey) -> None:
        raw = key.public_key().public_bytes_raw()
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        self.keys.append({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig"})


def test_partner_keys_are_fetched_from_its_jwks_and_refreshed_on_rotation(
    partner: Partner, registry: TinyRegistry, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from solidarity.interop import partner_keys

    monkeypatch.setenv("SOLIDARITY_DCI_JWKS_REFRESH_SECONDS", "0")
    partner_keys.clear_cache()
    jwks = _JwksServer()
    first, second, stranger = (ed25519.Ed25519PrivateKey.generate() for _ in range(3))
    jwks.publish("k1", first)
    with unit_of_work(engine) as session:
        set_partner(session, sender_id=partner.sender_id, client_id=partner.sender_id, actor="test",
                    signature_required=True, jwks_url=jwks.url)  # fmt: skip

    def signed_with(key: ed25519.Ed25519PrivateKey, kid: str) -> dict[str, Any]:
        body = _valid(partner)
        body["signature"] = signatures.sign_spdci(body, key, sender_id=partner.sender_id, kid=kid)
        return body

    try:
        assert partner.post(f"{SR}/sync/search", signed_with(first, "k1")).status_code == 200
        assert partner.post(f"{SR}/sync/search", signed_with(first, "k1")).status_code == 200
        assert jwks.fetches == 1  # the key set is cached
        # The partner rotates: a new key id makes us fetch the set again once.
        jwks.publish("k2", second)
        assert partner.post(f"{SR}/sync/search", signed_with(second, "k2")).status_code == 200
        assert jwks.fetches == 2
        # A key the partner never published, or a published kid with a foreign key: refused.
        refused(
            partner.post(f"{SR}/sync/search", signed_with(stranger, "k9")),
            401,
            "err.signature.invalid",
        )
        refused(
            partner.post(f"{SR}/sync/search", signed_with(stranger, "k1")),
            401,
            "err.signature.invalid",
        )
    finally:
        jwks.httpd.shutdown()
        jwks.httpd.server_close()
    # The partner's key server is down and nothing is cached: refused with the reason.
    partner_keys.clear_cache()
    response = partner.post(f"{SR}/sync/search", signed_with(first, "k1"))
    refused(response, 401, "err.signature.invalid")
    assert "could not be fetched" in response.text
    partner_keys.clear_cache()


# --- encrypted messages -------------------------------------------------------------------------


def test_encrypted_messages_are_decrypted_with_our_published_key(
    partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    from solidarity.interop.encryption import encrypt

    keys = partner.client.get("/.well-known/jwks.json").json()["keys"]
    (ours,) = [k for k in keys if k.get("use") == "enc"]
    assert ours["alg"] == "RSA-OAEP-256" and "d" not in ours  # only the public half
    assert any(k.get("use") == "sig" for k in keys)

    def encrypted(value: str, jwk: dict[str, Any] = ours) -> dict[str, Any]:
        body = partner.envelope(
            "search", search_message("idtype-value", {"type": "UIN", "value": value})
        )
        body["header"]["is_msg_encrypted"] = True
        body["message"] = encrypt(body["message"], jwk)
        return body

    response = partner.post(f"{SR}/sync/search", encrypted("NID-001"))
    assert response.status_code == 200, response.text
    (record,) = response.json()["message"]["search_response"][0]["data"]["reg_records"]
    assert record["demographic_info"]["name"]["given_name"] == "Amina"

    tampered = encrypted("NID-001")
    tag = tampered["message"]["tag"]
    tampered["message"]["tag"] = ("A" if tag[0] != "A" else "B") + tag[1:]
    refused(partner.post(f"{SR}/sync/search", tampered), 400, "err.encryption.invalid")
    # Encrypted to somebody else's key, or with an algorithm we do not take.
    other = {**ours, "kid": "not-ours"}
    refused(
        partner.post(f"{SR}/sync/search", encrypted("NID-001", other)),
        400,
        "err.encryption.invalid",
    )
    weak = encrypted("NID-001")
    weak["message"]["header"]["alg"] = "RSA1_5"
    refused(partner.post(f"{SR}/sync/search", weak), 400, "err.encryption.invalid")


def test_a_signature_covers_the_encrypted_envelope_as_sent(
    partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    from solidarity.interop.encryption import encrypt

    key = _ed25519_partner(engine, partner)
    (ours,) = [
        k
        for k in partner.client.get("/.well-known/jwks.json").json()["keys"]
        if k.get("use") == "enc"
    ]
    body = partner.envelope(
        "search", search_message("idtype-value", {"type": "UIN", "value": "NID-002"})
    )
    body["header"]["is_msg_encrypted"] = True
    body["message"] = encrypt(body["message"], ours)
    body["signature"] = signatures.sign_spdci(body, key, sender_id=partner.sender_id, kid="k1")
    response = partner.post(f"{SR}/sync/search", body)
    assert response.status_code == 200, response.text
    (record,) = response.json()["message"]["search_response"][0]["data"]["reg_records"]
    assert record["demographic_info"]["name"]["given_name"] == "John"


def test_names_are_searched_through_the_blind_index(
    partner: Partner, registry: TinyRegistry
) -> None:
    # Names are encrypted at rest: "eq" means the name has these tokens, in any case.
    predicate = [
        {"expression1": {"attribute_name": "family_name", "operator": "eq", "attribute_value": "OKELLO"}},
        {"expression1": {"attribute_name": "given_name", "operator": "in", "attribute_value": ["amina", "Gräce"]}},
    ]  # fmt: skip
    body = sync_search(partner, search_message("predicate", predicate))
    assert member_ids(records(body)) == [str(registry.amina), str(registry.grace)]
    # Ranges over ciphertexts are refused for the item, with the reason.
    ranged = [{"expression1": {"attribute_name": "given_name", "operator": "gt", "attribute_value": "A"}}]  # fmt: skip
    item = sync_search(partner, search_message("predicate", ranged))["message"]["search_response"][
        0
    ]
    assert item["status"] == "rjct" and "encrypted" in item["status_reason_message"]
