"""Rules of the registry domain: areas and as-of reads. Services flush; entry points commit.

Change requests (the only way households and persons change) live in ``changes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.db.base import utcnow
from solidarity.errors import NotFoundError, PermissionDenied, ValidationFailed
from solidarity.registry.history import as_moment, aware, household_state
from solidarity.registry.models import Area, AreaLevel, Identifier
from solidarity.registry.repository import (
    AreaRepository,
    HouseholdRepository,
    IdentifierRepository,
    PersonCriteria,
    PersonRepository,
)
from solidarity.registry.schemas import (
    AreaOut,
    HouseholdOut,
    HouseholdSummary,
    HouseholdTimeline,
    HouseholdVersion,
    IdentifierOut,
    Page,
    PersonOut,
    RegistrySearch,
)
from solidarity.rules.semantics import years_before


def load_areas(
    session: Session, rows: Iterable[Mapping[str, str]], *, actor: str = "system"
) -> int:
    """Create or rename areas from rows of code, name, level, level_name, parent_code.

    Parents must come before children (or already exist). Codes are stable: an
    existing code keeps its id and only its name changes.

    Returns:
        The number of areas created.
    """
    repo = AreaRepository(session)
    known = {a.code: a for a in repo.list()}
    levels = {lv.level: lv for lv in repo.levels()}
    created = 0
    errors: list[dict[str, object]] = []
    for number, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        parent_code = (row.get("parent_code") or "").strip()
        level_text = str(row.get("level") or "").strip()
        if not code or not level_text.isdigit():
            errors.append(
                {"row": number, "field": "code/level", "message": "code and level are required"}
            )
            continue
        level = int(level_text)
        parent = known.get(parent_code) if parent_code else None
        if parent_code and parent is None:
            errors.append(
                {
                    "row": number,
                    "field": "parent_code",
                    "value": parent_code,
                    "message": "unknown parent area (list parents before children)",
                }
            )
            continue
        if (parent is None and level != 0) or (parent is not None and parent.level != level - 1):
            errors.append(
                {
                    "row": number,
                    "field": "level",
                    "value": level_text,
                    "message": "level must be one below the parent's (0 at the top)",
                }
            )
            continue
        if level not in levels:
            levels[level] = AreaLevel(level=level, name=row.get("level_name") or f"level {level}")
            session.add(levels[level])
        if code in known:
            known[code].name = row.get("name") or code
            continue
        area = Area(
            code=code,
            name=row.get("name") or code,
            level=level,
            parent_id=parent.id if parent else None,
            path=(parent.path if parent else "/") + code + "/",
            created_by=actor,
            updated_by=actor,
        )
        session.add(area)
        session.flush()
        known[code] = area
        created += 1
    if errors:
        raise ValidationFailed(f"{len(errors)} area row(s) refused", errors)
    session.flush()
    return created


# --- Scope -----------------------------------------------------------------

#: Area path prefixes a reader may see (``"/R01/R01-D02/"``); ``None`` is national.
Scope = Sequence[str] | None


def covers(scope: Scope, path: str | None) -> bool:
    """Whether an area with materialised ``path`` lies inside ``scope``."""
    if scope is None:
        return True
    return path is not None and any(path.startswith(prefix) for prefix in scope)


def _visible(session: Session, area_id: int, scope: Scope) -> bool:
    return scope is None or covers(scope, AreaRepository(session).path_of(area_id))


def require_household_in_scope(session: Session, household_id: int, scope: Scope) -> None:
    """Refuse a household outside ``scope`` exactly as one that does not exist.

    Raises:
        NotFoundError: The household does not exist or is outside the scope.
    """
    household = HouseholdRepository(session).get(household_id)
    if household is None or not _visible(session, household.area_id, scope):
        raise NotFoundError(f"household {household_id} not found")


def require_area_in_scope(session: Session, code: object, scope: Scope) -> None:
    """Refuse to move records into an area outside ``scope`` (unknown codes pass: validation
    reports them).

    Raises:
        PermissionDenied: The area exists but lies outside the scope.
    """
    if scope is None or not isinstance(code, str):
        return
    area = AreaRepository(session).by_code(code.strip())
    if area is not None and not covers(scope, area.path):
        raise PermissionDenied(f"area {code!r} is outside your area of responsibility")


# --- Reads -----------------------------------------------------------------


def _area_out(area: Area, parents: dict[int, str], levels: dict[int, str]) -> AreaOut:
    return AreaOut(
        code=area.code,
        name=area.name,
        level=area.level,
        level_name=levels.get(area.level),
        parent_code=parents.get(area.parent_id) if area.parent_id is not None else None,
        path=area.path,
    )


def list_areas(
    session: Session, *, parent: str | None = None, level: int | None = None
) -> list[AreaOut]:
    """Areas ordered by path, optionally the children of ``parent`` or one ``level``."""
    repo = AreaRepository(session)
    areas = repo.list(parent_code=parent, level=level)
    parents = repo.codes_by_id({a.parent_id for a in areas if a.parent_id is not None})
    levels = {lv.level: lv.name for lv in repo.levels()}
    return [_area_out(a, parents, levels) for a in areas]


def get_area(session: Session, code: str) -> AreaOut:
    """The area ``code``.

    Raises:
        NotFoundError: No area has this code.
    """
    repo = AreaRepository(session)
    area = repo.by_code(code)
    if area is None:
        raise NotFoundError(f"area {code!r} not found")
    parents = repo.codes_by_id({area.parent_id} if area.parent_id is not None else set())
    levels = {lv.level: lv.name for lv in repo.levels()}
    return _area_out(area, parents, levels)


def age_on(birth_date: date, on: date) -> int:
    """Completed years between ``birth_date`` and ``on``."""
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - int(before_birthday)


def _reference_date(moment: datetime | None) -> date:
    return (moment or utcnow()).date()


def _criteria(
    session: Session, search: RegistrySearch, moment: datetime | None, scope: Scope = None
) -> PersonCriteria:
    criteria = PersonCriteria(
        scope_paths=scope,
        id_type=search.id_type or None,
        id_value=search.id_value or None,
        name_terms=(search.name or "").split(),
        sex=search.sex or None,
        status=search.status or None,
    )
    if search.area:
        area = AreaRepository(session).by_code(search.area)
        if area is None:
            raise ValidationFailed(
                f"unknown area code {search.area!r}",
                [{"field": "area", "value": search.area, "message": "unknown area code"}],
            )
        criteria.area_path = area.path
    if (
        search.min_age is not None
        and search.max_age is not None
        and search.min_age > search.max_age
    ):
        raise ValidationFailed(
            "min_age is above max_age",
            [{"field": "min_age", "message": "must not exceed max_age"}],
        )
    on = _reference_date(moment)
    if search.min_age is not None:
        criteria.born_on_or_before = years_before(on, search.min_age)
    if search.max_age is not None:
        criteria.born_after = years_before(on, search.max_age + 1)
    return criteria


def _page_size(requested: int) -> int:
    return max(1, min(requested, get_settings().page_size_max))


def _person_out(
    state: dict[str, Any],
    area_codes: dict[int, str],
    identifiers: list[Identifier],
    on: date,
) -> PersonOut:
    return PersonOut.model_validate(
        {
            **state,
            "valid_from": aware(state["valid_from"]),
            "area_code": area_codes.get(state["area_id"]),
            "age": age_on(state["birth_date"], on),
            "identifiers": [
                IdentifierOut(
                    id_type=i.id_type,
                    value=i.value,
                    issuer=i.issuer,
                    verified=i.verified,
                    active=i.active,
                    valid_from=aware(i.valid_from),
                    valid_to=aware(i.valid_to) if i.valid_to else None,
                )
                for i in identifiers
            ],
        }
    )


def _persons_out(
    session: Session, states: list[dict[str, Any]], moment: datetime | None
) -> list[PersonOut]:
    ids = [s["id"] for s in states]
    by_person: dict[int, list[Identifier]] = {}
    for ident in IdentifierRepository(session).for_persons(ids, moment):
        by_person.setdefault(ident.person_id, []).append(ident)
    codes = AreaRepository(session).codes_by_id({s["area_id"] for s in states})
    on = _reference_date(moment)
    return [_person_out(s, codes, by_person.get(s["id"], []), on) for s in states]


def get_household(
    session: Session,
    household_id: int,
    as_of: date | datetime | str | None = None,
    scope: Scope = None,
) -> HouseholdOut:
    """A household with its active members and their identifiers, as of a moment.

    Args:
        session: The unit of work.
        household_id: The household.
        as_of: A date (end of that day, UTC) or datetime; the current state when ``None``.
        scope: Area subtrees the reader may see; a household outside is "not found".

    Raises:
        NotFoundError: The household does not exist, did not exist yet at ``as_of``,
            or lies outside ``scope``.
    """
    moment = as_moment(as_of)
    repo = HouseholdRepository(session)
    state = repo.state_at(household_id, moment)
    if state is not None and not _visible(session, state["area_id"], scope):
        state = None
    if state is None:
        when = f" as of {moment.isoformat()}" if moment else ""
        raise NotFoundError(f"household {household_id} not found{when}")
    members = _persons_out(session, repo.members_at([household_id], moment), moment)
    area_code = AreaRepository(session).codes_by_id({state["area_id"]}).get(state["area_id"])
    head = next((m.id for m in members if m.relationship == "head"), None)
    return HouseholdOut.model_validate(
        {
            **state,
            "valid_from": aware(state["valid_from"]),
            "area_code": area_code,
            "head_person_id": head,
            "members": members,
        }
    )


def household_timeline(
    session: Session, household_id: int, scope: Scope = None
) -> HouseholdTimeline:
    """Every version of a household, oldest first, with the change request that made it.

    Raises:
        NotFoundError: The household does not exist or is now outside ``scope``.
    """
    repo = HouseholdRepository(session)
    current = repo.get(household_id)
    if current is None or not _visible(session, current.area_id, scope):
        raise NotFoundError(f"household {household_id} not found")
    rows: list[tuple[dict[str, Any], datetime | None]] = [
        (household_state(h), aware(h.valid_to)) for h in repo.history(household_id)
    ]
    rows.append((household_state(current), None))
    codes = AreaRepository(session).codes_by_id({s["area_id"] for s, _ in rows})
    skip = {"version", "valid_from", "change_request_id", "changed_by", "status", "area_id"}
    return HouseholdTimeline(
        household_id=household_id,
        versions=[
            HouseholdVersion(
                version=s["version"],
                valid_from=aware(s["valid_from"]),
                valid_to=valid_to,
                change_request_id=s["change_request_id"],
                changed_by=s["changed_by"],
                area_code=codes.get(s["area_id"]),
                status=s["status"],
                fields={
                    k: (v.isoformat() if isinstance(v, date) else v)
                    for k, v in s.items()
                    if k not in skip
                },
            )
            for s, valid_to in rows
        ],
    )


def search_households(
    session: Session, search: RegistrySearch, scope: Scope = None
) -> Page[HouseholdSummary]:
    """Households matching ``search`` as of its moment, one page of summaries.

    Only households in ``scope`` are matched, listed and counted.

    Raises:
        ValidationFailed: The area is unknown, the age range is inverted or as_of is bad.
    """
    moment = as_moment(search.as_of)
    criteria = _criteria(session, search, moment, scope)
    size = _page_size(search.page_size)
    repo = HouseholdRepository(session)
    cap = get_settings().search_count_cap
    states, total, exact = repo.search(criteria, moment, search.page, size, cap)
    members = repo.members_at([s["id"] for s in states], moment)
    codes = AreaRepository(session).codes_by_id({s["area_id"] for s in states})
    items = []
    for state in states:
        own = [m for m in members if m["household_id"] == state["id"]]
        head = next((m for m in own if m["relationship"] == "head"), None)
        items.append(
            HouseholdSummary(
                id=state["id"],
                area_code=codes.get(state["area_id"]),
                status=state["status"],
                version=state["version"],
                head_person_id=head["id"] if head else None,
                head_name=f"{head['given_name']} {head['family_name']}" if head else None,
                member_count=len(own),
            )
        )
    return Page[HouseholdSummary](
        items=items, total=total, total_exact=exact, page=search.page, page_size=size
    )


def search_persons(
    session: Session, search: RegistrySearch, scope: Scope = None
) -> Page[PersonOut]:
    """Persons matching ``search`` as of its moment, one page (only those in ``scope``).

    Raises:
        ValidationFailed: The area is unknown, the age range is inverted or as_of is bad.
    """
    moment = as_moment(search.as_of)
    criteria = _criteria(session, search, moment, scope)
    size = _page_size(search.page_size)
    states, total, exact = PersonRepository(session).search(
        criteria, moment, search.page, size, get_settings().search_count_cap
    )
    items = _persons_out(session, states, moment)
    return Page[PersonOut](
        items=items, total=total, total_exact=exact, page=search.page, page_size=size
    )


def get_person(
    session: Session,
    person_id: int,
    as_of: date | datetime | str | None = None,
    scope: Scope = None,
) -> PersonOut:
    """A person with the identifiers valid at a moment.

    Raises:
        NotFoundError: The person does not exist, did not exist yet at ``as_of``, or
            lies outside ``scope``.
    """
    moment = as_moment(as_of)
    state = PersonRepository(session).state_at(person_id, moment)
    if state is not None and not _visible(session, state["area_id"], scope):
        state = None
    if state is None:
        when = f" as of {moment.isoformat()}" if moment else ""
        raise NotFoundError(f"person {person_id} not found{when}")
    return _persons_out(session, [state], moment)[0]


def counts(session: Session, scope: Scope) -> dict[str, int]:
    """Active households and persons within ``scope`` (``None``: national), and all areas."""
    from solidarity.registry.repository import HouseholdRepository, PersonCriteria, PersonRepository

    active = PersonCriteria(status="active", scope_paths=scope)
    return {
        "households": HouseholdRepository(session).search(active, None, 1, 1, None)[1],
        "persons": PersonRepository(session).search(active, None, 1, 1, None)[1],
        "areas": len(AreaRepository(session).list()),
    }
