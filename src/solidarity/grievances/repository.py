"""Every query of grievance redress, cases and referrals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from solidarity.analytics.frames import read_frame
from solidarity.grievances.models import (
    Case,
    CaseNote,
    CasePlanItem,
    Grievance,
    GrievanceCategory,
    RedressEvent,
    Referral,
    SocialService,
)
from solidarity.registry.models import Area
from solidarity.registry.repository import in_scope

Scope = Sequence[str] | None


def utc_times(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Time columns as UTC-aware datetimes whatever the database gave (naive, aware, all null)."""
    exprs = []
    for name in columns:
        dtype = frame.schema[name]
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(column.dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(column.dt.replace_time_zone("UTC").dt.cast_time_unit("us"))
        else:
            exprs.append(column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
    return frame.with_columns(exprs)


class AreaLookup:
    """Area codes and paths (the registry's areas, read only)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str) -> Area | None:
        """The area with ``code``."""
        return self.session.scalar(select(Area).where(Area.code == code))

    def get(self, area_id: int) -> Area | None:
        """The area ``area_id``."""
        return self.session.get(Area, area_id)

    def codes(self, ids: set[int]) -> dict[int, str]:
        """Codes of areas ``ids``."""
        if not ids:
            return {}
        rows = self.session.execute(select(Area.id, Area.code).where(Area.id.in_(ids)))
        return {int(i): str(c) for i, c in rows}

    def frame(self) -> pl.DataFrame:
        """Every area: ``area_id``, ``code``, ``path``."""
        return read_frame(
            self.session.connection(),
            select(Area.id.label("area_id"), Area.code, Area.path),
        )


class GrievanceRepository:
    """Categories, grievances and their events."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> Any:
        """Add and flush ``row``."""
        self.session.add(row)
        self.session.flush()
        return row

    def categories(self) -> Sequence[GrievanceCategory]:
        """Every category, by code."""
        return self.session.scalars(
            select(GrievanceCategory).order_by(GrievanceCategory.code)
        ).all()

    def category(self, code: str) -> GrievanceCategory | None:
        """The category ``code``."""
        return self.session.scalar(select(GrievanceCategory).where(GrievanceCategory.code == code))

    def get(self, grievance_id: int) -> Grievance | None:
        """The grievance ``grievance_id``."""
        return self.session.get(Grievance, grievance_id)

    def search(
        self,
        scope: Scope,
        *,
        hidden_categories: Sequence[str],
        not_about: str,
        status: str | None,
        assigned_to: str | None,
        limit: int | None,
        offset: int,
        household_id: int | None = None,
        statuses: Sequence[str] | None = None,
    ) -> tuple[Sequence[Grievance], int]:
        """Grievances in ``scope`` the reader may see, newest first (of one household)."""
        query: Select[Any] = select(Grievance).where(
            or_(Grievance.subject_staff.is_(None), Grievance.subject_staff != not_about)
        )
        if scope is not None:
            query = query.where(in_scope(Grievance.area_id, scope))
        if hidden_categories:
            query = query.where(Grievance.category_code.not_in(hidden_categories))
        if status:
            query = query.where(Grievance.status == status)
        if statuses is not None:
            query = query.where(Grievance.status.in_(list(statuses)))
        if assigned_to:
            query = query.where(Grievance.assigned_to == assigned_to)
        if household_id is not None:
            query = query.where(Grievance.household_id == household_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Grievance.id.desc()).limit(limit).offset(offset)
        ).all()
        return rows, int(total)

    def open_breaching(self, now: datetime) -> Sequence[Grievance]:
        """Open grievances past their acknowledgement or resolution due time."""
        unacknowledged = (Grievance.status == "received") & (Grievance.acknowledge_due < now)
        unresolved = Grievance.status.not_in(("resolved", "closed")) & (Grievance.resolve_due < now)
        return self.session.scalars(
            select(Grievance).where(or_(unacknowledged, unresolved)).order_by(Grievance.id)
        ).all()

    def events(self, subject_type: str, subject_id: int) -> Sequence[RedressEvent]:
        """The steps of one record, oldest first."""
        return self.session.scalars(
            select(RedressEvent)
            .where(RedressEvent.subject_type == subject_type, RedressEvent.subject_id == subject_id)
            .order_by(RedressEvent.at, RedressEvent.id)
        ).all()

    def frame(self, scope: Scope, since: datetime | None, until: datetime | None) -> pl.DataFrame:
        """Grievances as a frame for the indicators."""
        g = Grievance
        query = select(
            g.id,
            g.category_code,
            g.status,
            g.area_id,
            g.household_id,
            g.programme_code,
            g.received_at,
            g.resolved_at,
            g.resolve_due,
            g.within_standard,
        )
        if scope is not None:
            query = query.where(in_scope(g.area_id, scope))
        if since is not None:
            query = query.where(g.received_at >= since)
        if until is not None:
            query = query.where(g.received_at < until)
        frame = read_frame(self.session.connection(), query)
        return utc_times(frame, ["received_at", "resolved_at", "resolve_due"])


class CaseRepository:
    """Cases, plan items and notes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> Any:
        """Add and flush ``row``."""
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, case_id: int) -> Case | None:
        """The case ``case_id``."""
        return self.session.get(Case, case_id)

    def plan(self, case_id: int) -> Sequence[CasePlanItem]:
        """A case's plan, by due date."""
        return self.session.scalars(
            select(CasePlanItem)
            .where(CasePlanItem.case_id == case_id)
            .order_by(CasePlanItem.due_date.is_(None), CasePlanItem.due_date, CasePlanItem.id)
        ).all()

    def plan_item(self, item_id: int) -> CasePlanItem | None:
        """One plan item."""
        return self.session.get(CasePlanItem, item_id)

    def plan_item_for_referral(self, referral_id: int) -> CasePlanItem | None:
        """The plan item that sent ``referral_id``."""
        return self.session.scalar(
            select(CasePlanItem).where(CasePlanItem.referral_id == referral_id)
        )

    def notes(self, case_id: int) -> Sequence[CaseNote]:
        """A case's notes, newest first."""
        return self.session.scalars(
            select(CaseNote)
            .where(CaseNote.case_id == case_id)
            .order_by(CaseNote.on.desc(), CaseNote.id.desc())
        ).all()

    def search(
        self, scope: Scope, agency: str | None, case_worker: str | None, status: str | None
    ) -> Sequence[Case]:
        """Cases in scope (and of the reader's agency, if any)."""
        query: Select[Any] = select(Case)
        if scope is not None:
            query = query.where(in_scope(Case.area_id, scope))
        if agency is not None:
            query = query.where(Case.agency_code == agency)
        if case_worker:
            query = query.where(Case.case_worker == case_worker)
        if status:
            query = query.where(Case.status == status)
        return self.session.scalars(query.order_by(Case.id)).all()

    def overdue_counts(self, case_ids: Sequence[int], today: date) -> dict[int, int]:
        """Open plan items past due, per case."""
        if not case_ids:
            return {}
        rows = self.session.execute(
            select(CasePlanItem.case_id, func.count())
            .where(
                CasePlanItem.case_id.in_(case_ids),
                CasePlanItem.status == "open",
                CasePlanItem.due_date < today,
            )
            .group_by(CasePlanItem.case_id)
        )
        return {int(c): int(n) for c, n in rows}


class ReferralRepository:
    """The service catalogue and referrals."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> Any:
        """Add and flush ``row``."""
        self.session.add(row)
        self.session.flush()
        return row

    def services(self, active_only: bool = True) -> Sequence[SocialService]:
        """The catalogue, by code."""
        query = select(SocialService).order_by(SocialService.code)
        if active_only:
            query = query.where(SocialService.active.is_(True))
        return self.session.scalars(query).all()

    def service(self, code: str) -> SocialService | None:
        """The service ``code``."""
        return self.session.scalar(select(SocialService).where(SocialService.code == code))

    def open_counts(self) -> dict[str, int]:
        """Referrals sent, received or accepted (holding capacity), per service."""
        rows = self.session.execute(
            select(Referral.service_code, func.count())
            .where(Referral.status.in_(("sent", "received", "accepted")))
            .group_by(Referral.service_code)
        )
        return {str(c): int(n) for c, n in rows}

    def get(self, referral_id: int) -> Referral | None:
        """The referral ``referral_id``."""
        return self.session.get(Referral, referral_id)

    def search(
        self,
        scope: Scope,
        agency: str | None,
        *,
        status: str | None,
        case_id: int | None,
        limit: int,
        offset: int,
        to_agency: str | None = None,
        not_to_agency: str | None = None,
    ) -> tuple[Sequence[Referral], int]:
        """Referrals the reader sees: to its agency, or sent within its areas."""
        query: Select[Any] = select(Referral)
        if to_agency is not None:
            query = query.where(Referral.to_agency == to_agency)
        if not_to_agency is not None:
            query = query.where(Referral.to_agency != not_to_agency)
        inside = in_scope(Referral.area_id, scope) if scope is not None else None
        if agency is not None:
            ours = or_(Referral.to_agency == agency, Referral.from_agency == agency)
            query = query.where(ours if inside is None else (ours & inside))
        elif inside is not None:
            query = query.where(inside)
        if status:
            query = query.where(Referral.status == status)
        if case_id is not None:
            query = query.where(Referral.case_id == case_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Referral.id.desc()).limit(limit).offset(offset)
        ).all()
        return rows, int(total)

    def receiving(self, household_ids: Sequence[int] | None) -> pl.DataFrame:
        """``household_id``, ``service_code`` of referrals not declined (sent up to served)."""
        query = select(Referral.household_id, Referral.service_code).where(
            Referral.status.in_(("sent", "received", "accepted", "served"))
        )
        if household_ids is not None:
            query = query.where(Referral.household_id.in_(household_ids))
        return read_frame(
            self.session.connection(),
            query.distinct(),
            {"household_id": pl.Int64, "service_code": pl.String},
        )

    def frame(
        self, scope: Scope, since: datetime | None = None, until: datetime | None = None
    ) -> pl.DataFrame:
        """Referrals (sent in ``[since, until)``) as a frame for the statistics."""
        r = Referral
        query = select(
            r.id,
            r.sector,
            r.service_code,
            r.area_id,
            r.status,
            r.sent_at,
            r.served_at,
            r.accepted_at,
        )
        if scope is not None:
            query = query.where(in_scope(r.area_id, scope))
        if since is not None:
            query = query.where(r.sent_at >= since)
        if until is not None:
            query = query.where(r.sent_at < until)
        frame = read_frame(
            self.session.connection(),
            query,
            {"id": pl.Int64, "sector": pl.String, "service_code": pl.String, "area_id": pl.Int64},
        )
        return utc_times(frame, ["sent_at", "served_at", "accepted_at"])


class RedressErasureRepository:
    """Grievances, referrals and cases about persons or households (for erasure)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def grievances(
        self, person_ids: Sequence[int], household_ids: Sequence[int]
    ) -> Sequence[Grievance]:
        """Grievances lodged by or about the persons or households."""
        query = select(Grievance).where(
            or_(
                Grievance.person_id.in_(list(person_ids)),
                Grievance.household_id.in_(list(household_ids)),
            )
        )
        return self.session.scalars(query).all()

    def referrals(
        self, person_ids: Sequence[int], household_ids: Sequence[int]
    ) -> Sequence[Referral]:
        """Referrals of the persons or households."""
        query = select(Referral).where(
            or_(
                Referral.person_id.in_(list(person_ids)),
                Referral.household_id.in_(list(household_ids)),
            )
        )
        return self.session.scalars(query).all()

    def case_notes(self, household_ids: Sequence[int]) -> Sequence[CaseNote]:
        """Notes and visits of the households' cases."""
        cases = select(Case.id).where(Case.household_id.in_(list(household_ids)))
        return self.session.scalars(select(CaseNote).where(CaseNote.case_id.in_(cases))).all()
