"""Tables of interoperability.

* ``dci_partner``: a partner system by its DCI ``sender_id``: the machine client
  it authenticates as, whether its messages must be signed and with which key,
  and the callback addresses it may use.
* ``dci_message``: every request received (and every callback received by the
  CRVS client): the transaction log behind ``txn/status`` and the replay guard
  (one row per sender and ``message_id``).
* ``dci_outbox``: callbacks and notifications waiting to be POSTed, with their
  attempts and the time of the next one (exponential back-off). The queue lives
  in the database so that it survives a restart; no broker is needed.
* ``dci_subscription``: subscriptions to registry events.
* ``dci_registry_event``: registry changes recorded by the change-request hook,
  fanned out to matching subscriptions by the delivery worker.
* ``crvs_event``: births and deaths received from a civil registry, what became
  of each (a change request, or the review list when no person matched).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin, utcnow


class DciPartner(TimestampedMixin, Base):
    """A partner system known by its DCI ``sender_id``."""

    __tablename__ = "dci_partner"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_id: Mapped[str] = mapped_column(String(256), unique=True)
    client_id: Mapped[str | None] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    signature_required: Mapped[bool] = mapped_column(Boolean, default=True)
    #: ``spdci`` (draft-cavage string, OpenSPP) or ``jws`` (compact JWS, OpenCRVS).
    signature_format: Mapped[str] = mapped_column(String(16), default="spdci")
    public_jwk: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    jwks_url: Mapped[str | None] = mapped_column(String(1000))
    #: Callbacks only to URLs starting with this (``None``: any http(s) URL).
    callback_prefix: Mapped[str | None] = mapped_column(String(1000))


class DciMessage(Base):
    """A message received: a request to a registry server, or a callback to a client."""

    __tablename__ = "dci_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server: Mapped[str] = mapped_column(String(16))  # social | ibr | crvs-client
    sender_id: Mapped[str] = mapped_column(String(256))
    message_id: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str | None] = mapped_column(String(99), index=True)
    correlation_id: Mapped[str] = mapped_column(String(99), unique=True)
    status: Mapped[str] = mapped_column(String(8), default="rcvd")  # rcvd pdng succ rjct
    client_id: Mapped[str | None] = mapped_column(String(128))
    sender_uri: Mapped[str | None] = mapped_column(String(1000))
    purpose: Mapped[str | None] = mapped_column(String(200))
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("sender_id", "message_id", name="uq_dci_message_sender"),)


class DciOutbox(Base):
    """A callback or notification to POST, retried with exponential back-off."""

    __tablename__ = "dci_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # on-search, on-subscribe, notify, ...
    url: Mapped[str] = mapped_column(String(1000))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    correlation_id: Mapped[str | None] = mapped_column(String(99), index=True)
    client_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending sending sent failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_dci_outbox_due", "status", "next_attempt_at"),)


class DciSubscription(TimestampedMixin, Base):
    """A partner's subscription to registry events."""

    __tablename__ = "dci_subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(99), unique=True)
    server: Mapped[str] = mapped_column(String(16))  # social | ibr
    sender_id: Mapped[str] = mapped_column(String(256), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    callback_uri: Mapped[str] = mapped_column(String(1000))
    reg_type: Mapped[str | None] = mapped_column(String(128))
    reg_event_type: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32), index=True)
    filter_type: Mapped[str | None] = mapped_column(String(16))
    filter: Mapped[Any] = mapped_column(JSONType, nullable=True)
    notify_record_type: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(3))
    purpose: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="subscribe")  # subscribe | unsubscribe
    transaction_id: Mapped[str | None] = mapped_column(String(99))
    reference_id: Mapped[str | None] = mapped_column(String(99))


class DciRegistryEvent(Base):
    """A registry change worth notifying (written by the change-request hook)."""

    __tablename__ = "dci_registry_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(32))
    household_id: Mapped[int | None] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(Integer)
    change_request_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class CrvsEvent(TimestampedMixin, Base):
    """A vital event from a civil registry and what the registry made of it."""

    __tablename__ = "crvs_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(256))
    event_type: Mapped[str] = mapped_column(String(16))  # birth | death
    external_id: Mapped[str] = mapped_column(String(128))
    event_date: Mapped[str | None] = mapped_column(String(32))
    record: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: change_requested | review | resolved | ignored
    status: Mapped[str] = mapped_column(String(16), index=True)
    person_id: Mapped[int | None] = mapped_column(Integer)
    household_id: Mapped[int | None] = mapped_column(Integer)
    change_request_id: Mapped[int | None] = mapped_column(Integer)
    match: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("source", "event_type", "external_id", name="uq_crvs_event_external"),
    )
