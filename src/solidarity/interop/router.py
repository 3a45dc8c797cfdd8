"""DCI endpoints: the Social Registry (``/dci/social``), the IBR (``/dci/ibr``) and the
CRVS client's callback endpoints (``/dci/crvs``).

Every route answers in the DCI shape, errors included: :class:`DciRoute` turns any
refusal (no or expired token, missing permission, invalid JSON, a schema-invalid
envelope, a bad signature, a replayed message id...) into an ``ack_status: ERR``
body with the standard's ``error.code`` and the matching HTTP status, rolls the
unit of work back, logs it and records it in the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from solidarity.db.engine import unit_of_work
from solidarity.errors import PermissionDenied, SolidarityError
from solidarity.governance import audit
from solidarity.governance.errors import AuthenticationRequired, RateLimited
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.interop import service
from solidarity.interop.encryption import MessageKey
from solidarity.interop.envelope import (
    EnrolledRequest,
    EnrollmentUpdatesRequest,
    SearchRequest,
    SubscribeRequest,
    TxnStatusRequest,
    UnsubscribeRequest,
    ack,
    error_body,
    new_id,
    parse_envelope,
    parse_json,
    parse_message,
)
from solidarity.interop.errors import (
    BadRequest,
    DciError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from solidarity.web.deps import client_address, get_keys, get_session, require

logger = logging.getLogger(__name__)


def as_dci_error(exc: Exception) -> DciError:
    """The DCI error standing for any refusal."""
    if isinstance(exc, DciError):
        return exc
    if isinstance(exc, AuthenticationRequired):
        return Unauthorized(exc.detail)
    if isinstance(exc, RateLimited):
        return TooManyRequests(exc.detail)
    if isinstance(exc, PermissionDenied):
        return Forbidden(exc.detail)
    if isinstance(exc, RequestValidationError):
        return BadRequest("the request is not valid")
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return NotFound(str(exc.detail))
        return BadRequest(str(exc.detail), status_code=exc.status_code)
    if isinstance(exc, SolidarityError):
        codes = {
            401: "err.request.unauthorized",
            403: "err.request.forbidden",
            404: "err.request.not_found",
            429: "err.request.too_many_requests",
        }
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return DciError(exc.detail, code=codes.get(status, "err.request.bad"), status_code=status)
    return DciError(
        "the request could not be processed; it was logged",
        code="err.service.unavailable",
        status_code=500,
    )


def _record_refusal(request: Request, error: DciError, exc: Exception) -> None:
    principal = getattr(request.state, "principal", None)
    raw = getattr(request.state, "dci_raw", None)
    header = raw.get("header") if isinstance(raw, dict) else None
    header = header if isinstance(header, dict) else {}
    details = {
        "path": request.url.path,
        "code": error.code,
        "status": error.status_code,
        "reason": error.detail[:300],
        "sender": str(header.get("sender_id"))[:256] if header.get("sender_id") else None,
        "message_id": str(header.get("message_id"))[:256] if header.get("message_id") else None,
        "action": str(header.get("action"))[:64] if header.get("action") else None,
    }
    logger.info("DCI request refused: %s", details)
    try:
        with unit_of_work(request.app.state.engine) as session:
            audit.record(
                session,
                actor=principal.username if isinstance(principal, Principal) else "anonymous",
                action="dci.refused",
                object_type="dci_request",
                object_id=str(details["message_id"]) if details["message_id"] else None,
                details=details,
                client_address=client_address(request),
            )
    except Exception:  # the refusal itself must still be answered
        logger.exception("could not record a refused DCI request")


class DciRoute(APIRoute):
    """A route whose every failure is answered with a DCI error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:
                error = as_dci_error(exc)
                if error.status_code >= 500:
                    logger.exception("DCI request failed", exc_info=exc)
                if isinstance(exc, RateLimited):
                    # A flood must not turn into a flood of audit writes: log it only.
                    logger.warning("DCI request throttled: %s", request.url.path)
                else:
                    await run_in_threadpool(_record_refusal, request, error, exc)
                headers = {}
                if error.status_code == 401:
                    headers["WWW-Authenticate"] = 'Bearer realm="solidarity", error="invalid_token"'
                if isinstance(exc, RateLimited):
                    headers["Retry-After"] = str(exc.extra["retry_after"])
                return JSONResponse(
                    error_body(error), status_code=error.status_code, headers=headers
                )

        return handler


async def raw_envelope(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (invalid JSON is refused with ``err.request.bad``)."""
    data = parse_json(await request.body())
    request.state.dci_raw = data
    return data


def app_message_key(app: Any) -> MessageKey:
    """The application's key for encrypted messages (in its key directory)."""
    key: MessageKey | None = getattr(app.state, "dci_message_key", None)
    if key is None:
        key = MessageKey(app.state.keys.directory)
        app.state.dci_message_key = key
    return key


def message_key(request: Request) -> MessageKey:
    """Our key for encrypted messages (created on first use)."""
    return app_message_key(request.app)


router = APIRouter(route_class=DciRoute, tags=["dci"])

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
RawDep = Annotated[dict[str, Any], Depends(raw_envelope)]
MessageKeyDep = Annotated[MessageKey, Depends(message_key)]
Decrypt = Callable[[Any], dict[str, Any]]
SocialReader = Annotated[Principal, Depends(require("registry.read"))]
IbrReader = Annotated[Principal, Depends(require("programs.read"))]
IbrReporter = Annotated[Principal, Depends(require("programs.report"))]
CrvsWriter = Annotated[Principal, Depends(require("registry.write"))]

SOCIAL = "/dci/social/registry"
IBR = "/dci/ibr/registry"
DCI_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "ack_status ERR, err.request.bad / err.version.not_supported ..."},
    401: {"description": "err.request.unauthorized, err.signature.missing/invalid"},
    403: {"description": "err.request.forbidden, err.sender_id.invalid"},
    409: {"description": "a replayed message_id (rjct.message_id.duplicate)"},
}


# --- shared handlers -------------------------------------------------------------------------


def _sync_search(
    server: str,
    raw: dict[str, Any],
    session: Session,
    principal: Principal,
    keys: KeyStore,
    decrypt: Decrypt,
) -> JSONResponse:
    envelope = parse_envelope(raw, "search", decrypt)
    request = parse_message(envelope, SearchRequest)
    caller = service.admit(session, principal, raw, envelope, server=server, needs_callback=False)
    service.authorise_search(session, caller, request)
    correlation_id = new_id("cor")
    response, details = service.search(session, caller, request, correlation_id)
    body = service.response_envelope(
        caller, "on-search", response, keys, items=response["search_response"]
    )
    service.record_message(
        session,
        caller,
        transaction_id=request.transaction_id,
        correlation_id=correlation_id,
        status=body["header"]["status"],
        response=response,
        record_count=details["record_count"],
        details=details,
    )
    return JSONResponse(body)


def _async(
    server: str,
    action: str,
    raw: dict[str, Any],
    session: Session,
    principal: Principal,
    decrypt: Decrypt,
) -> JSONResponse:
    envelope = parse_envelope(raw, action, decrypt)
    model: type[Any] = {
        "search": SearchRequest,
        "subscribe": SubscribeRequest,
        "unsubscribe": UnsubscribeRequest,
        "txn-status": TxnStatusRequest,
    }[action]
    request: Any = parse_message(envelope, model)
    caller = service.admit(session, principal, raw, envelope, server=server, needs_callback=True)
    correlation_id = new_id("cor")
    if action == "search":
        service.authorise_search(session, caller, request)
        response, details = service.search(session, caller, request, correlation_id)
    elif action == "subscribe":
        response, details = service.subscribe(session, caller, request, correlation_id)
    elif action == "unsubscribe":
        response, details = service.unsubscribe(session, caller, request, correlation_id)
    else:
        response, details = service.txn_status(session, caller, request, correlation_id)
    callback_action = service.CALLBACK_ACTIONS[action]
    body = service.callback_envelope(caller, callback_action, response)
    assert envelope.header.sender_uri is not None
    service.queue_callback(
        session,
        kind=callback_action,
        url=envelope.header.sender_uri,
        body=body,
        correlation_id=correlation_id,
        client_id=principal.username,
    )
    service.record_message(
        session,
        caller,
        transaction_id=request.transaction_id,
        correlation_id=correlation_id,
        status=body["header"]["status"],
        response=response,
        record_count=details.get("record_count", 0),
        details={**details, "callback": envelope.header.sender_uri},
    )
    return JSONResponse(ack(correlation_id), status_code=202)


def _sync_txn_status(
    server: str,
    raw: dict[str, Any],
    session: Session,
    principal: Principal,
    keys: KeyStore,
    decrypt: Decrypt,
) -> JSONResponse:
    envelope = parse_envelope(raw, "txn-status", decrypt)
    request = parse_message(envelope, TxnStatusRequest)
    caller = service.admit(session, principal, raw, envelope, server=server, needs_callback=False)
    correlation_id = new_id("cor")
    response, details = service.txn_status(session, caller, request, correlation_id)
    body = service.response_envelope(caller, "txn-on-status", response, keys)
    service.record_message(
        session,
        caller,
        transaction_id=request.transaction_id,
        correlation_id=correlation_id,
        status="succ",
        response=response,
        record_count=0,
        details=details,
    )
    return JSONResponse(body)


# --- Social Registry ------------------------------------------------------------------------


@router.post(f"{SOCIAL}/sync/search", responses=DCI_RESPONSES)
def social_sync_search(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: SocialReader, keys: KeysDep
) -> JSONResponse:
    """DCI synchronous search of the social registry (Group or Member records)."""
    return _sync_search("social", raw, session, principal, keys, mkey.decrypt)


@router.post(f"{SOCIAL}/search", status_code=202, responses=DCI_RESPONSES)
def social_search(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: SocialReader
) -> JSONResponse:
    """DCI asynchronous search: ACK now, result POSTed to ``header.sender_uri``."""
    return _async("social", "search", raw, session, principal, mkey.decrypt)


@router.post(f"{SOCIAL}/subscribe", status_code=202, responses=DCI_RESPONSES)
def social_subscribe(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: SocialReader
) -> JSONResponse:
    """Subscribe to registry events (new household, member added/removed, death, move)."""
    return _async("social", "subscribe", raw, session, principal, mkey.decrypt)


@router.post(f"{SOCIAL}/unsubscribe", status_code=202, responses=DCI_RESPONSES)
def social_unsubscribe(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: SocialReader
) -> JSONResponse:
    """End subscriptions."""
    return _async("social", "unsubscribe", raw, session, principal, mkey.decrypt)


@router.post(f"{SOCIAL}/txn/status", status_code=202, responses=DCI_RESPONSES)
def social_txn_status(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: SocialReader
) -> JSONResponse:
    """Asynchronous transaction status (answer POSTed to ``txn/on-status``)."""
    return _async("social", "txn-status", raw, session, principal, mkey.decrypt)


@router.post(f"{SOCIAL}/sync/txn/status", responses=DCI_RESPONSES)
def social_sync_txn_status(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: SocialReader, keys: KeysDep
) -> JSONResponse:
    """Synchronous transaction status."""
    return _sync_txn_status("social", raw, session, principal, keys, mkey.decrypt)


# --- Integrated Beneficiary Registry --------------------------------------------------------


@router.post(f"{IBR}/sync/search", responses=DCI_RESPONSES)
def ibr_sync_search(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReader, keys: KeysDep
) -> JSONResponse:
    """IBR synchronous search: Beneficiary records (programme, enrolment, benefits)."""
    return _sync_search("ibr", raw, session, principal, keys, mkey.decrypt)


@router.post(f"{IBR}/search", status_code=202, responses=DCI_RESPONSES)
def ibr_search(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReader
) -> JSONResponse:
    """IBR asynchronous search."""
    return _async("ibr", "search", raw, session, principal, mkey.decrypt)


@router.post(f"{IBR}/subscribe", status_code=202, responses=DCI_RESPONSES)
def ibr_subscribe(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReader
) -> JSONResponse:
    """IBR subscription to registry events."""
    return _async("ibr", "subscribe", raw, session, principal, mkey.decrypt)


@router.post(f"{IBR}/unsubscribe", status_code=202, responses=DCI_RESPONSES)
def ibr_unsubscribe(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReader
) -> JSONResponse:
    """End IBR subscriptions."""
    return _async("ibr", "unsubscribe", raw, session, principal, mkey.decrypt)


@router.post(f"{IBR}/txn/status", status_code=202, responses=DCI_RESPONSES)
def ibr_txn_status(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReader
) -> JSONResponse:
    """IBR asynchronous transaction status."""
    return _async("ibr", "txn-status", raw, session, principal, mkey.decrypt)


@router.post(f"{IBR}/sync/txn/status", responses=DCI_RESPONSES)
def ibr_sync_txn_status(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReader, keys: KeysDep
) -> JSONResponse:
    """IBR synchronous transaction status."""
    return _sync_txn_status("ibr", raw, session, principal, keys, mkey.decrypt)


def _ibr_answer(
    session: Session,
    caller: service.Caller,
    action: str,
    request: Any,
    correlation_id: str,
    response: dict[str, Any],
    details: dict[str, Any],
    keys: KeyStore,
) -> JSONResponse:
    """Sign an IBR ``enrolled_response`` answer and log the exchange."""
    body = service.response_envelope(
        caller, action, response, keys, items=response["enrolled_response"]
    )
    service.record_message(
        session,
        caller,
        transaction_id=request.transaction_id,
        correlation_id=correlation_id,
        status=body["header"]["status"],
        response=response,
        record_count=details["record_count"],
        details=details,
    )
    return JSONResponse(body)


@router.post(f"{IBR}/sync/enrolled", responses=DCI_RESPONSES)
def ibr_sync_enrolled(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReader, keys: KeysDep
) -> JSONResponse:
    """Is this person (or household) enrolled in an active programme? ``yes``/``no``."""
    envelope = parse_envelope(raw, "search", mkey.decrypt)
    request = parse_message(envelope, EnrolledRequest)
    caller = service.admit(session, principal, raw, envelope, server="ibr", needs_callback=False)
    correlation_id = new_id("cor")
    response, details = service.enrolled(session, caller, request, correlation_id)
    return _ibr_answer(
        session, caller, "on-search", request, correlation_id, response, details, keys
    )


@router.post(f"{IBR}/sync/enrollment/updates", responses=DCI_RESPONSES)
def ibr_sync_enrollment_updates(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: IbrReporter, keys: KeysDep
) -> JSONResponse:
    """A partner programme reports whom it enrolled (or whose status changed)."""
    envelope = parse_envelope(raw, ("notify", "enrollment-updates"), mkey.decrypt)
    request = parse_message(envelope, EnrollmentUpdatesRequest)
    caller = service.admit(session, principal, raw, envelope, server="ibr", needs_callback=False)
    correlation_id = new_id("cor")
    response, details = service.enrollment_updates(session, caller, request, correlation_id)
    action = envelope.header.action
    return _ibr_answer(session, caller, action, request, correlation_id, response, details, keys)


# --- CRVS client: callbacks of the civil registry -----------------------------------------------

CRVS = "/dci/crvs/registry"


def _crvs_callback(
    action: str, raw: dict[str, Any], session: Session, principal: Principal, decrypt: Decrypt
) -> JSONResponse:
    envelope = parse_envelope(raw, action, decrypt)
    correlation_id, _counts = service.receive_crvs(session, principal, raw, envelope)
    # The subscriber profile expects exactly 200 with the ACK body.
    return JSONResponse(ack(correlation_id), status_code=200)


@router.post(f"{CRVS}/notify", responses=DCI_RESPONSES)
def crvs_notify(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: CrvsWriter
) -> JSONResponse:
    """Births and deaths pushed by a civil registry: each becomes a change request."""
    return _crvs_callback("notify", raw, session, principal, mkey.decrypt)


@router.post(f"{CRVS}/on-search", responses=DCI_RESPONSES)
def crvs_on_search(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: CrvsWriter
) -> JSONResponse:
    """Results of an asynchronous search of the civil registry."""
    return _crvs_callback("on-search", raw, session, principal, mkey.decrypt)


@router.post(f"{CRVS}/on-subscribe", responses=DCI_RESPONSES)
def crvs_on_subscribe(
    raw: RawDep, mkey: MessageKeyDep, session: SessionDep, principal: CrvsWriter
) -> JSONResponse:
    """The civil registry confirms a subscription."""
    return _crvs_callback("on-subscribe", raw, session, principal, mkey.decrypt)
