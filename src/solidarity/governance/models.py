"""Tables of governance: accounts, grants, sign-in sessions, the audit trail, agreements.

People and machine clients are both *accounts* (``app_user``): a client's id is
its username and its secret is hashed like a password, so grants, lockout and
deactivation work the same for both. Roles are data (``roles.yaml``), not rows:
a grant names a role, an area subtree (or none: national) and optionally the
programmes it is limited to.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin, utcnow


class User(TimestampedMixin, Base):
    """A person who signs in, or a machine client (``kind = "client"``)."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="person")  # person | client
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Agency a machine client acts for (data sharing agreements are per agency).
    agency_code: Mapped[str | None] = mapped_column(String(64))


class RoleGrant(TimestampedMixin, Base):
    """A role given to an account over an area subtree (national when empty)."""

    __tablename__ = "role_grant"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    area_code: Mapped[str | None] = mapped_column(String(64))
    programme_codes: Mapped[list[str] | None] = mapped_column(JSONType)


class AuthSession(Base):
    """A signed-in browser session; the cookie carries the id, the row only its hash."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_address: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One append-only, hash-chained entry of the audit trail.

    ``hash`` is SHA-256 over the canonical entry and ``previous_hash``; editing,
    deleting or re-ordering rows breaks the chain (``solidarity audit verify``).
    An entry is written with its action and chained (``sequence``,
    ``previous_hash``, ``hash``) shortly after by the sequencer (decision 0005).
    """

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sequence: Mapped[int | None] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128), index=True)
    client_address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(128))
    purpose: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entry_object", "object_type", "object_id"),
        Index(
            "ix_audit_entry_unchained",
            "id",
            sqlite_where=text("sequence IS NULL"),
            postgresql_where=text("sequence IS NULL"),
        ),
    )


class Agency(TimestampedMixin, Base):
    """An organisation the registry shares data with (a ministry, a partner)."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(200))


class SharingAgreement(TimestampedMixin, Base):
    """What an agency may receive, for which purposes, until when."""

    __tablename__ = "sharing_agreement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    agency_code: Mapped[str] = mapped_column(String(64), index=True)
    purposes: Mapped[list[str]] = mapped_column(JSONType)
    fields: Mapped[list[str]] = mapped_column(JSONType)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    legal_basis: Mapped[str | None] = mapped_column(Text)


class Consent(TimestampedMixin, Base):
    """A person's consent to a purpose, and its withdrawal."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    purpose: Mapped[str] = mapped_column(String(200))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(128))
    evidence: Mapped[str | None] = mapped_column(Text)
