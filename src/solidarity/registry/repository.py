"""Queries of the registry domain (the only module here that builds SELECTs).

Reads "as of" a moment look at the current row when it was already valid then,
else at the history row whose ``[valid_from, valid_to)`` contains the moment: the
two are combined with ``UNION ALL`` into one "state" relation that filters,
counts and pages like a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    false,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from solidarity.db.base import holds
from solidarity.governance.encryption import key_ring
from solidarity.registry.history import HOUSEHOLD_STATE, PERSON_STATE
from solidarity.registry.models import (
    Area,
    AreaLevel,
    ChangeRequest,
    Household,
    HouseholdHistory,
    Identifier,
    Person,
    PersonHistory,
    name_token_key,
    person_name_token,
)


class AreaRepository:
    """Areas and their hierarchy."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str) -> Area | None:
        """The area with ``code``, if any."""
        return self.session.scalar(select(Area).where(Area.code == code))

    def by_id(self, area_id: int) -> Area | None:
        """The area with ``area_id``, if any."""
        return self.session.get(Area, area_id)

    def path_of(self, area_id: int) -> str | None:
        """The materialised path of the area ``area_id``, if any."""
        return self.session.scalar(select(Area.path).where(Area.id == area_id))

    def codes_to_ids(self) -> dict[str, int]:
        """Every area code mapped to its id."""
        return {code: id_ for code, id_ in self.session.execute(select(Area.code, Area.id))}

    def codes_by_id(self, ids: set[int]) -> dict[int, str]:
        """The codes of the areas ``ids``."""
        if not ids:
            return {}
        rows = self.session.execute(select(Area.id, Area.code).where(Area.id.in_(ids)))
        return {id_: code for id_, code in rows}

    def subtree_ids(self, code: str) -> list[int]:
        """Ids of the area ``code`` and all its descendants."""
        area = self.by_code(code)
        if area is None:
            return []
        rows = self.session.scalars(
            select(Area.id).where(Area.path.startswith(area.path, autoescape=True))
        )
        return list(rows)

    def list(self, parent_code: str | None = None, level: int | None = None) -> Sequence[Area]:
        """Areas, optionally the children of one area or those of one level."""
        query = select(Area).order_by(Area.path)
        if parent_code is not None:
            parent = self.by_code(parent_code)
            query = query.where(Area.parent_id == (parent.id if parent else -1))
        if level is not None:
            query = query.where(Area.level == level)
        return self.session.scalars(query).all()

    def levels(self) -> Sequence[AreaLevel]:
        """The configured levels, top first."""
        return self.session.scalars(select(AreaLevel).order_by(AreaLevel.level)).all()


@dataclass
class PersonCriteria:
    """Resolved search criteria shared by household and person searches.

    ``born_on_or_before``/``born_after`` come from an age range at the reference date.
    """

    area_path: str | None = None
    id_type: str | None = None
    id_value: str | None = None
    name_terms: list[str] = field(default_factory=list)
    sex: str | None = None
    born_on_or_before: date | None = None
    born_after: date | None = None
    status: str | None = None
    #: Area path prefixes the reader may see; ``None`` is national.
    scope_paths: Sequence[str] | None = None

    def has_person_filters(self) -> bool:
        """Whether any criterion is about persons (not the household itself)."""
        return bool(
            self.id_type
            or self.id_value
            or self.name_terms
            or self.sex
            or self.born_on_or_before
            or self.born_after
        )


def _state_rows(model: Any, key: Any, columns: Sequence[str]) -> Select[Any]:
    """``key`` as ``id`` and the state ``columns`` of the rows of ``model``."""
    return select(key.label("id"), *(getattr(model, c).label(c) for c in columns))


@cache
def _current_states(model: type[Household] | type[Person], name: str) -> Subquery:
    """The current rows of ``model`` as a state subquery, built once.

    Building it (and its column collection) per request cost a fifth of the
    server's time under load (docs/benchmarks.md); the construct is immutable once
    built, so one is shared by every request.
    """
    columns = HOUSEHOLD_STATE if model is Household else PERSON_STATE
    state = _state_rows(model, model.id, columns).subquery(name)
    _ = state.c  # the column collection, built now rather than by racing requests
    return state


def household_states(moment: datetime | None) -> Subquery:
    """Household states valid at ``moment`` (current rows when ``None``); ``id`` is the key."""
    if moment is None:
        return _current_states(Household, "household_state")
    current = _state_rows(Household, Household.id, HOUSEHOLD_STATE)
    past = _state_rows(HouseholdHistory, HouseholdHistory.household_id, HOUSEHOLD_STATE).where(
        HouseholdHistory.valid_from <= moment, HouseholdHistory.valid_to > moment
    )
    return union_all(current.where(Household.valid_from <= moment), past).subquery(
        "household_state"
    )


def person_states(moment: datetime | None) -> Subquery:
    """Person states valid at ``moment`` (current rows when ``None``); ``id`` is the key."""
    if moment is None:
        return _current_states(Person, "person_state")
    current = _state_rows(Person, Person.id, PERSON_STATE)
    past = _state_rows(PersonHistory, PersonHistory.person_id, PERSON_STATE).where(
        PersonHistory.valid_from <= moment, PersonHistory.valid_to > moment
    )
    return union_all(current.where(Person.valid_from <= moment), past).subquery("person_state")


def _identifier_valid(moment: datetime | None) -> ColumnElement[bool]:
    if moment is None:
        return holds(Identifier.active)
    return and_(
        Identifier.valid_from <= moment,
        or_(Identifier.valid_to.is_(None), Identifier.valid_to > moment),
    )


def _person_conditions(
    ps: Subquery, criteria: PersonCriteria, moment: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    # Names are encrypted: a term matches whole name tokens (case and accents folded)
    # through the blind index, never a substring (decision 0003).
    ring = key_ring() if criteria.name_terms or criteria.id_value else None
    for term in criteria.name_terms:
        patterns = ring.name_token_patterns(term) if ring else []
        if not patterns:
            conditions.append(false())
        for per_key in patterns:
            conditions.append(or_(*(ps.c.name_index.like(p) for p in per_key)))
    if criteria.sex:
        conditions.append(ps.c.sex == criteria.sex)
    if criteria.born_on_or_before:
        conditions.append(ps.c.birth_date <= criteria.born_on_or_before)
    if criteria.born_after:
        conditions.append(ps.c.birth_date > criteria.born_after)
    if criteria.id_type or criteria.id_value:
        ident = select(Identifier.id).where(
            Identifier.person_id == ps.c.id, _identifier_valid(moment)
        )
        if criteria.id_type:
            ident = ident.where(Identifier.id_type == criteria.id_type)
        if criteria.id_value:
            assert ring is not None
            ident = ident.where(
                Identifier.value_index.in_(ring.identifier_indexes(criteria.id_value))
            )
        conditions.append(ident.exists())
    return conditions


def _in_area(area_id: ColumnElement[Any], path: str) -> ColumnElement[bool]:
    return area_id.in_(select(Area.id).where(Area.path.startswith(path, autoescape=True)))


def in_scope(
    area_id: ColumnElement[Any] | InstrumentedAttribute[Any], paths: Sequence[str]
) -> ColumnElement[bool]:
    """``area_id`` lies in one of the subtrees ``paths`` (never true when there are none)."""
    if not paths:
        return false()
    return area_id.in_(
        select(Area.id).where(or_(*(Area.path.startswith(p, autoescape=True) for p in paths)))
    )


def _page(
    session: Session,
    query: Select[Any],
    key: Any,
    page: int,
    page_size: int,
    count_cap: int | None,
) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of ``query`` by ``key``, the count of matches and whether it is exact.

    The count stops at ``count_cap`` (``None``: exact): counting every one of a
    district's thousands of households cost more than the page (and under load,
    most of the database's time), and past a thousand a reader narrows the search.
    A first page that is not full is the whole answer, and nothing is counted.
    """
    ids = query.with_only_columns(key)
    # The page's keys first (from indexes where they serve), then its rows:
    # sorting every match with all its columns cost more than finding them.
    keys = list(session.scalars(ids.order_by(key).limit(page_size).offset((page - 1) * page_size)))
    found: list[dict[str, Any]] = []
    if keys:
        rows = session.execute(query.where(key.in_(keys)).order_by(key)).mappings()
        found = [dict(row) for row in rows]
    if page == 1 and len(keys) < page_size:
        return found, len(keys), True  # all of them: no count to run
    counted = ids if count_cap is None else ids.limit(count_cap + 1)
    total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    if count_cap is None or total <= count_cap:
        return found, total, True
    return found, count_cap, False


class HouseholdRepository:
    """Households: current rows, history, and as-of states."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, household_id: int) -> Household | None:
        """The current row of a household."""
        return self.session.get(Household, household_id)

    def state_at(self, household_id: int, moment: datetime | None) -> dict[str, Any] | None:
        """The household's state at ``moment`` (current when ``None``), if it existed."""
        hs = household_states(moment)
        row = self.session.execute(select(hs).where(hs.c.id == household_id)).mappings().first()
        return dict(row) if row else None

    def history(self, household_id: int) -> Sequence[HouseholdHistory]:
        """Earlier versions of a household, oldest first."""
        query = (
            select(HouseholdHistory)
            .where(HouseholdHistory.household_id == household_id)
            .order_by(HouseholdHistory.valid_from, HouseholdHistory.version)
        )
        return self.session.scalars(query).all()

    def search(
        self,
        criteria: PersonCriteria,
        moment: datetime | None,
        page: int,
        page_size: int,
        count_cap: int | None,
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """A page of household states matching ``criteria``, the count and if it is exact.

        Person criteria (name, sex, age, identifier) match households with at least
        one active member who meets them all.
        """
        hs = household_states(moment)
        query = select(hs)
        if criteria.area_path:
            query = query.where(_in_area(hs.c.area_id, criteria.area_path))
        if criteria.status:
            query = query.where(hs.c.status == criteria.status)
        if criteria.scope_paths is not None:
            query = query.where(in_scope(hs.c.area_id, criteria.scope_paths))
        if criteria.has_person_filters():
            query = query.where(hs.c.id.in_(self._members(criteria, moment)))
        return _page(self.session, query, hs.c.id, page, page_size, count_cap)

    def _members(self, criteria: PersonCriteria, moment: datetime | None) -> Select[Any]:
        """Households with an active member meeting every person criterion.

        A current search by name on PostgreSQL starts from ``person_name_token``
        (decision 0006): the households of a name token come from its index in
        household order, so the first page of a common name reads a few rows, not
        every person bearing it.
        """
        ps = person_states(moment)
        dialect = self.session.get_bind().dialect.name
        if moment is not None or not criteria.name_terms or dialect != "postgresql":
            return select(ps.c.household_id).where(
                ps.c.status == "active", *_person_conditions(ps, criteria, moment)
            )
        ring = key_ring()
        per_term = [ring.name_token_indexes(term) for term in criteria.name_terms]
        if not all(per_term):  # a term with no letters or digits matches no one
            return select(ps.c.household_id).where(false())
        first, *more = [
            [name_token_key(index) for index in indexes]
            for tokens in per_term
            for indexes in tokens
        ]
        bearer = person_name_token.alias("bearer")
        members = select(bearer.c.household_id).where(bearer.c.token.in_(first))
        for indexes in more:
            also = person_name_token.alias()
            members = members.where(
                bearer.c.person_id.in_(select(also.c.person_id).where(also.c.token.in_(indexes)))
            )
        rest = replace(criteria, name_terms=[])
        if rest.has_person_filters():
            members = members.where(
                bearer.c.person_id.in_(
                    select(ps.c.id).where(
                        ps.c.status == "active", *_person_conditions(ps, rest, moment)
                    )
                )
            )
        return members

    def members_at(self, household_ids: list[int], moment: datetime | None) -> list[dict[str, Any]]:
        """Active member states of the households at ``moment``, by household then id."""
        if not household_ids:
            return []
        ps = person_states(moment)
        query = (
            select(ps)
            .where(ps.c.household_id.in_(household_ids), ps.c.status == "active")
            .order_by(ps.c.household_id, ps.c.id)
        )
        return [dict(row) for row in self.session.execute(query).mappings()]

    def active_members(self, household_id: int) -> list[Person]:
        """Current rows of the household's active members."""
        query = (
            select(Person)
            .where(Person.household_id == household_id, Person.status == "active")
            .order_by(Person.id)
        )
        return list(self.session.scalars(query))

    def count_heads(self, household_id: int) -> int:
        """How many active members are recorded as head."""
        query = select(func.count(Person.id)).where(
            Person.household_id == household_id,
            Person.status == "active",
            Person.relationship == "head",
        )
        return self.session.scalar(query) or 0


class PersonRepository:
    """Persons: current rows, history, and as-of states."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, person_id: int) -> Person | None:
        """The current row of a person."""
        return self.session.get(Person, person_id)

    def get_many(self, person_ids: list[int]) -> dict[int, Person]:
        """Current rows of the persons ``person_ids`` keyed by id."""
        if not person_ids:
            return {}
        rows = self.session.scalars(select(Person).where(Person.id.in_(person_ids)))
        return {p.id: p for p in rows}

    def state_at(self, person_id: int, moment: datetime | None) -> dict[str, Any] | None:
        """The person's state at ``moment`` (current when ``None``), if they existed."""
        ps = person_states(moment)
        row = self.session.execute(select(ps).where(ps.c.id == person_id)).mappings().first()
        return dict(row) if row else None

    def search(
        self,
        criteria: PersonCriteria,
        moment: datetime | None,
        page: int,
        page_size: int,
        count_cap: int | None,
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """A page of person states matching ``criteria``, the count and if it is exact."""
        ps = person_states(moment)
        query = select(ps).where(*_person_conditions(ps, criteria, moment))
        if criteria.area_path:
            query = query.where(_in_area(ps.c.area_id, criteria.area_path))
        if criteria.status:
            query = query.where(ps.c.status == criteria.status)
        if criteria.scope_paths is not None:
            query = query.where(in_scope(ps.c.area_id, criteria.scope_paths))
        return _page(self.session, query, ps.c.id, page, page_size, count_cap)


class IdentifierRepository:
    """Identifiers of persons."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def for_persons(self, person_ids: list[int], moment: datetime | None) -> list[Identifier]:
        """Identifiers of the persons valid at ``moment`` (active ones when ``None``)."""
        if not person_ids:
            return []
        query = (
            select(Identifier)
            .where(Identifier.person_id.in_(person_ids), _identifier_valid(moment))
            .order_by(Identifier.person_id, Identifier.id_type, Identifier.id)
        )
        return list(self.session.scalars(query))

    def active_holder(self, id_type: str, value: str) -> int | None:
        """The person holding the active identifier ``id_type``/``value``, if any."""
        query = select(Identifier.person_id).where(
            Identifier.id_type == id_type,
            Identifier.value_index.in_(key_ring().identifier_indexes(value)),
            holds(Identifier.active),
        )
        return self.session.scalar(query)


class ChangeRequestRepository:
    """Change requests."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, change_request_id: int) -> ChangeRequest | None:
        """The change request with this id."""
        return self.session.get(ChangeRequest, change_request_id)

    def page(
        self,
        *,
        status: str | None,
        household_id: int | None,
        page: int,
        page_size: int,
        scope_paths: Sequence[str] | None = None,
    ) -> tuple[list[ChangeRequest], int]:
        """A page of change requests, newest first, and the total count.

        ``scope_paths`` keeps the requests of households in those area subtrees.
        """
        query = select(ChangeRequest)
        if scope_paths is not None:
            query = query.where(in_scope(ChangeRequest.area_id, scope_paths))
        if status:
            query = query.where(ChangeRequest.status == status)
        if household_id is not None:
            query = query.where(ChangeRequest.household_id == household_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(ChangeRequest.id.desc()).limit(page_size).offset((page - 1) * page_size)
        )
        return list(rows), total


class ErasureRepository:
    """Every row, current or past, that holds a person's or household's data."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def person_history(self, person_ids: Sequence[int]) -> Sequence[PersonHistory]:
        """Every earlier state of the persons."""
        query = select(PersonHistory).where(PersonHistory.person_id.in_(list(person_ids)))
        return self.session.scalars(query).all()

    def household_history(self, household_ids: Sequence[int]) -> Sequence[HouseholdHistory]:
        """Every earlier state of the households."""
        query = select(HouseholdHistory).where(
            HouseholdHistory.household_id.in_(list(household_ids))
        )
        return self.session.scalars(query).all()

    def identifiers(self, person_ids: Sequence[int]) -> Sequence[Identifier]:
        """Every identifier of the persons, ended ones too."""
        query = select(Identifier).where(Identifier.person_id.in_(list(person_ids)))
        return self.session.scalars(query).all()

    def persons_of_households(self, household_ids: Sequence[int]) -> list[int]:
        """Ids of every person who is or was a member of the households."""
        ids = list(household_ids)
        now = select(Person.id).where(Person.household_id.in_(ids))
        before = select(PersonHistory.person_id).where(PersonHistory.household_id.in_(ids))
        return sorted(set(self.session.scalars(now)) | set(self.session.scalars(before)))

    def households_of_persons(self, person_ids: Sequence[int]) -> list[int]:
        """Ids of every household the persons belong or belonged to."""
        ids = list(person_ids)
        now = select(Person.household_id).where(Person.id.in_(ids))
        before = select(PersonHistory.household_id).where(PersonHistory.person_id.in_(ids))
        return sorted(set(self.session.scalars(now)) | set(self.session.scalars(before)))

    def change_requests(
        self, household_ids: Sequence[int], person_ids: Sequence[int]
    ) -> Sequence[ChangeRequest]:
        """Change requests about the households or the persons."""
        query = select(ChangeRequest).where(
            or_(
                ChangeRequest.household_id.in_(list(household_ids)),
                ChangeRequest.person_id.in_(list(person_ids)),
            )
        )
        return self.session.scalars(query).all()

    def persons_left_before(self, moment: datetime, limit: int) -> list[int]:
        """Removed or deceased persons whose record has not changed since before ``moment``."""
        query = (
            select(Person.id)
            .where(
                Person.status.in_(("removed", "deceased")),
                Person.valid_from < moment,
                Person.updated_by != ERASURE_ACTOR,
            )
            .order_by(Person.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def households_closed_before(self, moment: datetime, limit: int) -> list[int]:
        """Dissolved or merged households unchanged since before ``moment``, not yet erased."""
        query = (
            select(Household.id)
            .where(
                Household.status.in_(("dissolved", "merged")),
                Household.valid_from < moment,
                Household.updated_by != ERASURE_ACTOR,
            )
            .order_by(Household.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def change_requests_decided_before(self, moment: datetime, limit: int) -> list[ChangeRequest]:
        """Decided change requests older than ``moment`` whose payload was not scrubbed yet."""
        query = (
            select(ChangeRequest)
            .where(
                ChangeRequest.status.in_(("applied", "rejected")),
                ChangeRequest.decided_at < moment,
                ChangeRequest.kind.in_(("add_member", "update_fields")),
                ChangeRequest.updated_by != ERASURE_ACTOR,
            )
            .order_by(ChangeRequest.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))


#: What anonymised names become (names are required columns).
ERASED = "[erased]"
#: ``updated_by`` of rows anonymised by erasure or retention (the person who decided
#: is in the audit trail); it marks them so that retention does not pick them again.
ERASURE_ACTOR = "erasure"
