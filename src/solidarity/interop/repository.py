"""Queries of interoperability (the only module here that builds SELECTs).

The DCI search reads the registry's ``person``, ``household``, ``identifier``
and ``area`` tables directly, read-only: a partner's search by identifier must
answer from the identifier index in a few milliseconds on a registry of
millions, which the registry service's general-purpose search (as-of unions,
page summaries) is not built for. Nothing here writes to registry tables;
registry changes go through the registry's change requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from solidarity.db.base import holds
from solidarity.governance.encryption import key_ring
from solidarity.interop.mapping import RecordData
from solidarity.interop.models import (
    CrvsEvent,
    DciMessage,
    DciOutbox,
    DciPartner,
    DciRegistryEvent,
    DciSubscription,
)
from solidarity.interop.query import Combined, Condition, IdentifierMatch, Node, QueryRejected
from solidarity.registry.models import Area, Household, Identifier, ImportRun, Person
from solidarity.rules.semantics import years_before


@dataclass(frozen=True)
class SortKey:
    """A resolved sort key."""

    condition: Condition | None  # only .attribute is used
    descending: bool


#: Person fields encrypted at rest: searched through ``person.name_index`` (decision 0003).
ENCRYPTED_NAMES = frozenset({"given_name", "family_name", "other_names"})


class RegistryReader:
    """Compiles DCI query trees to SQL over the registry tables and loads records."""

    def __init__(self, session: Session, today: date | None = None) -> None:
        self.session = session
        self.today = today or date.today()

    # --- compilation -----------------------------------------------------------------

    def _area_ids(self, codes: Sequence[str]) -> Select[Any]:
        paths = list(self.session.scalars(select(Area.path).where(Area.code.in_(list(codes)))))
        if not paths:
            return select(Area.id).where(false())
        return select(Area.id).where(
            or_(*(Area.path.startswith(p, autoescape=True) for p in paths))
        )

    def _compare(self, column: Any, op: str, value: Any) -> ColumnElement[bool]:
        if op == "in":
            return column.in_(list(value))  # type: ignore[no-any-return]
        operators = {
            "eq": column.__eq__,
            "ne": column.__ne__,
            "lt": column.__lt__,
            "le": column.__le__,
            "gt": column.__gt__,
            "ge": column.__ge__,
        }
        return operators[op](value)  # type: ignore[no-any-return]

    def _age(self, birth: Any, op: str, value: Any) -> ColumnElement[bool]:
        def born_by(years: float) -> date:  # age >= years  <=>  birth_date <= today - years
            return years_before(self.today, int(years))

        if op == "in":
            return or_(*(self._age(birth, "eq", v) for v in value))
        if not float(value).is_integer():
            value = int(value) + 1 if op in {"ge", "gt"} else int(value)
            op = {"gt": "ge", "le": "lt"}.get(op, op)
        years = int(value)
        if op == "ge":
            return birth <= born_by(years)  # type: ignore[no-any-return]
        if op == "gt":
            return birth <= born_by(years + 1)  # type: ignore[no-any-return]
        if op == "lt":
            return birth > born_by(years)  # type: ignore[no-any-return]
        if op == "le":
            return birth > born_by(years + 1)  # type: ignore[no-any-return]
        exact = and_(birth <= born_by(years), birth > born_by(years + 1))
        return not_(exact) if op == "ne" else exact

    def _group_size(self, household_id: Any) -> Any:
        member = aliased(Person)
        return (
            select(func.count(member.id))
            .where(member.household_id == household_id, member.status == "active")
            .scalar_subquery()
        )

    def compile(self, node: Node, entity: str, person: Any, household: Any) -> ColumnElement[bool]:
        """A WHERE condition for ``node`` over ``person``/``household`` (``person`` is None
        when searching groups)."""
        if isinstance(node, Combined):
            parts = [self.compile(p, entity, person, household) for p in node.parts]
            if node.op == "not":
                return not_(parts[0])
            return and_(*parts) if node.op == "and" else or_(*parts)
        if isinstance(node, IdentifierMatch):
            return self._identifier(node, entity, person, household)
        return self._condition(node, entity, person, household)

    def _identifier(
        self, node: IdentifierMatch, entity: str, person: Any, household: Any
    ) -> ColumnElement[bool]:
        if node.id_type in {"@person", "@household"}:
            if not node.value.isdigit():
                return false()
            number = int(node.value)
            if node.id_type == "@household":
                return household.id == number  # type: ignore[no-any-return]
            if entity == "Member":
                return person.id == number  # type: ignore[no-any-return]
            found: ColumnElement[bool] = household.id.in_(
                select(Person.household_id).where(Person.id == number)
            )
            return found
        # ``holds``: the partial unique index on (id_type, value_index) WHERE active
        # answers the lookup; values are encrypted, their blind index is what is
        # compared (decision 0003).
        indexes = key_ring().identifier_indexes(node.value)
        holders = select(Identifier.person_id).where(
            Identifier.id_type == node.id_type,
            Identifier.value_index.in_(indexes)
            if len(indexes) > 1
            else Identifier.value_index == indexes[0],
            holds(Identifier.active),
        )
        if entity == "Member":
            return person.id.in_(holders)  # type: ignore[no-any-return]
        return household.id.in_(select(Person.household_id).where(Person.id.in_(holders)))  # type: ignore[no-any-return]

    def _condition(
        self, node: Condition, entity: str, person: Any, household: Any
    ) -> ColumnElement[bool]:
        attribute = node.attribute
        if attribute.level == "self":
            target = person if entity == "Member" else household
            return self._compare(target.id, node.op, node.value)
        if attribute.level == "household":
            if attribute.type == "area":
                codes = node.value if node.op == "in" else [node.value]
                inside: ColumnElement[bool] = household.area_id.in_(
                    self._area_ids([str(c) for c in codes])
                )
                return not_(inside) if node.op == "ne" else inside
            if attribute.type == "group_size":
                return self._compare(self._group_size(household.id), node.op, node.value)
            return self._compare(getattr(household, attribute.field or ""), node.op, node.value)
        # A person attribute.
        if entity == "Member":
            return self._person_condition(node, person)
        member = aliased(Person)
        return exists(
            select(member.id).where(
                member.household_id == household.id,
                member.status == "active",
                self._person_condition(node, member),
            )
        )

    def _person_condition(self, node: Condition, person: Any) -> ColumnElement[bool]:
        if node.attribute.type == "age":
            return self._age(person.birth_date, node.op, node.value)
        if node.attribute.field in ENCRYPTED_NAMES:
            return self._name_condition(node, person)
        return self._compare(getattr(person, node.attribute.field or ""), node.op, node.value)

    def _name_condition(self, node: Condition, person: Any) -> ColumnElement[bool]:
        """A name compared through the blind index: equal means "has these name tokens"."""
        if node.op not in {"eq", "ne", "in"}:
            raise QueryRejected(
                "rjct.search_criteria.invalid",
                f"{node.attribute.name!r} is encrypted at rest: only eq, ne and in apply",
            )
        ring = key_ring()

        def has(term: Any) -> ColumnElement[bool]:
            patterns = ring.name_token_patterns(str(term))
            if not patterns:
                return false()
            return and_(
                *(or_(*(person.name_index.like(p) for p in per_key)) for per_key in patterns)
            )

        if node.op == "in":
            return or_(*(has(v) for v in node.value))
        return has(node.value) if node.op == "eq" else not_(has(node.value))

    # --- search ------------------------------------------------------------------------

    def _sort_column(self, key: SortKey, entity: str, person: Any, household: Any) -> Any:
        assert key.condition is not None
        attribute = key.condition.attribute
        descending = key.descending
        if attribute.level == "self":
            column = person.id if entity == "Member" else household.id
        elif attribute.level == "household":
            if attribute.type == "group_size":
                column = self._group_size(household.id)
            elif attribute.type == "area":
                column = household.area_id
            else:
                column = getattr(household, attribute.field or "")
        else:
            if entity != "Member":
                raise QueryRejected(
                    "rjct.sort.invalid",
                    f"groups cannot be sorted by the person attribute {attribute.name!r}",
                )
            if attribute.type == "age":
                column, descending = person.birth_date, not descending
            elif attribute.field in ENCRYPTED_NAMES:
                raise QueryRejected(
                    "rjct.sort.invalid",
                    f"{attribute.name!r} is encrypted at rest and cannot order results",
                )
            else:
                column = getattr(person, attribute.field or "")
        return column.desc() if descending else column.asc()

    def search(
        self,
        node: Node,
        entity: str,
        *,
        sort: Sequence[SortKey],
        page: int,
        page_size: int,
        scope_paths: Sequence[str] | None,
    ) -> tuple[list[int], int]:
        """Ids of one page of persons (``Member``) or households (``Group``), and the total."""
        household = Household
        if entity == "Member":
            person: Any = Person
            base = (
                select(Person.id)
                .join(Household, Household.id == Person.household_id)
                .where(Person.status == "active")
            )
            key = Person.id
        else:
            person = None
            base = select(Household.id).where(Household.status == "active")
            key = Household.id
        base = base.where(self.compile(node, entity, person, household))
        if scope_paths is not None:
            if not scope_paths:
                return [], 0
            allowed = select(Area.id).where(
                or_(*(Area.path.startswith(p, autoescape=True) for p in scope_paths))
            )
            base = base.where(Household.area_id.in_(allowed))
        order = [self._sort_column(k, entity, person, household) for k in sort]
        total = self.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        if total == 0 or (page - 1) * page_size >= total:
            return [], total
        ids = self.session.scalars(
            base.order_by(*order, key).limit(page_size).offset((page - 1) * page_size)
        )
        return list(ids), total

    def matches(self, node: Node, entity: str, subject_id: int) -> bool:
        """Whether the person (or household) ``subject_id`` satisfies ``node`` now."""
        if entity == "Member":
            query = (
                select(Person.id)
                .join(Household, Household.id == Person.household_id)
                .where(Person.id == subject_id, self.compile(node, entity, Person, Household))
            )
        else:
            query = select(Household.id).where(
                Household.id == subject_id, self.compile(node, entity, None, Household)
            )
        return self.session.scalar(query) is not None

    # --- loading records ---------------------------------------------------------------

    def load(self, person_ids: Sequence[int] = (), household_ids: Sequence[int] = ()) -> RecordData:
        """Rows for records of these persons and households (with all active members)."""
        data = RecordData()
        person_ids = list(person_ids)
        if person_ids:
            for row in self.session.execute(
                select(Person).where(Person.id.in_(person_ids))
            ).scalars():
                data.persons[row.id] = _row(row)
        wanted = set(household_ids) | {p["household_id"] for p in data.persons.values()}
        if wanted:
            for household in self.session.execute(
                select(Household).where(Household.id.in_(wanted))
            ).scalars():
                data.households[household.id] = _row(household)
        if household_ids:
            members = self.session.execute(
                select(Person)
                .where(Person.household_id.in_(list(household_ids)), Person.status == "active")
                .order_by(Person.household_id, Person.id)
            ).scalars()
            for row in members:
                data.persons[row.id] = _row(row)
                data.members.setdefault(row.household_id, []).append(row.id)
        if data.persons:
            for ident in self.session.execute(
                select(Identifier.person_id, Identifier.id_type, Identifier.value)
                .where(Identifier.person_id.in_(list(data.persons)), holds(Identifier.active))
                .order_by(Identifier.person_id, Identifier.id_type, Identifier.id)
            ):
                data.identifiers.setdefault(ident[0], []).append((ident[1], ident[2]))
        area_ids = {h["area_id"] for h in data.households.values()} | {
            p["area_id"] for p in data.persons.values()
        }
        if area_ids:
            for area_id, code, path in self.session.execute(
                select(Area.id, Area.code, Area.path).where(Area.id.in_(area_ids))
            ):
                data.areas[area_id] = (code, path)
        return data


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


class PartnerRepository:
    """Partner settings."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_sender(self, sender_id: str) -> DciPartner | None:
        """The partner with this DCI sender id."""
        return self.session.scalar(select(DciPartner).where(DciPartner.sender_id == sender_id))

    def all(self) -> Sequence[DciPartner]:
        """Every partner."""
        return self.session.scalars(select(DciPartner).order_by(DciPartner.sender_id)).all()

    def add(self, partner: DciPartner) -> DciPartner:
        """Stage a partner."""
        self.session.add(partner)
        self.session.flush()
        return partner


class MessageRepository:
    """Messages received (transactions and the replay guard)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def seen(self, sender_id: str, message_id: str) -> bool:
        """Whether this sender already sent this message id."""
        query = select(DciMessage.id).where(
            DciMessage.sender_id == sender_id, DciMessage.message_id == message_id
        )
        return self.session.scalar(query) is not None

    def add(self, message: DciMessage) -> DciMessage:
        """Stage a received message."""
        self.session.add(message)
        self.session.flush()
        return message

    def by_correlation(self, correlation_id: str) -> DciMessage | None:
        """The message answered with ``correlation_id``."""
        return self.session.scalar(
            select(DciMessage).where(DciMessage.correlation_id == correlation_id)
        )

    def find(
        self,
        *,
        server: str,
        client_id: str | None,
        action: str,
        transaction_id: str | None = None,
        correlation_id: str | None = None,
        reference_ids: Sequence[str] | None = None,
    ) -> DciMessage | None:
        """The newest message of a client matching a txn-status query."""
        query = select(DciMessage).where(
            DciMessage.server == server,
            DciMessage.client_id == client_id,
            DciMessage.action == action,
        )
        if transaction_id is not None:
            query = query.where(DciMessage.transaction_id == transaction_id)
        if correlation_id is not None:
            query = query.where(DciMessage.correlation_id == correlation_id)
        rows = list(self.session.scalars(query.order_by(DciMessage.id.desc()).limit(200)))
        if reference_ids is not None:
            wanted = set(reference_ids)
            for row in rows:
                items = (
                    (row.request or {}).get("search_request")
                    or (row.request or {}).get("subscribe_request")
                    or []
                )
                if any(isinstance(i, dict) and i.get("reference_id") in wanted for i in items):
                    return row
            return None
        return rows[0] if rows else None


class OutboxRepository:
    """The durable queue of callbacks and notifications."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, item: DciOutbox) -> DciOutbox:
        """Stage a delivery."""
        self.session.add(item)
        self.session.flush()
        return item

    def get(self, item_id: int) -> DciOutbox | None:
        """One delivery."""
        return self.session.get(DciOutbox, item_id)

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[int]:
        """Mark up to ``limit`` due deliveries as being sent until ``lease_until``.

        A delivery whose lease ran out (its sender died) is due again.
        """
        due = or_(
            and_(DciOutbox.status == "pending", DciOutbox.next_attempt_at <= now),
            and_(DciOutbox.status == "sending", DciOutbox.claimed_until < now),
        )
        candidates = (
            select(DciOutbox.id).where(due).order_by(DciOutbox.next_attempt_at).limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(self.session.scalars(candidates))
        if not ids:
            return []
        claimed = self.session.execute(
            update(DciOutbox)
            .where(DciOutbox.id.in_(ids), due)
            .values(status="sending", claimed_until=lease_until)
            .returning(DciOutbox.id)
            .execution_options(synchronize_session=False)
        )
        return list(claimed.scalars())

    def pending(self) -> int:
        """Deliveries not yet sent nor given up."""
        query = select(func.count(DciOutbox.id)).where(DciOutbox.status.in_(["pending", "sending"]))
        return self.session.scalar(query) or 0

    def next_due(self) -> datetime | None:
        """When the next pending delivery is due."""
        return self.session.scalar(
            select(func.min(DciOutbox.next_attempt_at)).where(DciOutbox.status == "pending")
        )

    def page(self, status: str | None, limit: int) -> Sequence[DciOutbox]:
        """Newest deliveries, optionally of one status."""
        query = select(DciOutbox)
        if status:
            query = query.where(DciOutbox.status == status)
        return self.session.scalars(query.order_by(DciOutbox.id.desc()).limit(limit)).all()


class SubscriptionRepository:
    """Subscriptions to registry events."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, subscription: DciSubscription) -> DciSubscription:
        """Stage a subscription."""
        self.session.add(subscription)
        self.session.flush()
        return subscription

    def by_code(self, code: str) -> DciSubscription | None:
        """The subscription with ``code``."""
        return self.session.scalar(select(DciSubscription).where(DciSubscription.code == code))

    def same(
        self, server: str, client_id: str, event: str, filter_: Any, callback: str
    ) -> DciSubscription | None:
        """An active subscription of the client for the same event, filter and callback."""
        rows = self.session.scalars(
            select(DciSubscription).where(
                DciSubscription.server == server,
                DciSubscription.client_id == client_id,
                DciSubscription.event == event,
                DciSubscription.callback_uri == callback,
                DciSubscription.status == "subscribe",
            )
        )
        return next((r for r in rows if r.filter == filter_), None)

    def active_for(self, event: str) -> Sequence[DciSubscription]:
        """Active subscriptions to ``event``."""
        return self.session.scalars(
            select(DciSubscription)
            .where(DciSubscription.event == event, DciSubscription.status == "subscribe")
            .order_by(DciSubscription.id)
        ).all()


class EventRepository:
    """Registry events waiting to be fanned out."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def unprocessed(self, limit: int) -> Sequence[DciRegistryEvent]:
        """The oldest events not yet fanned out."""
        query = (
            select(DciRegistryEvent)
            .where(DciRegistryEvent.processed_at.is_(None))
            .order_by(DciRegistryEvent.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return self.session.scalars(query).all()

    def imported_households(self, import_run_id: int, after_id: int, limit: int) -> list[int]:
        """Ids of households an import run created, above ``after_id``, in id order.

        An import writes its households with its ``source`` between the run's start
        and end; households of an earlier, interrupted run of the same file were
        written before this run started and are not counted again.
        """
        run = self.session.get(ImportRun, import_run_id)
        if run is None or run.finished_at is None:
            return []
        return list(
            self.session.scalars(
                select(Household.id)
                .where(
                    Household.source == run.source,
                    Household.created_at >= run.created_at,
                    Household.created_at <= run.finished_at,
                    Household.id > after_id,
                )
                .order_by(Household.id)
                .limit(limit)
            )
        )


class CrvsRepository:
    """Vital events received from civil registries."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, event_id: int) -> CrvsEvent | None:
        """One event."""
        return self.session.get(CrvsEvent, event_id)

    def find(self, source: str, event_type: str, external_id: str) -> CrvsEvent | None:
        """The event already received with this id, if any."""
        return self.session.scalar(
            select(CrvsEvent).where(
                CrvsEvent.source == source,
                CrvsEvent.event_type == event_type,
                CrvsEvent.external_id == external_id,
            )
        )

    def add(self, event: CrvsEvent) -> CrvsEvent:
        """Stage an event."""
        self.session.add(event)
        self.session.flush()
        return event

    def page(self, status: str | None, limit: int, offset: int = 0) -> Sequence[CrvsEvent]:
        """Events, newest first, optionally of one status."""
        query = select(CrvsEvent)
        if status:
            query = query.where(CrvsEvent.status == status)
        return self.session.scalars(
            query.order_by(CrvsEvent.id.desc()).limit(limit).offset(offset)
        ).all()


def truth() -> ColumnElement[bool]:
    """A condition that always holds (a subscription without a filter)."""
    return true()


class InteropErasureRepository:
    """The DCI log rows that may hold an erased person's data (see ``interop.erasure``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def messages(self, needles: Sequence[str]) -> Sequence[DciMessage]:
        """Logged requests/responses whose bodies contain one of ``needles``."""
        from solidarity.registry.scrub import contains_any

        return self.session.scalars(
            select(DciMessage)
            .where(
                or_(
                    contains_any(DciMessage.request, needles),
                    contains_any(DciMessage.response, needles),
                )
            )
            .order_by(DciMessage.id)
        ).all()

    def outbox(self, needles: Sequence[str]) -> Sequence[DciOutbox]:
        """Callbacks and notifications whose bodies contain one of ``needles``."""
        from solidarity.registry.scrub import contains_any

        return self.session.scalars(
            select(DciOutbox).where(contains_any(DciOutbox.body, needles)).order_by(DciOutbox.id)
        ).all()

    def crvs_events(self, person_ids: Sequence[int], needles: Sequence[str]) -> Sequence[CrvsEvent]:
        """Received CRVS records linked to the persons or containing one of ``needles``."""
        from solidarity.registry.scrub import contains_any

        return self.session.scalars(
            select(CrvsEvent)
            .where(
                or_(CrvsEvent.person_id.in_(person_ids), contains_any(CrvsEvent.record, needles))
            )
            .order_by(CrvsEvent.id)
        ).all()

    def registry_events(
        self, person_ids: Sequence[int], needles: Sequence[str]
    ) -> Sequence[DciRegistryEvent]:
        """Registry change events about the persons or whose details contain ``needles``."""
        from solidarity.registry.scrub import contains_any

        return self.session.scalars(
            select(DciRegistryEvent)
            .where(
                or_(
                    DciRegistryEvent.person_id.in_(person_ids),
                    contains_any(DciRegistryEvent.details, needles),
                )
            )
            .order_by(DciRegistryEvent.id)
        ).all()
