"""The DCI envelope ``{signature, header, message}``: parsing, validation and replies.

Requests are validated here before anything is processed (digest section 5):
invalid JSON, a missing or mistyped header field, a timestamp without a zone, a
wrong version or action, a closed enum violated (``query_type``, ``operator``),
an over-long id or a page smaller than 1 all raise :class:`BadRequest` (or
another :class:`DciError`), answered with ``ack_status: ERR`` and a 4xx status.
The same models serve the SR, the IBR, the CRVS client and the mock CRVS server.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from solidarity.interop.errors import BadRequest, DciError, EncryptionInvalid, VersionNotSupported

VERSION = "1.0.0"
M = TypeVar("M", bound="BaseModel")
SUPPORTED_VERSIONS = frozenset({"1.0.0"})


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 date-time that carries a zone (``Z`` or ``+hh:mm``).

    Raises:
        ValueError: Not a date-time, or without a zone.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and "T" in value.upper():
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time") from None
    else:
        raise ValueError("must be an ISO 8601 date-time with a zone")
    if moment.tzinfo is None:
        raise ValueError("must carry a zone offset (Z or +hh:mm)")
    return moment


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Id99 = Annotated[str, Field(min_length=1, max_length=99)]
Locale = Annotated[str, Field(pattern=r"^[a-z]{3}$")]


def now_ts() -> str:
    """The current time as DCI writes it (UTC, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    """A fresh id (message, correlation, subscription) with a readable prefix."""
    return f"{prefix}-{secrets.token_hex(10)}"


class _Model(BaseModel):
    # Partners send extra members (JSON-LD decorations, typos of old specs): keep them.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Header(_Model):
    """``MsgHeader_V1.0.0``: the request header."""

    version: str = VERSION
    message_id: Annotated[str, Field(min_length=1, max_length=256)]
    message_ts: Timestamp
    action: str
    sender_id: Annotated[str, Field(min_length=1, max_length=256)]
    sender_uri: str | None = None
    receiver_id: str | None = None
    total_count: StrictInt = Field(ge=0)
    is_msg_encrypted: StrictBool = False
    meta: dict[str, Any] | None = None


class Envelope(_Model):
    """A request envelope; ``message`` is validated per endpoint."""

    signature: str | None = None
    header: Header
    message: dict[str, Any] | None = None


class Pagination(_Model):
    """``{page_size, page_number}``; pages count from 1."""

    page_size: StrictInt = Field(ge=1)
    page_number: StrictInt = Field(default=1, ge=1)


class SortSpec(_Model):
    """One sort key."""

    attribute_name: Annotated[str, Field(min_length=1)]
    sort_order: Literal["asc", "desc"] = "asc"


QueryType = Literal["idtype-value", "expression", "predicate"]


class SearchCriteria(_Model):
    """What to search: the query, its type, the entity returned, sort and page."""

    version: str | None = None
    reg_type: str | None = None
    reg_record_type: str | None = None
    query_type: QueryType
    query: Any
    response_entity: Literal["Group", "Member"] | None = None
    sort: list[SortSpec] | None = None
    pagination: Pagination | None = None
    consent: dict[str, Any] | None = None
    authorize: dict[str, Any] | None = None

    @field_validator("query")
    @classmethod
    def _query_present(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("query is required")
        return value


class SearchItem(_Model):
    """One item of a search batch."""

    reference_id: Id99
    timestamp: Timestamp
    search_criteria: SearchCriteria
    locale: Locale | None = None
    # The compliance suite puts pagination on the item; the spec inside the criteria.
    pagination: Pagination | None = None


class SearchRequest(_Model):
    """``SearchRequest``."""

    transaction_id: Id99
    search_request: Annotated[list[SearchItem], Field(min_length=1, max_length=100)]


class Frequency(_Model):
    """When notifications may be sent (informative; Solidarity notifies as changes happen)."""

    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    frequency: str | None = None


class SubscribeCriteria(_Model):
    """What to be notified about."""

    version: str | None = None
    reg_type: str | None = None
    reg_event_type: Annotated[str, Field(min_length=1, max_length=64)]
    frequency: Frequency | None = None
    filter_type: QueryType | Literal["graphql"] | None = None
    filter: Any = None
    notify_record_type: Annotated[str, Field(min_length=1, max_length=64)]
    authorize: dict[str, Any] | None = None


class SubscribeItem(_Model):
    """One item of a subscribe batch."""

    reference_id: Id99
    timestamp: Timestamp
    subscribe_criteria: SubscribeCriteria
    locale: Locale | None = None


class SubscribeRequest(_Model):
    """``SubscribeRequest``."""

    transaction_id: Id99
    subscribe_request: Annotated[list[SubscribeItem], Field(min_length=1, max_length=100)]


class UnsubscribeRequest(_Model):
    """``UnSubscribeRequest``."""

    transaction_id: Id99
    timestamp: Timestamp
    subscription_codes: Annotated[list[Id99], Field(min_length=1, max_length=1000)]


class TxnStatusQuery(_Model):
    """The ``txnstatus_request`` object."""

    reference_id: Id99
    txn_type: Literal["search", "subscribe", "unsubscribe", "receipt"]
    attribute_type: Literal[
        "transaction_id", "reference_id_list", "correlation_id", "subscription_code_list"
    ]
    attribute_value: str | list[str]
    locale: Locale | None = None


class TxnStatusRequest(_Model):
    """``TxnStatusRequest``."""

    transaction_id: Id99
    txnstatus_request: TxnStatusQuery


class EnrolledCriteria(_Model):
    """IBR ``enrolled_criteria``: whom to check."""

    query_type: QueryType = "idtype-value"
    response_entity: Literal["Group", "Member"] | None = None
    query: Any
    reference_id: Id99 | None = None


class EnrolledRequest(_Model):
    """IBR ``EnrolledRequest``."""

    transaction_id: Id99
    enrolled_criteria: EnrolledCriteria


class EnrolledUpdates(_Model):
    """``enrolled_updates`` of an enrolment report: the beneficiaries reported."""

    beneficiaries: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]


class ReceiptInformation(_Model):
    """The older spelling of an enrolment report (``receipt_information``)."""

    receipt_type: str | None = None
    beneficiaries: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]


class EnrollmentUpdatesRequest(_Model):
    """IBR ``EnrollmentUpdatesRequest``: a partner programme reports its enrolments."""

    transaction_id: Id99
    enrolled_updates: EnrolledUpdates | None = None
    receipt_information: ReceiptInformation | None = None

    @model_validator(mode="after")
    def _one_report(self) -> EnrollmentUpdatesRequest:
        if self.enrolled_updates is None and self.receipt_information is None:
            raise ValueError("enrolled_updates (or receipt_information) is required")
        return self

    @property
    def beneficiaries(self) -> list[dict[str, Any]]:
        """The reported beneficiaries, whichever spelling carried them."""
        report = self.enrolled_updates or self.receipt_information
        return list(report.beneficiaries) if report is not None else []


#: The message model of each request ``header.action``.
MESSAGES: dict[str, type[_Model]] = {
    "search": SearchRequest,
    "subscribe": SubscribeRequest,
    "unsubscribe": UnsubscribeRequest,
    "txn-status": TxnStatusRequest,
}


def _errors_text(exc: ValidationError, prefix: str) -> str:
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in (prefix, *error["loc"]))
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body.

    Raises:
        BadRequest: Not JSON, or not an object.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object {signature, header, message}")
    return data


def parse_envelope(
    data: dict[str, Any],
    action: str | tuple[str, ...],
    decrypt: Callable[[Any], dict[str, Any]] | None = None,
) -> Envelope:
    """Validate an envelope and its header for an endpoint expecting ``action``.

    An encrypted message (``is_msg_encrypted``) is replaced by its plaintext
    through ``decrypt``; ``data`` itself (what was signed) is left as sent.

    Raises:
        BadRequest: The envelope or header is malformed, or the action is not this endpoint's.
        VersionNotSupported: ``header.version`` is not 1.0.0.
        EncryptionInvalid: The message is encrypted and cannot be decrypted here.
    """
    header = data.get("header")
    if isinstance(header, dict) and "version" in header:
        version = header["version"]
        if isinstance(version, str) and version not in SUPPORTED_VERSIONS:
            raise VersionNotSupported(
                f"version {version!r} is not supported: use {', '.join(sorted(SUPPORTED_VERSIONS))}"
            )
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(_errors_text(exc, "envelope")) from None
    if isinstance(envelope.header.version, str) and envelope.header.version not in (
        SUPPORTED_VERSIONS
    ):
        raise VersionNotSupported(f"version {envelope.header.version!r} is not supported")
    expected = (action,) if isinstance(action, str) else action
    if envelope.header.action not in expected:
        raise BadRequest(
            f"header.action must be {' or '.join(expected)!r} on this endpoint, "
            f"not {envelope.header.action!r}"
        )
    if envelope.header.is_msg_encrypted:
        if decrypt is None:
            raise EncryptionInvalid("encrypted messages are not accepted on this endpoint")
        envelope.message = decrypt(envelope.message)
    if envelope.message is None:
        raise BadRequest("message is required")
    return envelope


def parse_message(envelope: Envelope, model: type[M]) -> M:
    """The envelope's message validated as ``model``.

    Raises:
        BadRequest: The message does not follow the schema.
    """
    try:
        return model.model_validate(envelope.message)
    except ValidationError as exc:
        raise BadRequest(_errors_text(exc, "message")) from None


def ack(correlation_id: str, status: str = "ACK") -> dict[str, Any]:
    """The acknowledgement of an async request or a callback."""
    return {
        "message": {"ack_status": status, "timestamp": now_ts(), "correlation_id": correlation_id}
    }


def error_body(error: DciError, correlation_id: str | None = None) -> dict[str, Any]:
    """An ``ack_status: ERR`` body naming the DCI error code and what was wrong."""
    return {
        "message": {
            "ack_status": "ERR",
            "timestamp": now_ts(),
            "correlation_id": correlation_id or new_id("err"),
            "error": {"code": error.code, "message": error.detail[:999]},
        },
        "errors": [{"code": error.code, "message": error.detail[:999]}],
    }


def reply_header(
    action: str,
    *,
    sender_id: str,
    receiver_id: str | None,
    status: str = "succ",
    total_count: int = 1,
    completed_count: int | None = None,
    reason_code: str | None = None,
    reason_message: str | None = None,
) -> dict[str, Any]:
    """A header valid as both callback and request header (the digest's union rule)."""
    header: dict[str, Any] = {
        "version": VERSION,
        "message_id": new_id("msg"),
        "message_ts": now_ts(),
        "action": action,
        "status": status,
        "total_count": total_count,
        "completed_count": total_count if completed_count is None else completed_count,
        "sender_id": sender_id,
        "receiver_id": receiver_id or "",
        "is_msg_encrypted": False,
    }
    if reason_code:
        header["status_reason_code"] = reason_code
    if reason_message:
        header["status_reason_message"] = reason_message[:999]
    return header


def request_header(
    action: str,
    *,
    sender_id: str,
    receiver_id: str | None = None,
    sender_uri: str | None = None,
    total_count: int = 1,
) -> dict[str, Any]:
    """A request header (Solidarity as a client: the CRVS client, tests)."""
    header: dict[str, Any] = {
        "version": VERSION,
        "message_id": new_id("msg"),
        "message_ts": now_ts(),
        "action": action,
        "sender_id": sender_id,
        "total_count": total_count,
        "is_msg_encrypted": False,
    }
    if receiver_id:
        header["receiver_id"] = receiver_id
    if sender_uri:
        header["sender_uri"] = sender_uri
    return header


__all__ = [
    "MESSAGES",
    "DciError",
    "Envelope",
    "Header",
    "SearchRequest",
    "ack",
    "error_body",
    "parse_envelope",
    "parse_json",
    "parse_message",
    "reply_header",
]
