"""Queries of governance (the only module here that builds SELECTs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from solidarity.governance.models import (
    Agency,
    AuditEntry,
    AuthSession,
    Consent,
    RoleGrant,
    SharingAgreement,
    User,
)


class UserRepository:
    """Accounts (people and machine clients) and their grants."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_username(self, username: str) -> User | None:
        """The account ``username``, if any."""
        return self.session.scalar(select(User).where(User.username == username))

    def by_id(self, user_id: int) -> User | None:
        """The account with ``user_id``, if any."""
        return self.session.get(User, user_id)

    def add(self, user: User) -> User:
        """Stage a new account and give it its id."""
        self.session.add(user)
        self.session.flush()
        return user

    def all(self, kind: str | None = None) -> Sequence[User]:
        """Accounts ordered by username, optionally of one kind."""
        query = select(User).order_by(User.username)
        if kind is not None:
            query = query.where(User.kind == kind)
        return self.session.scalars(query).all()

    def grants(self, user_id: int) -> Sequence[RoleGrant]:
        """The grants of an account, oldest first."""
        query = select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.id)
        return self.session.scalars(query).all()

    def grants_of(self, user_ids: list[int]) -> Sequence[RoleGrant]:
        """The grants of several accounts."""
        if not user_ids:
            return []
        query = select(RoleGrant).where(RoleGrant.user_id.in_(user_ids)).order_by(RoleGrant.id)
        return self.session.scalars(query).all()

    def grant(self, grant_id: int) -> RoleGrant | None:
        """One grant."""
        return self.session.get(RoleGrant, grant_id)

    def add_grant(self, grant: RoleGrant) -> RoleGrant:
        """Stage a new grant."""
        self.session.add(grant)
        self.session.flush()
        return grant

    def delete_grant(self, grant: RoleGrant) -> None:
        """Remove a grant."""
        self.session.delete(grant)
        self.session.flush()


class AuthSessionRepository:
    """Signed-in browser sessions."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, auth_session: AuthSession) -> AuthSession:
        """Stage a new session."""
        self.session.add(auth_session)
        self.session.flush()
        return auth_session

    def by_token_hash(self, token_hash: str) -> AuthSession | None:
        """The session whose token hashes to ``token_hash``."""
        return self.session.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash))

    def end_all(self, user_id: int, at: datetime) -> None:
        """End every open session of an account (after a password reset or deactivation)."""
        rows = self.session.scalars(
            select(AuthSession).where(
                AuthSession.user_id == user_id, AuthSession.ended_at.is_(None)
            )
        )
        for row in rows:
            row.ended_at = at
        self.session.flush()


@dataclass
class AuditFilter:
    """Criteria of an audit search."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


#: An entry written but not chained yet (``ix_audit_entry_unchained`` finds them).
UNCHAINED = AuditEntry.sequence.is_(None)


class AuditRepository:
    """The audit trail: append and read, never update."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_head(self) -> None:
        """Serialise chaining so that two transactions never chain to the same entry.

        PostgreSQL takes an advisory lock; SQLite's writer lock is taken by a write.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(7246012)"))

    def head(self) -> tuple[int, str] | None:
        """Sequence and hash of the newest chained entry."""
        row = self.session.execute(
            select(AuditEntry.sequence, AuditEntry.hash)
            .where(AuditEntry.sequence.is_not(None))
            .order_by(AuditEntry.sequence.desc())
            .limit(1)
        ).first()
        return (row[0] or 0, row[1] or "") if row else None

    def has_unchained(self) -> bool:
        """Whether an entry waits to be chained."""
        return self.session.scalar(select(AuditEntry.id).where(UNCHAINED).limit(1)) is not None

    def unchained(self, batch: int) -> Sequence[AuditEntry]:
        """Up to ``batch`` entries waiting to be chained, in the order they were written."""
        return self.session.scalars(
            select(AuditEntry).where(UNCHAINED).order_by(AuditEntry.id).limit(batch)
        ).all()

    def in_order(self, batch: int = 5000) -> Iterator[AuditEntry]:
        """Every entry by sequence, read in batches."""
        last = None
        while True:
            query = (
                select(AuditEntry)
                .where(AuditEntry.sequence.is_not(None))
                .order_by(AuditEntry.sequence)
                .limit(batch)
            )
            if last is not None:
                query = query.where(AuditEntry.sequence > last)
            rows = self.session.scalars(query).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].sequence
            self.session.expunge_all()

    def search(
        self, criteria: AuditFilter, limit: int, offset: int
    ) -> tuple[Sequence[AuditEntry], int]:
        """A page of entries matching ``criteria``, newest first, and the total.

        Entries not chained yet are the newest: they come first, newest first.
        """
        conditions = []
        if criteria.actor:
            conditions.append(AuditEntry.actor == criteria.actor)
        if criteria.action:
            conditions.append(AuditEntry.action == criteria.action)
        if criteria.object_type:
            conditions.append(AuditEntry.object_type == criteria.object_type)
        if criteria.object_id:
            conditions.append(AuditEntry.object_id == criteria.object_id)
        if criteria.since:
            conditions.append(AuditEntry.at >= criteria.since)
        if criteria.until:
            conditions.append(AuditEntry.at < criteria.until)
        total = (
            self.session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
            or 0
        )
        rows = self.session.scalars(
            select(AuditEntry)
            .where(*conditions)
            .order_by(AuditEntry.sequence.desc().nulls_first(), AuditEntry.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, total


class AgreementRepository:
    """Agencies, data sharing agreements and consent."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def agency(self, code: str) -> Agency | None:
        """The agency ``code``."""
        return self.session.scalar(select(Agency).where(Agency.code == code))

    def agencies(self) -> Sequence[Agency]:
        """Every agency by code."""
        return self.session.scalars(select(Agency).order_by(Agency.code)).all()

    def agreement(self, code: str) -> SharingAgreement | None:
        """The agreement ``code``."""
        return self.session.scalar(select(SharingAgreement).where(SharingAgreement.code == code))

    def agreements(self, agency_code: str | None = None) -> Sequence[SharingAgreement]:
        """Agreements, optionally of one agency."""
        query = select(SharingAgreement).order_by(SharingAgreement.code)
        if agency_code is not None:
            query = query.where(SharingAgreement.agency_code == agency_code)
        return self.session.scalars(query).all()

    def add(self, row: Agency | SharingAgreement | Consent) -> None:
        """Stage a new agency, agreement or consent."""
        self.session.add(row)
        self.session.flush()

    def consents(self, person_id: int) -> Sequence[Consent]:
        """Consent records of a person, newest first."""
        query = select(Consent).where(Consent.person_id == person_id).order_by(Consent.id.desc())
        return self.session.scalars(query).all()

    def consent(self, consent_id: int) -> Consent | None:
        """One consent record."""
        return self.session.get(Consent, consent_id)


class RetentionRepository:
    """Governance rows past retention."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sessions_ended_before(self, moment: datetime) -> Sequence[AuthSession]:
        """Sign-in sessions that ended or expired before ``moment``."""
        query = select(AuthSession).where(
            or_(
                AuthSession.ended_at < moment,
                and_(AuthSession.ended_at.is_(None), AuthSession.expires_at < moment),
            )
        )
        return self.session.scalars(query).all()

    def delete(self, rows: Sequence[AuthSession]) -> None:
        """Delete sessions."""
        for row in rows:
            self.session.delete(row)
        self.session.flush()
