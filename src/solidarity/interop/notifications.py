"""Notifications: registry events fanned out to matching subscriptions.

For each event recorded by the change-request hook, every active subscription
to that event is checked: its filter (identifier, expression or predicate) must
match the person or household concerned now, and the subscriber's data sharing
agreement must still cover the subscription's purpose. A match queues a
``notify`` envelope (``reg_records`` is one object, digest section 7) in the
outbox, in the same unit of work that marks the event processed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import NotFoundError
from solidarity.governance import audit
from solidarity.governance import service as governance
from solidarity.governance.agreements import AgreementRefused, allowed_fields
from solidarity.interop.envelope import new_id, now_ts, reply_header
from solidarity.interop.events import EVENT_NAMES
from solidarity.interop.mapping import data_mapping
from solidarity.interop.models import DciRegistryEvent, DciSubscription
from solidarity.interop.query import QueryRejected
from solidarity.interop.repository import EventRepository, RegistryReader, SubscriptionRepository
from solidarity.interop.service import REG_TYPES, _filter_node, build_records, queue_callback
from solidarity.interop.settings import interop_settings

logger = logging.getLogger(__name__)


def _subject(event: DciRegistryEvent, subscription: DciSubscription) -> tuple[str, int] | None:
    wants_group = subscription.notify_record_type.split(":")[-1].lower() in {"group", "household"}
    if event.person_id is not None and not wants_group:
        return "Member", int(event.person_id)
    if event.household_id is not None:
        return "Group", int(event.household_id)
    return None


def _notify(
    session: Session, event: DciRegistryEvent, subscription: DciSubscription
) -> dict[str, Any] | None:
    subject = _subject(event, subscription)
    if subject is None:
        return None
    entity, subject_id = subject
    mapping = data_mapping()
    try:
        node, _ = _filter_node(subscription.filter_type, subscription.filter, mapping)
    except QueryRejected:
        return None
    # On a household event an identifier filter matches the household holding the person.
    if node is not None and not RegistryReader(session).matches(node, entity, subject_id):
        return None
    try:
        principal = governance.cli_principal(session, subscription.client_id)
        agreed = allowed_fields(session, principal, subscription.purpose or mapping.default_purpose)
    except (NotFoundError, AgreementRefused) as exc:
        logger.info("subscription %s not notified: %s", subscription.code, exc)
        return None
    if not principal.covers_path(_area_path(session, entity, subject_id)):
        return None
    allowed = mapping.permitted(agreed, principal.permissions)
    records = build_records(session, mapping, entity, [subject_id], allowed)
    if not records:
        return None
    settings = interop_settings()
    header = reply_header(
        "notify",
        sender_id=settings.sender_id,
        receiver_id=subscription.sender_id,
        status="succ",
    )
    message = {
        "transaction_id": new_id("txn"),
        "notify_event": [
            {
                "reference_id": new_id("ref"),
                "timestamp": now_ts(),
                "data": {
                    "version": "1.0.0",
                    "reg_type": subscription.reg_type or REG_TYPES.get(subscription.server, ""),
                    "reg_event_type": EVENT_NAMES[event.event],
                    "reg_record_type": entity,
                    "reg_records": records[0],
                },
                **({"locale": subscription.locale} if subscription.locale else {}),
            }
        ],
    }
    return {"header": header, "message": message}


def _area_path(session: Session, entity: str, subject_id: int) -> str | None:
    data = RegistryReader(session).load(
        person_ids=[subject_id] if entity == "Member" else [],
        household_ids=[subject_id] if entity == "Group" else [],
    )
    row = data.persons.get(subject_id) if entity == "Member" else data.households.get(subject_id)
    if row is None:
        return None
    area = data.areas.get(row["area_id"])
    return area[1] if area else None


#: Households of a bulk import expanded per delivery round (the rest wait for the next).
IMPORT_BATCH = 200


def _expand(session: Session, event: DciRegistryEvent) -> tuple[list[DciRegistryEvent], bool]:
    """The per-household events an import's event stands for in this round, and if done."""
    details = dict(event.details or {})
    run_id = details.get("import_run_id")
    if event.household_id is not None or event.person_id is not None or run_id is None:
        return [event], True
    after = int(details.get("expanded_up_to", 0))
    ids = EventRepository(session).imported_households(int(run_id), after, IMPORT_BATCH)
    if ids:
        event.details = {**details, "expanded_up_to": ids[-1]}
    parts = [
        DciRegistryEvent(event=event.event, household_id=hid, details={"import_run_id": run_id})
        for hid in ids
    ]
    return parts, len(ids) < IMPORT_BATCH


def fan_out_events(session: Session, limit: int = 200) -> int:
    """Queue notifications for unprocessed registry events.

    The event of a bulk import is expanded :data:`IMPORT_BATCH` households at a
    time and stays unprocessed until every household has been considered.

    Returns:
        The notifications queued plus the import events still being expanded:
        anything but 0 means there is more to do.
    """
    queued = expanding = 0
    repo = SubscriptionRepository(session)
    for recorded in EventRepository(session).unprocessed(limit):
        parts, done = _expand(session, recorded)
        for event, subscription in ((e, s) for e in parts for s in repo.active_for(e.event)):
            body = _notify(session, event, subscription)
            if body is None:
                continue
            queue_callback(
                session,
                kind="notify",
                url=subscription.callback_uri,
                body=body,
                correlation_id=subscription.code,
                client_id=subscription.client_id,
            )
            audit.record(
                session,
                actor="system",
                action="dci.notify.queued",
                object_type="dci_subscription",
                object_id=subscription.code,
                details={
                    "sender": interop_settings().sender_id,
                    "receiver": subscription.sender_id,
                    "event": event.event,
                    "person_id": event.person_id,
                    "household_id": event.household_id,
                    "change_request_id": event.change_request_id,
                    "record_count": 1,
                },
                purpose=subscription.purpose,
            )
            queued += 1
        if done:
            recorded.processed_at = utcnow()
        else:
            expanding += 1
    session.flush()
    return queued + expanding
