"""The DCI Social Registry and IBR servers: checks, search, subscriptions, status.

Flush, never commit: the router (or the worker) owns the unit of work. Every
request passes :func:`admit` first (who sends it, signature, replay, callback
address), then is answered synchronously or acknowledged with its result queued
for the delivery worker. Every request is recorded in ``dci_message`` (the
transaction log behind txn/status) and in the audit trail with sender,
receiver, query and record count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import ValidationFailed
from solidarity.governance import audit
from solidarity.governance.agreements import AgreementRefused, allowed_fields
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.interop import signatures
from solidarity.interop.envelope import (
    EnrolledRequest,
    EnrollmentUpdatesRequest,
    Envelope,
    SearchItem,
    SearchRequest,
    SubscribeRequest,
    TxnStatusRequest,
    UnsubscribeRequest,
    new_id,
    now_ts,
    reply_header,
)
from solidarity.interop.errors import (
    BadRequest,
    DuplicateMessage,
    Forbidden,
    SenderIdInvalid,
    SenderUriInvalid,
    SignatureInvalid,
    SignatureMissing,
)
from solidarity.interop.events import EVENT_NAMES, canonical_event
from solidarity.interop.mapping import DataMapping, data_mapping
from solidarity.interop.models import DciMessage, DciOutbox, DciPartner, DciSubscription
from solidarity.interop.query import Condition, Node, QueryRejected, parse_query
from solidarity.interop.repository import (
    MessageRepository,
    OutboxRepository,
    PartnerRepository,
    RegistryReader,
    SortKey,
    SubscriptionRepository,
)
from solidarity.interop.settings import InteropSettings, interop_settings

REG_TYPES = {"social": "ns:org:RegistryType:Social", "ibr": "ns:org:RegistryType:IBR"}
#: The callback action of each async request action.
CALLBACK_ACTIONS = {
    "search": "on-search",
    "subscribe": "on-subscribe",
    "unsubscribe": "on-unsubscribe",
    "txn-status": "txn-on-status",
}
_GROUP_WORDS = {"group", "household", "groups", "households"}


@dataclass
class Caller:
    """An admitted request: who sent it and the settings that apply."""

    principal: Principal
    sender_id: str
    server: str
    partner: DciPartner | None
    settings: InteropSettings
    envelope: Envelope
    raw: dict[str, Any]
    purposes: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def receiver_id(self) -> str:
        return self.settings.sender_id


# --- admission ---------------------------------------------------------------------------


def _verify_signature(raw: dict[str, Any], partner: DciPartner | None, required: bool) -> None:
    signature = raw.get("signature")
    if not required:
        return  # signatures switched off for this partner: the member is not checked
    if not isinstance(signature, str) or not signature.strip():
        raise SignatureMissing("this partner must sign its messages: signature is missing")
    if partner is None or (partner.public_jwk is None and not partner.jwks_url):
        raise SignatureInvalid("no signing key is registered for this sender")
    if partner.public_jwk is not None:
        key = signatures.public_key_from_jwk(partner.public_jwk)
    else:
        from solidarity.interop.partner_keys import partner_key

        key = partner_key(str(partner.jwks_url), raw, partner.signature_format)
    if partner.signature_format == "jws":
        signatures.verify_jws(raw, key)
    else:
        signatures.verify_spdci(raw, key)


def _check_callback(uri: str | None, partner: DciPartner | None) -> str:
    if not uri:
        raise SenderUriInvalid("header.sender_uri is required on an asynchronous request")
    if not uri.startswith(("http://", "https://")) or len(uri) > 1000:
        raise SenderUriInvalid(f"header.sender_uri {uri[:200]!r} is not an http(s) URL")
    if (
        partner is not None
        and partner.callback_prefix
        and not uri.startswith(partner.callback_prefix)
    ):
        raise SenderUriInvalid(
            "header.sender_uri is not a callback address agreed for this partner"
        )
    return uri


def admit(
    session: Session,
    principal: Principal,
    raw: dict[str, Any],
    envelope: Envelope,
    *,
    server: str,
    needs_callback: bool,
) -> Caller:
    """Check who sent a request before anything is processed.

    Raises:
        SenderIdInvalid: ``sender_id`` is not the authenticated client's.
        SignatureMissing | SignatureInvalid: The partner must sign and did not, or wrongly.
        BadRequest: ``message_ts`` outside the replay window.
        DuplicateMessage: The ``message_id`` was already received from this sender.
        SenderUriInvalid: An async request without a usable callback address.
    """
    settings = interop_settings()
    header = envelope.header
    partner = PartnerRepository(session).by_sender(header.sender_id)
    owner = partner.client_id if partner is not None and partner.client_id else header.sender_id
    if owner != principal.username:
        raise SenderIdInvalid(
            f"sender_id {header.sender_id!r} is not registered for client {principal.username!r}"
        )
    required = partner.signature_required if partner is not None else settings.require_signatures
    _verify_signature(raw, partner, required)
    now = utcnow()
    if header.message_ts < now - timedelta(minutes=settings.replay_window_minutes):
        raise BadRequest("rjct.message_ts.invalid: message_ts is older than the replay window")
    if header.message_ts > now + timedelta(minutes=settings.clock_skew_minutes):
        raise BadRequest("rjct.message_ts.invalid: message_ts is in the future")
    if MessageRepository(session).seen(header.sender_id, header.message_id):
        raise DuplicateMessage(
            f"rjct.message_id.duplicate: message_id {header.message_id!r} was already received"
        )
    if needs_callback:
        _check_callback(header.sender_uri, partner)
    return Caller(principal, header.sender_id, server, partner, settings, envelope, raw)


def record_message(
    session: Session,
    caller: Caller,
    *,
    transaction_id: str | None,
    correlation_id: str,
    status: str,
    response: dict[str, Any] | None,
    record_count: int,
    details: dict[str, Any],
) -> DciMessage:
    """Store the request (transaction log, replay guard) and its audit entry."""
    header = caller.envelope.header
    message = MessageRepository(session).add(
        DciMessage(
            server=caller.server,
            sender_id=header.sender_id,
            message_id=header.message_id,
            action=header.action,
            transaction_id=transaction_id,
            correlation_id=correlation_id,
            status=status,
            client_id=caller.principal.username,
            sender_uri=header.sender_uri,
            request=caller.envelope.message,
            response=response,
            record_count=record_count,
            completed_at=utcnow() if status in {"succ", "rjct"} else None,
        )
    )
    audit.record_for(
        session,
        caller.principal,
        f"dci.{caller.server}.{header.action}",
        "dci_transaction",
        correlation_id,
        {
            "sender": header.sender_id,
            "receiver": caller.receiver_id,
            "message_id": header.message_id,
            "transaction_id": transaction_id,
            "record_count": record_count,
            **details,
        },
        purpose=",".join(sorted({p for p in details.get("purposes", [])})) or None,
    )
    return message


# --- search ------------------------------------------------------------------------------


def _purpose(item: SearchItem, mapping: DataMapping) -> str:
    for holder in (item.search_criteria.authorize, item.search_criteria.consent):
        if isinstance(holder, dict):
            purpose = holder.get("purpose")
            if isinstance(purpose, dict):
                code = purpose.get("code") or purpose.get("text")
                if isinstance(code, str) and code.strip():
                    return code.strip()
            elif isinstance(purpose, str) and purpose.strip():
                return purpose.strip()
    return mapping.default_purpose


def authorise_search(session: Session, caller: Caller, request: SearchRequest) -> None:
    """Check page sizes and that an agreement covers each item's purpose (before the ACK).

    Raises:
        BadRequest: A page larger than the server allows.
        Forbidden: No data sharing agreement covers a purpose.
    """
    mapping = data_mapping()
    limit = caller.settings.max_page_size
    for index, item in enumerate(request.search_request):
        page = item.pagination or item.search_criteria.pagination
        if page is not None and page.page_size > limit:
            raise BadRequest(
                f"message.search_request[{index}].pagination.page_size {page.page_size} "
                f"is larger than the {limit} allowed"
            )
        purpose = _purpose(item, mapping)
        if purpose not in caller.purposes:
            try:
                agreed = allowed_fields(session, caller.principal, purpose)
            except AgreementRefused as exc:
                raise Forbidden(exc.detail) from None
            caller.purposes[purpose] = mapping.permitted(agreed, caller.principal.permissions)


def _entity(item: SearchItem, collection: str | None) -> str:
    criteria = item.search_criteria
    if criteria.response_entity:
        return criteria.response_entity
    if collection:
        return collection
    record_type = (criteria.reg_record_type or "").split(":")[-1].lower()
    return "Group" if record_type in _GROUP_WORDS else "Member"


def _sort_keys(item: SearchItem, mapping: DataMapping) -> list[SortKey]:
    keys = []
    for spec in item.search_criteria.sort or []:
        attribute = mapping.attributes.get(spec.attribute_name)
        if attribute is None:
            raise QueryRejected(
                "rjct.sort.invalid", f"cannot sort by unknown attribute {spec.attribute_name!r}"
            )
        keys.append(SortKey(Condition(attribute, "eq", None), spec.sort_order == "desc"))
    return keys


def _consented(session: Session, person_ids: Sequence[int], purpose: str) -> set[int]:
    from sqlalchemy import select

    from solidarity.governance.models import Consent

    rows = session.scalars(
        select(Consent.person_id).where(
            Consent.person_id.in_(list(person_ids)),
            Consent.purpose == purpose,
            Consent.withdrawn_at.is_(None),
        )
    )
    return set(rows)


@dataclass
class ItemOutcome:
    """One answered search item and the ids it disclosed."""

    body: dict[str, Any]
    person_ids: list[int] = field(default_factory=list)
    household_ids: list[int] = field(default_factory=list)


def build_records(
    session: Session, mapping: DataMapping, entity: str, ids: list[int], allowed: frozenset[str]
) -> list[dict[str, Any]]:
    """DCI records of persons (``Member``) or households (``Group``)."""
    reader = RegistryReader(session)
    if entity == "Member":
        data = reader.load(person_ids=ids)
        return [mapping.member(data, i, allowed) for i in ids if i in data.persons]
    data = reader.load(household_ids=ids)
    return [mapping.group(data, i, allowed) for i in ids if i in data.households]


def search_item(session: Session, caller: Caller, item: SearchItem) -> ItemOutcome:
    """Answer one search item (``succ`` with a page, or ``rjct`` with a reason)."""
    mapping = data_mapping()
    criteria = item.search_criteria
    base: dict[str, Any] = {"reference_id": item.reference_id, "timestamp": now_ts()}
    if item.locale:
        base["locale"] = item.locale
    try:
        if not mapping.accepts_reg_type(caller.server, criteria.reg_type):
            raise QueryRejected(
                "rjct.search_criteria.invalid",
                f"reg_type {criteria.reg_type!r} is not served here: "
                f"use {REG_TYPES[caller.server]!r}",
            )
        node, collection = parse_query(criteria.query_type, criteria.query, mapping)
        entity = _entity(item, collection)
        sort = _sort_keys(item, mapping)
        page = item.pagination or criteria.pagination
        page_size = page.page_size if page else caller.settings.default_page_size
        page_number = page.page_number if page else 1
        purpose = _purpose(item, mapping)
        allowed = caller.purposes[purpose]
        ids, total = RegistryReader(session).search(
            node,
            entity,
            sort=sort,
            page=page_number,
            page_size=page_size,
            scope_paths=caller.principal.area_paths,
        )
    except QueryRejected as exc:
        return ItemOutcome(
            {
                **base,
                "status": "rjct",
                "status_reason_code": exc.reason_code,
                "status_reason_message": exc.message,
            }
        )
    if purpose in mapping.consent_purposes and ids and entity == "Member":
        keep = _consented(session, ids, purpose)
        ids = [i for i in ids if i in keep]
    if caller.server == "ibr":
        from solidarity.interop import ibr

        records, person_ids, household_ids = ibr.beneficiaries(
            session, mapping, entity, ids, allowed
        )
        record_type = "Beneficiary"
    else:
        records = build_records(session, mapping, entity, ids, allowed)
        person_ids = ids if entity == "Member" else []
        household_ids = ids if entity == "Group" else []
        record_type = entity
    return ItemOutcome(
        {
            **base,
            "status": "succ",
            "data": {
                "version": "1.0.0",
                "reg_type": criteria.reg_type or REG_TYPES[caller.server],
                "reg_record_type": record_type,
                "reg_records": records,
            },
            "pagination": {
                "page_size": page_size,
                "page_number": page_number,
                "total_count": total,
            },
        },
        person_ids,
        household_ids,
    )


def search(
    session: Session, caller: Caller, request: SearchRequest, correlation_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The SearchResponse of a request, and what to write in the audit trail."""
    outcomes = [search_item(session, caller, item) for item in request.search_request]
    response = {
        "transaction_id": request.transaction_id,
        "correlation_id": correlation_id,
        "search_response": [o.body for o in outcomes],
    }
    details = {
        "query_types": [i.search_criteria.query_type for i in request.search_request],
        "queries": [i.search_criteria.query for i in request.search_request],
        "purposes": sorted(caller.purposes),
        "person_ids": [p for o in outcomes for p in o.person_ids][:200],
        "household_ids": [h for o in outcomes for h in o.household_ids][:200],
        "record_count": sum(len(o.body.get("data", {}).get("reg_records", [])) for o in outcomes),
    }
    return response, details


def overall_status(items: Sequence[dict[str, Any]]) -> str:
    """``succ`` when every item succeeded, else ``rjct`` (partial answers say so per item)."""
    return "succ" if all(i.get("status") == "succ" for i in items) else "rjct"


def response_envelope(
    caller: Caller,
    action: str,
    message: dict[str, Any],
    keys: KeyStore,
    *,
    items: Sequence[dict[str, Any]] = (),
    status: str | None = None,
) -> dict[str, Any]:
    """A signed (when switched on) response or callback envelope."""
    total = max(len(items), 1)
    header = reply_header(
        action,
        sender_id=caller.settings.sender_id,
        receiver_id=caller.sender_id,
        status=status or (overall_status(items) if items else "succ"),
        total_count=total,
        completed_count=total,
    )
    envelope = {"header": header, "message": message}
    if caller.settings.sign_responses:
        signatures.sign_outgoing(
            envelope,
            keys,
            sender_id=caller.settings.sender_id,
            validity=caller.settings.signature_validity_seconds,
        )
    return envelope


# --- subscriptions -----------------------------------------------------------------------


def _filter_node(
    filter_type: str | None, raw_filter: Any, mapping: DataMapping
) -> tuple[Node | None, str | None]:
    if raw_filter in (None, {}, []):
        return None, None
    chosen = filter_type
    if chosen is None:
        if isinstance(raw_filter, list):
            chosen = "predicate"
        elif isinstance(raw_filter, dict) and isinstance(raw_filter.get("value"), dict):
            chosen = "expression"
        else:
            chosen = "idtype-value"
    if chosen == "graphql":
        raise QueryRejected("rjct.notify_details.invalid", "graphql filters are not supported")
    try:
        node, _ = parse_query(chosen, raw_filter, mapping)
    except BadRequest as exc:
        raise QueryRejected("rjct.notify_details.invalid", exc.detail) from None
    except QueryRejected as exc:
        raise QueryRejected("rjct.notify_details.invalid", exc.message) from None
    return node, chosen


def notify_url(sender_uri: str) -> str:
    """Where notifications go: the subscriber's ``/notify`` beside its ``/on-subscribe``."""
    for suffix in ("/on-subscribe", "/on-search"):
        if sender_uri.endswith(suffix):
            return sender_uri[: -len(suffix)] + "/notify"
    return sender_uri


def subscribe(
    session: Session, caller: Caller, request: SubscribeRequest, correlation_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create subscriptions; the SubscribeResponse and the audit details."""
    mapping = data_mapping()
    repo = SubscriptionRepository(session)
    assert caller.envelope.header.sender_uri is not None
    callback = notify_url(caller.envelope.header.sender_uri)
    answers = []
    codes = []
    for item in request.subscribe_request:
        criteria = item.subscribe_criteria
        base: dict[str, Any] = {"reference_id": item.reference_id, "timestamp": now_ts()}
        event = canonical_event(criteria.reg_event_type)
        try:
            if event is None:
                raise QueryRejected(
                    "rjct.notify_types.invalid",
                    f"unknown reg_event_type {criteria.reg_event_type!r}: use one of "
                    f"{', '.join(EVENT_NAMES.values())}",
                )
            if not mapping.accepts_reg_type(caller.server, criteria.reg_type):
                raise QueryRejected(
                    "rjct.notify_details.invalid",
                    f"reg_type {criteria.reg_type!r} is not served here",
                )
            _node, filter_type = _filter_node(criteria.filter_type, criteria.filter, mapping)
            if repo.same(
                caller.server, caller.principal.username, event, criteria.filter, callback
            ):
                raise QueryRejected(
                    "rjct.event.already_subscribed",
                    "an identical subscription exists for this sender and callback",
                )
        except QueryRejected as exc:
            answers.append(
                {
                    **base,
                    "status": "rjct",
                    "status_reason_code": exc.reason_code,
                    "status_reason_message": exc.message,
                }
            )
            continue
        code = new_id("sub")
        purpose = mapping.default_purpose
        if isinstance(criteria.authorize, dict) and isinstance(
            criteria.authorize.get("purpose"), dict
        ):
            purpose = str(criteria.authorize["purpose"].get("code") or purpose)
        repo.add(
            DciSubscription(
                code=code,
                server=caller.server,
                sender_id=caller.sender_id,
                client_id=caller.principal.username,
                callback_uri=callback,
                reg_type=criteria.reg_type,
                reg_event_type=criteria.reg_event_type,
                event=event,
                filter_type=filter_type,
                filter=criteria.filter,
                notify_record_type=criteria.notify_record_type,
                locale=item.locale,
                purpose=purpose,
                status="subscribe",
                transaction_id=request.transaction_id,
                reference_id=item.reference_id,
                created_by=caller.principal.username,
                updated_by=caller.principal.username,
            )
        )
        codes.append(code)
        subscription: dict[str, Any] = {
            "version": "1.0.0",
            "code": code,
            "status": "subscribe",
            "timestamp": now_ts(),
            "reg_type": criteria.reg_type or REG_TYPES[caller.server],
            "reg_event_type": criteria.reg_event_type,
            "notify_record_type": criteria.notify_record_type,
        }
        if filter_type:
            subscription["filter_type"] = filter_type
            subscription["filter"] = criteria.filter
        if item.locale:
            subscription["locale"] = item.locale
        answers.append({**base, "status": "succ", "subscriptions": [subscription]})
    response = {
        "transaction_id": request.transaction_id,
        "correlation_id": correlation_id,
        "subscribe_response": answers,
    }
    return response, {"subscription_codes": codes, "record_count": 0}


def unsubscribe(
    session: Session, caller: Caller, request: UnsubscribeRequest, correlation_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """End subscriptions of the caller; the UnSubscribeResponse and the audit details."""
    repo = SubscriptionRepository(session)
    statuses = []
    problems: list[tuple[str, str]] = []
    for code in request.subscription_codes:
        subscription = repo.by_code(code)
        if subscription is None or subscription.client_id != caller.principal.username:
            problems.append(
                ("rjct.subscription_code.invalid", f"unknown subscription code {code!r}")
            )
            continue
        if subscription.status == "unsubscribe":
            problems.append(("rjct.event.already_unsubscribed", f"{code!r} was already ended"))
            statuses.append({"code": code, "status": "unsubscribe"})
            continue
        subscription.status = "unsubscribe"
        subscription.updated_by = caller.principal.username
        statuses.append({"code": code, "status": "unsubscribe"})
    session.flush()
    response: dict[str, Any] = {
        "transaction_id": request.transaction_id,
        "correlation_id": correlation_id,
        "timestamp": now_ts(),
        "status": "rjct" if problems else "succ",
        "subscription_status": statuses,
    }
    if problems:
        response["status_reason_code"] = problems[0][0]
        response["status_reason_message"] = "; ".join(p[1] for p in problems)[:999]
    return response, {"subscription_codes": list(request.subscription_codes), "record_count": 0}


# --- transaction status ------------------------------------------------------------------


def txn_status(
    session: Session, caller: Caller, request: TxnStatusRequest, correlation_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored outcome of one of the caller's earlier transactions."""
    query = request.txnstatus_request
    action = {"receipt": "search"}.get(query.txn_type, query.txn_type)
    value = query.attribute_value
    repo = MessageRepository(session)
    found: DciMessage | None = None
    if query.attribute_type in {"transaction_id", "correlation_id"} and isinstance(value, str):
        found = repo.find(
            server=caller.server,
            client_id=caller.principal.username,
            action=action,
            **{query.attribute_type: value},
        )
    elif query.attribute_type in {"reference_id_list", "subscription_code_list"}:
        wanted = [value] if isinstance(value, str) else list(value)
        if query.attribute_type == "reference_id_list":
            found = repo.find(
                server=caller.server,
                client_id=caller.principal.username,
                action=action,
                reference_ids=wanted,
            )
        else:
            sub = SubscriptionRepository(session).by_code(wanted[0]) if wanted else None
            if sub is not None and sub.client_id == caller.principal.username:
                found = repo.find(
                    server=caller.server,
                    client_id=caller.principal.username,
                    action="subscribe",
                    transaction_id=sub.transaction_id,
                )
    if found is not None and found.response is not None:
        txn_status_body = found.response
    elif found is not None:
        txn_status_body = {
            "transaction_id": found.transaction_id,
            "correlation_id": found.correlation_id,
            "search_response": [
                {
                    "reference_id": query.reference_id,
                    "timestamp": now_ts(),
                    "status": found.status if found.status in {"rcvd", "pdng"} else "pdng",
                }
            ],
        }
    else:
        txn_status_body = {
            "transaction_id": value if isinstance(value, str) else request.transaction_id,
            "correlation_id": correlation_id,
            "search_response": [
                {
                    "reference_id": query.reference_id,
                    "timestamp": now_ts(),
                    "status": "rjct",
                    "status_reason_code": "rjct.reference_id.invalid",
                    "status_reason_message": "no such transaction of this sender",
                }
            ],
        }
    response = {
        "transaction_id": request.transaction_id,
        "correlation_id": correlation_id,
        "txnstatus_response": {"txn_type": query.txn_type, "txn_status": txn_status_body},
    }
    return response, {"found": found.correlation_id if found else None, "record_count": 0}


# --- callbacks -----------------------------------------------------------------------------


def queue_callback(
    session: Session,
    *,
    kind: str,
    url: str,
    body: dict[str, Any],
    correlation_id: str | None,
    client_id: str | None,
) -> DciOutbox:
    """Queue a POST for the delivery worker (retried with back-off until it is acknowledged)."""
    settings = interop_settings()
    item = OutboxRepository(session).add(
        DciOutbox(
            kind=kind,
            url=url,
            body=body,
            correlation_id=correlation_id,
            client_id=client_id,
            status="pending",
            attempts=0,
            max_attempts=settings.callback_max_attempts,
            next_attempt_at=utcnow(),
        )
    )
    from solidarity.interop.delivery import ensure_delivery_job

    ensure_delivery_job(session)
    return item


def callback_envelope(caller: Caller, action: str, message: dict[str, Any]) -> dict[str, Any]:
    """An unsigned callback envelope (the worker signs it when it sends it)."""
    items: list[dict[str, Any]] = []
    for key in ("search_response", "subscribe_response"):
        if isinstance(message.get(key), list):
            items = message[key]
    status = overall_status(items) if items else str(message.get("status", "succ"))
    if status not in {"succ", "rjct", "pdng", "rcvd"}:
        status = "succ"
    total = max(len(items), 1)
    header = reply_header(
        action,
        sender_id=caller.settings.sender_id,
        receiver_id=caller.sender_id,
        status=status,
        total_count=total,
        completed_count=total,
    )
    return {"header": header, "message": message}


# --- partners ------------------------------------------------------------------------------


def set_partner(
    session: Session,
    *,
    sender_id: str,
    client_id: str | None,
    actor: str,
    name: str | None = None,
    signature_required: bool | None = None,
    signature_format: str | None = None,
    public_jwk: dict[str, Any] | None = None,
    jwks_url: str | None = None,
    callback_prefix: str | None = None,
) -> DciPartner:
    """Create or change a partner's DCI settings (audited).

    A registered key (``public_jwk``) and a key-set address (``jwks_url``) exclude
    each other: setting one clears the other.
    """
    repo = PartnerRepository(session)
    partner = repo.by_sender(sender_id)
    if partner is None:
        partner = repo.add(
            DciPartner(
                sender_id=sender_id,
                client_id=client_id,
                name=name or sender_id,
                signature_required=interop_settings().require_signatures,
                signature_format="spdci",
                created_by=actor,
                updated_by=actor,
            )
        )
    if client_id is not None:
        partner.client_id = client_id
    if name is not None:
        partner.name = name
    if signature_required is not None:
        partner.signature_required = signature_required
    if signature_format is not None:
        if signature_format not in {"spdci", "jws"}:
            raise BadRequest("signature_format must be spdci or jws")
        partner.signature_format = signature_format
    if public_jwk is not None:
        signatures.public_key_from_jwk(public_jwk)
        partner.public_jwk = public_jwk
        partner.jwks_url = None
    if jwks_url is not None:
        if not jwks_url.startswith(("https://", "http://")):
            raise BadRequest("jwks_url must be an http(s) URL")
        partner.jwks_url = jwks_url
        partner.public_jwk = None
    if callback_prefix is not None:
        partner.callback_prefix = callback_prefix or None
    partner.updated_by = actor
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="dci.partner.set",
        object_type="dci_partner",
        object_id=sender_id,
        details={
            "client_id": partner.client_id,
            "signature_required": partner.signature_required,
            "signature_format": partner.signature_format,
            "jwks_url": partner.jwks_url,
            "callback_prefix": partner.callback_prefix,
        },
    )
    return partner


def list_partners(session: Session) -> Sequence[DciPartner]:
    """Every partner."""
    return PartnerRepository(session).all()


# --- IBR: enrolled? ------------------------------------------------------------------------


def enrolled(
    session: Session, caller: Caller, request: EnrolledRequest, correlation_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Whether the persons or households a query names are actively enrolled anywhere."""
    from solidarity.interop import ibr

    mapping = data_mapping()
    criteria = request.enrolled_criteria
    base: dict[str, Any] = {
        "reference_id": criteria.reference_id or new_id("ref"),
        "timestamp": now_ts(),
    }
    household_ids: list[int] = []
    try:
        node, collection = parse_query(criteria.query_type, criteria.query, mapping)
        entity = criteria.response_entity or collection or "Member"
        ids, _total = RegistryReader(session).search(
            node,
            entity,
            sort=[],
            page=1,
            page_size=caller.settings.max_page_size,
            scope_paths=caller.principal.area_paths,
        )
        if entity == "Member":
            data = RegistryReader(session).load(person_ids=ids)
            household_ids = sorted({p["household_id"] for p in data.persons.values()})
        else:
            household_ids = ids
        active = ibr.enrolments_of(session, household_ids, active_only=True)
        item = {
            **base,
            "status": "succ",
            "enrolled_status": "yes" if active else "no",
            "status_reason_message": ", ".join(sorted({p.code for _, p in active}))[:999]
            or "not enrolled in an active programme",
        }
    except QueryRejected as exc:
        item = {
            **base,
            "status": "rjct",
            "status_reason_message": exc.message,
            "enrolled_status": "no",
        }
    response = {
        "transaction_id": request.transaction_id,
        "correlation_id": correlation_id,
        "enrolled_response": [item],
    }
    return response, {"household_ids": household_ids[:200], "record_count": 1}


def enrollment_updates(
    session: Session, caller: Caller, request: EnrollmentUpdatesRequest, correlation_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Record the enrolments a partner programme reports (IBR ``sync/enrollment/updates``).

    Each beneficiary is answered on its own: recorded (``succ``) or refused with the
    reason (``rjct``, nothing of it written). The partner's agency owns the programmes
    it reports; a programme run in Solidarity cannot be reported by a partner.
    """
    from solidarity.interop import ibr

    agency = caller.principal.agency_code or caller.sender_id
    outcomes = ibr.report_enrolments(
        session,
        data_mapping(),
        request.beneficiaries,
        agency=agency,
        actor=caller.principal.username,
        scope=caller.principal.area_paths,
    )
    items: list[dict[str, Any]] = []
    for index, (beneficiary, refusal) in enumerate(outcomes):
        item: dict[str, Any] = {
            "reference_id": str(
                beneficiary.get("reference_id") or f"{request.transaction_id}-{index}"
            )[:99],
            "timestamp": now_ts(),
            "status": "succ" if refusal is None else "rjct",
        }
        if refusal is not None:
            item["status_reason_message"] = refusal[:999]
        items.append(item)
    response = {
        "transaction_id": request.transaction_id,
        "correlation_id": correlation_id,
        "enrolled_response": items,
    }
    recorded = sum(1 for _, refusal in outcomes if refusal is None)
    return response, {"record_count": recorded, "refused": len(outcomes) - recorded}


# --- the CRVS client's callback endpoints ------------------------------------------------------


def receive_crvs(
    session: Session, principal: Principal, raw: dict[str, Any], envelope: Envelope
) -> tuple[str, dict[str, int]]:
    """Take a callback of a civil registry (notify, on-search...): ingest its vital events.

    A message id already received is acknowledged again without being processed
    (the sender retried after losing our answer).

    Returns:
        The correlation id of the acknowledgement and the events by outcome.
    """
    from solidarity.interop import crvs

    header = envelope.header
    repo = MessageRepository(session)
    if repo.seen(header.sender_id, header.message_id):
        return new_id("dup"), {"duplicate": 1}
    caller = admit(session, principal, raw, envelope, server="crvs-client", needs_callback=False)
    message = envelope.message or {}
    items = message.get("notify_event") or message.get("search_response") or []
    counts: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, dict):
            continue
        records = data.get("reg_records")
        for record in records if isinstance(records, list) else [records]:
            if not isinstance(record, dict):
                continue
            try:
                event = crvs.read_event(record, data.get("reg_event_type"))
            except ValidationFailed:
                counts["skipped"] = counts.get("skipped", 0) + 1
                continue
            row = crvs.ingest(session, header.sender_id, event, actor=principal.username)
            counts[row.status] = counts.get(row.status, 0) + 1
    correlation_id = new_id("cor")
    transaction_id = message.get("transaction_id") if isinstance(message, dict) else None
    record_message(
        session,
        caller,
        transaction_id=str(transaction_id)[:99] if transaction_id else None,
        correlation_id=correlation_id,
        status="succ",
        response=None,
        record_count=sum(counts.values()),
        details={"events": counts},
    )
    return correlation_id, counts
