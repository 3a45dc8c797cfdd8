"""TEST DOUBLE: a tiny civil registry speaking DCI, for tests and demos only.

``solidarity interop mock-crvs`` serves it. It is not a CRVS: records live in
memory (seeded from a JSON file or the built-in sample), any client id and
secret get a token, nothing is signed. It is built from the same envelope code
as the real servers, so its requests and answers have the standard's shape:

* ``POST /oauth2/client/token``, ``GET /.well-known/jwks.json``
* ``POST /registry/sync/search`` (predicate on ``birthdate``/``deathdate``,
  idtype-value on ``BRN``/``DRN``/``UIN``; ``reg_event_type`` picks births or deaths)
* ``POST /registry/subscribe`` (then every new event is POSTed to the
  subscriber's ``/notify``, beside its ``sender_uri``)
* ``POST /mock/events`` (test-double control: register a birth or death now)
"""

from __future__ import annotations

import logging
import secrets
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from solidarity.interop.envelope import (
    SearchRequest,
    SubscribeRequest,
    ack,
    error_body,
    new_id,
    now_ts,
    parse_envelope,
    parse_json,
    parse_message,
    reply_header,
    request_header,
)
from solidarity.interop.errors import DciError, Unauthorized

logger = logging.getLogger(__name__)

SAMPLE: list[dict[str, Any]] = [
    {
        "reg_event_type": "live_birth",
        "identifier": [{"identifier_type": "BRN", "identifier_value": "BRN-2025-0001"}],
        "name": {"given_name": "Neema", "surname": "Okello"},
        "sex": "female",
        "birth_date": "2025-03-01",
        "parent1_identifier": {"identifier_type": "UIN", "identifier_value": "NID-001"},
    },
    {
        "reg_event_type": "death",
        "identifier": [
            {"identifier_type": "DRN", "identifier_value": "DRN-2025-0001"},
            {"identifier_type": "UIN", "identifier_value": "NID-003"},
        ],
        "name": {"given_name": "Peter", "surname": "Mwangi"},
        "sex": "male",
        "birth_date": "1950-01-20",
        "death_date": "2025-03-10",
    },
]


def _event_of(record: dict[str, Any]) -> str:
    return "death" if record.get("death_date") else "birth"


def _matches(record: dict[str, Any], criteria: dict[str, Any]) -> bool:
    wanted = str(criteria.get("reg_event_type") or "").lower()
    if wanted and ("death" in wanted) != (_event_of(record) == "death"):
        return False
    query = criteria.get("query")
    if criteria.get("query_type") == "idtype-value" and isinstance(query, dict):
        ids = {i["identifier_type"]: i["identifier_value"] for i in record.get("identifier", [])}
        return ids.get(str(query.get("type"))) == str(query.get("value"))
    for item in query if isinstance(query, list) else []:
        expression = item.get("expression1") or {}
        column = {"birthdate": "birth_date", "deathdate": "death_date"}.get(
            str(expression.get("attribute_name")).lower()
        )
        if column is None:
            return False
        value, other = record.get(column), str(expression.get("attribute_value"))
        if value is None:
            return False
        ops = {
            "ge": value >= other,
            "gt": value > other,
            "le": value <= other,
            "lt": value < other,
            "eq": value == other,
        }
        if not ops.get(str(expression.get("operator")), False):
            return False
    return True


def create_mock_crvs(
    records: list[dict[str, Any]] | None = None,
    *,
    notifier: httpx.Client | None = None,
    notify_token: str | None = None,
    sender_id: str = "mock-crvs",
) -> FastAPI:
    """The test-double civil registry.

    Args:
        records: The registered persons (default: :data:`SAMPLE`).
        notifier: The HTTP client POSTing notifications (tests pass a TestClient).
        notify_token: A bearer token of ours at the subscriber (its machine client).
        sender_id: The mock's DCI id.
    """
    app = FastAPI(title="Mock CRVS (TEST DOUBLE)", description=__doc__)
    app.state.records = list(SAMPLE if records is None else records)
    app.state.subscribers = []
    app.state.tokens = set()
    http = notifier or httpx.Client(timeout=10)

    def _auth(request: Request) -> None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token not in app.state.tokens:
            raise Unauthorized("send a bearer token from /oauth2/client/token")

    @app.exception_handler(DciError)
    async def _dci_error(_request: Request, exc: DciError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=exc.status_code)

    @app.post("/oauth2/client/token")
    async def token() -> dict[str, Any]:
        issued = secrets.token_urlsafe(16)
        app.state.tokens.add(issued)
        return {"access_token": issued, "token_type": "bearer", "expires_in": "3600"}

    @app.get("/.well-known/jwks.json")
    def jwks() -> dict[str, Any]:
        return {"keys": []}

    @app.post("/registry/sync/search")
    async def sync_search(request: Request) -> JSONResponse:
        _auth(request)
        raw = parse_json(await request.body())
        envelope = parse_envelope(raw, "search")
        message = parse_message(envelope, SearchRequest)
        answers = []
        for item in message.search_request:
            criteria = item.search_criteria.model_dump()
            page = item.pagination or item.search_criteria.pagination
            size, number = (page.page_size, page.page_number) if page else (100, 1)
            found = [r for r in app.state.records if _matches(r, criteria)]
            answers.append(
                {
                    "reference_id": item.reference_id,
                    "timestamp": now_ts(),
                    "status": "succ",
                    "data": {
                        "version": "1.0.0",
                        "reg_type": "ns:org:RegistryType:Civil",
                        "reg_record_type": "CRVS_Person",
                        "reg_records": found[(number - 1) * size : number * size],
                    },
                    "pagination": {
                        "page_size": size,
                        "page_number": number,
                        "total_count": len(found),
                    },
                }
            )
        header = reply_header(
            "on-search",
            sender_id=sender_id,
            receiver_id=envelope.header.sender_id,
            total_count=len(answers),
        )
        body = {
            "header": header,
            "message": {
                "transaction_id": message.transaction_id,
                "correlation_id": new_id("cor"),
                "search_response": answers,
            },
        }
        return JSONResponse(body)

    @app.post("/registry/subscribe", status_code=202)
    async def subscribe(request: Request) -> JSONResponse:
        _auth(request)
        raw = parse_json(await request.body())
        envelope = parse_envelope(raw, "subscribe")
        message = parse_message(envelope, SubscribeRequest)
        uri = envelope.header.sender_uri or ""
        base = uri.removesuffix("/on-subscribe")
        for item in message.subscribe_request:
            event = item.subscribe_criteria.reg_event_type.lower()
            app.state.subscribers.append(
                {"url": f"{base}/notify", "event": event, "receiver": envelope.header.sender_id}
            )
        return JSONResponse(ack(new_id("cor")), status_code=202)

    @app.post("/mock/events", status_code=201)
    def add_event(record: dict[str, Any]) -> dict[str, Any]:
        """TEST DOUBLE control: register a birth or death and notify subscribers."""
        app.state.records.append(record)
        delivered = 0
        kind = _event_of(record)
        for subscriber in app.state.subscribers:
            if ("death" in subscriber["event"]) != (kind == "death"):
                continue
            header = reply_header("notify", sender_id=sender_id, receiver_id=subscriber["receiver"])
            body = {
                "header": header,
                "message": {
                    "transaction_id": new_id("txn"),
                    "notify_event": [
                        {
                            "reference_id": new_id("ref"),
                            "timestamp": now_ts(),
                            "data": {
                                "version": "1.0.0",
                                "reg_type": "ns:org:RegistryType:Civil",
                                "reg_event_type": "death" if kind == "death" else "live_birth",
                                "reg_record_type": "CRVS_Person",
                                "reg_records": record,
                            },
                        }
                    ],
                },
            }
            headers = {"Authorization": f"Bearer {notify_token}"} if notify_token else {}
            try:
                response = http.post(subscriber["url"], json=body, headers=headers)
                delivered += int(response.status_code < 300)
            except httpx.HTTPError as exc:
                logger.warning("mock CRVS could not notify %s: %s", subscriber["url"], exc)
        return {"registered": True, "notified": delivered, "at": date.today().isoformat()}

    return app


__all__ = ["SAMPLE", "create_mock_crvs", "request_header"]
