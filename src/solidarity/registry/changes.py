"""Change requests: the only way households and persons change after intake.

A request is validated when it is filed (and again when it is applied, since the
registry may have moved on), decided by someone other than its requester, and
applied in the same unit of work as its approval. Applying writes the previous
state of every touched household and person to history, checks the household
version the request was validated against (optimistic locking), and leaves each
active household with exactly one active head. Payloads are documented per kind
in ``docs/data-model.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from solidarity.config import get_settings
from solidarity.db.base import utcnow
from solidarity.errors import (
    ConflictError,
    NotFoundError,
    PermissionDenied,
    StaleVersionError,
    ValidationFailed,
)
from solidarity.registry.fields import Catalogue, Level
from solidarity.registry.history import close_household_version, close_person_version
from solidarity.registry.models import ChangeRequest, Household, Identifier, Person
from solidarity.registry.repository import (
    AreaRepository,
    ChangeRequestRepository,
    HouseholdRepository,
    IdentifierRepository,
    PersonRepository,
)
from solidarity.registry.schemas import CHANGE_KINDS, ChangeRequestOut, Page
from solidarity.registry.validation import check_fields, deployment_catalogue, json_ready

DEFAULT_FORMER_HEAD_RELATIONSHIP = "other_relative"

Error = dict[str, Any]


@dataclass
class _Check:
    """What validating one request needs: the household, the catalogue, the errors."""

    session: Session
    household: Household
    cat: Catalogue
    errors: list[Error] = field(default_factory=list)

    def error(self, where: str, message: str, value: Any = None) -> None:
        entry: Error = {"field": where, "message": message}
        if value is not None:
            entry["value"] = value
        self.errors.append(entry)

    def member(self, raw: Any, where: str) -> Person | None:
        """The active member ``raw`` names, or an error naming ``where``."""
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.error(where, "must be a person id (a whole number)", raw)
            return None
        person = PersonRepository(self.session).get(raw)
        if person is None:
            self.error(where, "no such person", raw)
            return None
        if person.household_id != self.household.id or person.status != "active":
            self.error(where, f"is not an active member of household {self.household.id}", raw)
            return None
        return person

    def code(self, raw: Any, codelist: str, where: str, *, not_head: bool = False) -> str | None:
        """``raw`` checked against ``codelist`` (and refused when it is ``head``)."""
        allowed = self.cat.lists.get(codelist, [])
        if raw not in allowed:
            self.error(where, f"must be one of the {codelist} codes ({', '.join(allowed)})", raw)
            return None
        if not_head and raw == "head":
            self.error(where, "a household has one head; use a change_head request", raw)
            return None
        return str(raw)

    def fields(
        self,
        level: Level,
        raw: Any,
        where: str,
        *,
        require_all: bool = False,
        forbidden: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Catalogue-checked field values of ``raw`` (a mapping), coerced."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.error(where, "must be an object of field names to values")
            return {}
        clean, errors = check_fields(
            level, raw, prefix=where, require_all=require_all, forbidden=forbidden, cat=self.cat
        )
        self.errors.extend(errors)
        return clean


@dataclass
class _Plan:
    """A validated request: the payload to store and the coerced values to apply."""

    payload: dict[str, Any]
    values: dict[str, Any]
    person_id: int | None = None
    other_household: Household | None = None


def _unknown_keys(check: _Check, payload: Mapping[str, Any], allowed: set[str]) -> None:
    for key in payload:
        if key not in allowed | {"base_version"}:
            check.error(f"payload.{key}", "unknown key for this kind of change")


def _set_fields(obj: Household | Person, values: Mapping[str, Any], cat: Catalogue) -> None:
    level: Level = "household" if isinstance(obj, Household) else "person"
    specs = cat.by_name(level)
    extra = dict(obj.extra or {})
    for name, value in values.items():
        if specs[name].extra:
            extra[name] = value.isoformat() if hasattr(value, "isoformat") else value
        else:
            setattr(obj, name, value)
    if extra != (obj.extra or {}):
        obj.extra = extra  # a new dict, so the JSON column is seen as changed


# --- Validation per kind -----------------------------------------------------


def _validate_update_fields(check: _Check, payload: Mapping[str, Any]) -> _Plan:
    _unknown_keys(check, payload, {"household", "person_id", "person"})
    household = check.fields(
        "household",
        payload.get("household"),
        "household",
        forbidden={"area_code": "use a move_household change request"},
    )
    person_values: dict[str, Any] = {}
    person: Person | None = None
    if payload.get("person") is not None or payload.get("person_id") is not None:
        person = check.member(payload.get("person_id"), "person_id")
        person_values = check.fields("person", payload.get("person"), "person")
        relationship = person_values.get("relationship")
        if person is not None and relationship is not None:
            if relationship == "head" and person.relationship != "head":
                check.error("person.relationship", "use a change_head request", relationship)
            if person.relationship == "head" and relationship != "head":
                check.error(
                    "person.relationship",
                    "the head's relationship changes only through change_head",
                    relationship,
                )
    if not household and not person_values:
        check.error("payload", "nothing to change: give household and/or person fields")
    stored: dict[str, Any] = {}
    if household:
        stored["household"] = json_ready(household)
    if person is not None:
        stored["person_id"] = person.id
        stored["person"] = json_ready(person_values)
    return _Plan(
        payload=stored,
        values={"household": household, "person": person_values, "target": person},
        person_id=person.id if person else None,
    )


def _validate_identifiers(check: _Check, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        check.error("identifiers", "must be a list of {id_type, value}")
        return []
    seen: set[tuple[str, str]] = set()
    clean: list[dict[str, Any]] = []
    holders = IdentifierRepository(check.session)
    for index, item in enumerate(raw):
        where = f"identifiers[{index}]"
        if not isinstance(item, Mapping):
            check.error(where, "must be an object with id_type and value")
            continue
        id_type = check.code(item.get("id_type"), "identifier_type", f"{where}.id_type")
        value = item.get("value")
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > 128:
            check.error(f"{where}.value", "must be text of 1 to 128 characters", value)
            continue
        if id_type is None:
            continue
        value = value.strip()
        if (id_type, value) in seen:
            check.error(f"{where}.value", "given twice in this request", value)
            continue
        seen.add((id_type, value))
        holder = holders.active_holder(id_type, value)
        if holder is not None:
            check.error(f"{where}.value", f"already held by person {holder}", value)
            continue
        issuer = item.get("issuer")
        clean.append(
            {
                "id_type": id_type,
                "value": value,
                "issuer": str(issuer) if issuer else None,
                "verified": bool(item.get("verified", False)),
            }
        )
    return clean


def _validate_add_member(check: _Check, payload: Mapping[str, Any]) -> _Plan:
    _unknown_keys(check, payload, {"person", "identifiers"})
    if not isinstance(payload.get("person"), Mapping):
        check.error("person", "is required: the new member's fields")
    person = check.fields("person", payload.get("person"), "person", require_all=True)
    if person.get("relationship") == "head":
        check.error(
            "person.relationship",
            "a household has one head; add the member, then file a change_head request",
            "head",
        )
    identifiers = _validate_identifiers(check, payload.get("identifiers"))
    return _Plan(
        payload={"person": json_ready(person), "identifiers": identifiers},
        values={"person": person, "identifiers": identifiers},
    )


def _validate_remove_member(check: _Check, payload: Mapping[str, Any]) -> _Plan:
    _unknown_keys(check, payload, {"person_id", "removal_reason", "new_head_person_id"})
    person = check.member(payload.get("person_id"), "person_id")
    reason = check.code(payload.get("removal_reason"), "removal_reason", "removal_reason")
    new_head: Person | None = None
    if person is not None and person.relationship == "head":
        others = [
            p
            for p in HouseholdRepository(check.session).active_members(check.household.id)
            if p.id != person.id
        ]
        if others and payload.get("new_head_person_id") is None:
            check.error("new_head_person_id", "is required when the head leaves and members remain")
        elif others:
            new_head = check.member(payload.get("new_head_person_id"), "new_head_person_id")
            if new_head is not None and new_head.id == person.id:
                check.error("new_head_person_id", "must be another member", new_head.id)
                new_head = None
    elif payload.get("new_head_person_id") is not None:
        check.error("new_head_person_id", "only when the member removed is the head")
    stored: dict[str, Any] = {
        "person_id": person.id if person else None,
        "removal_reason": reason,
    }
    if new_head is not None:
        stored["new_head_person_id"] = new_head.id
    return _Plan(
        payload=stored,
        values={"target": person, "reason": reason, "new_head": new_head},
        person_id=person.id if person else None,
    )


def _validate_change_head(check: _Check, payload: Mapping[str, Any]) -> _Plan:
    _unknown_keys(check, payload, {"person_id", "previous_head_relationship"})
    person = check.member(payload.get("person_id"), "person_id")
    if person is not None and person.relationship == "head":
        check.error("person_id", "is already the head", person.id)
    former = check.code(
        payload.get("previous_head_relationship", DEFAULT_FORMER_HEAD_RELATIONSHIP),
        "relationship",
        "previous_head_relationship",
        not_head=True,
    )
    return _Plan(
        payload={
            "person_id": person.id if person else None,
            "previous_head_relationship": former,
        },
        values={"target": person, "former": former},
        person_id=person.id if person else None,
    )


def _area_id(check: _Check, raw: Any, where: str) -> int | None:
    if not isinstance(raw, str) or not raw.strip():
        check.error(where, "must be an area code", raw)
        return None
    area = AreaRepository(check.session).by_code(raw.strip())
    if area is None:
        check.error(where, "unknown area code", raw)
        return None
    return area.id


def _validate_move_household(check: _Check, payload: Mapping[str, Any]) -> _Plan:
    _unknown_keys(check, payload, {"area_code"})
    area_id = _area_id(check, payload.get("area_code"), "area_code")
    if area_id is not None and area_id == check.household.area_id:
        check.error("area_code", "the household is already in this area", payload["area_code"])
    return _Plan(payload={"area_code": payload.get("area_code")}, values={"area_id": area_id})


def _person_ids(check: _Check, raw: Any, where: str) -> list[Person]:
    if not isinstance(raw, list) or not raw:
        check.error(where, "must be a non-empty list of person ids")
        return []
    if len(set(map(repr, raw))) != len(raw):
        check.error(where, "lists a person twice")
    found = [check.member(item, f"{where}[{i}]") for i, item in enumerate(raw)]
    return [p for p in found if p is not None]


def _validate_split_household(check: _Check, payload: Mapping[str, Any]) -> _Plan:
    allowed = {"person_ids", "head_person_id", "remaining_head_person_id", "area_code"}
    _unknown_keys(check, payload, allowed | {"household", "relationships"})
    leaving = _person_ids(check, payload.get("person_ids"), "person_ids")
    leaving_ids = {p.id for p in leaving}
    members = HouseholdRepository(check.session).active_members(check.household.id)
    staying = [p for p in members if p.id not in leaving_ids]
    if leaving and not staying:
        check.error("person_ids", "the original household must keep at least one member")
    head_id = payload.get("head_person_id")
    if head_id not in leaving_ids:
        check.error("head_person_id", "must be one of person_ids", head_id)
    old_head = next((p for p in members if p.relationship == "head"), None)
    remaining_head: Person | None = None
    if old_head is not None and old_head.id in leaving_ids and staying:
        remaining_head = check.member(
            payload.get("remaining_head_person_id"), "remaining_head_person_id"
        )
        if remaining_head is not None and remaining_head.id in leaving_ids:
            check.error("remaining_head_person_id", "must stay in the original household")
            remaining_head = None
    elif payload.get("remaining_head_person_id") is not None:
        check.error("remaining_head_person_id", "only when the head leaves")
    area_id = check.household.area_id
    if payload.get("area_code") is not None:
        area_id = _area_id(check, payload["area_code"], "area_code") or area_id
    household = check.fields(
        "household",
        payload.get("household"),
        "household",
        forbidden={"area_code": "give the new household's area as area_code"},
    )
    relationships: dict[int, str] = {}
    raw_rel = payload.get("relationships") or {}
    if not isinstance(raw_rel, Mapping):
        check.error("relationships", "must map person ids to relationship codes")
        raw_rel = {}
    for key, code in raw_rel.items():
        where = f"relationships.{key}"
        if not str(key).isdigit() or int(key) not in leaving_ids:
            check.error(where, "must be one of person_ids")
            continue
        if int(key) == head_id:
            check.error(where, "is the new head")
            continue
        rel = check.code(code, "relationship", where, not_head=True)
        if rel is not None:
            relationships[int(key)] = rel
    stored: dict[str, Any] = {
        "person_ids": [p.id for p in leaving],
        "head_person_id": head_id,
        "area_code": payload.get("area_code"),
    }
    if remaining_head is not None:
        stored["remaining_head_person_id"] = remaining_head.id
    if household:
        stored["household"] = json_ready(household)
    if relationships:
        stored["relationships"] = {str(k): v for k, v in relationships.items()}
    return _Plan(
        payload=stored,
        values={
            "leaving": leaving,
            "head_id": head_id,
            "remaining_head": remaining_head,
            "area_id": area_id,
            "household": household,
            "relationships": relationships,
        },
    )


def _validate_merge_households(check: _Check, payload: Mapping[str, Any]) -> _Plan:
    _unknown_keys(
        check,
        payload,
        {"absorbed_household_id", "absorbed_head_relationship", "absorbed_base_version"},
    )
    raw = payload.get("absorbed_household_id")
    other: Household | None = None
    if isinstance(raw, bool) or not isinstance(raw, int):
        check.error("absorbed_household_id", "must be a household id", raw)
    elif raw == check.household.id:
        check.error("absorbed_household_id", "a household cannot absorb itself", raw)
    else:
        other = HouseholdRepository(check.session).get(raw)
        if other is None:
            check.error("absorbed_household_id", "no such household", raw)
        elif other.status != "active":
            check.error("absorbed_household_id", f"household is {other.status}", raw)
            other = None
    former = check.code(
        payload.get("absorbed_head_relationship", DEFAULT_FORMER_HEAD_RELATIONSHIP),
        "relationship",
        "absorbed_head_relationship",
        not_head=True,
    )
    stored: dict[str, Any] = {"absorbed_household_id": raw, "absorbed_head_relationship": former}
    if other is not None:
        base = payload.get("absorbed_base_version", other.version)
        stored["absorbed_base_version"] = base
    return _Plan(payload=stored, values={"former": former}, other_household=other)


_VALIDATORS: dict[str, Callable[[_Check, Mapping[str, Any]], _Plan]] = {
    "update_fields": _validate_update_fields,
    "add_member": _validate_add_member,
    "remove_member": _validate_remove_member,
    "change_head": _validate_change_head,
    "move_household": _validate_move_household,
    "split_household": _validate_split_household,
    "merge_households": _validate_merge_households,
}


# --- Applying per kind -------------------------------------------------------


@dataclass
class _Apply:
    """What applying one request needs: when, who, and which request."""

    session: Session
    request: ChangeRequest
    household: Household
    at: datetime
    actor: str
    cat: Catalogue

    def person(self, person: Person) -> Person:
        """``person`` with its current state kept as history, ready to change."""
        close_person_version(
            self.session, person, at=self.at, change_request_id=self.request.id, actor=self.actor
        )
        return person

    def stamp(self, obj: Household | Person) -> None:
        """Mark a new row as made by this request."""
        obj.valid_from = self.at
        obj.change_request_id = self.request.id
        obj.changed_by = self.actor
        obj.created_by = self.actor
        obj.updated_by = self.actor


def _apply_update_fields(ctx: _Apply, plan: _Plan) -> dict[str, Any]:
    _set_fields(ctx.household, plan.values["household"], ctx.cat)
    target: Person | None = plan.values["target"]
    if target is not None and plan.values["person"]:
        _set_fields(ctx.person(target), plan.values["person"], ctx.cat)
    return {"household_fields": sorted(plan.values["household"]), "person_id": plan.person_id}


def _apply_add_member(ctx: _Apply, plan: _Plan) -> dict[str, Any]:
    person = Person(household_id=ctx.household.id, area_id=ctx.household.area_id, status="active")
    ctx.stamp(person)
    _set_fields(person, plan.values["person"], ctx.cat)
    ctx.session.add(person)
    ctx.session.flush()
    for ident in plan.values["identifiers"]:
        ctx.session.add(
            Identifier(
                person_id=person.id,
                valid_from=ctx.at,
                active=True,
                created_by=ctx.actor,
                updated_by=ctx.actor,
                **ident,
            )
        )
    return {"person_id": person.id}


def _apply_remove_member(ctx: _Apply, plan: _Plan) -> dict[str, Any]:
    target = ctx.person(plan.values["target"])
    reason = plan.values["reason"]
    target.status = "deceased" if reason == "death" else "removed"
    target.removal_reason = reason
    result: dict[str, Any] = {"person_id": target.id, "person_status": target.status}
    new_head: Person | None = plan.values["new_head"]
    if new_head is not None:
        ctx.person(new_head).relationship = "head"
        result["new_head_person_id"] = new_head.id
    if not HouseholdRepository(ctx.session).active_members(ctx.household.id):
        ctx.household.status = "dissolved"
    result["household_status"] = ctx.household.status
    return result


def _apply_change_head(ctx: _Apply, plan: _Plan) -> dict[str, Any]:
    members = HouseholdRepository(ctx.session).active_members(ctx.household.id)
    former_ids = []
    for member in members:
        if member.relationship == "head":
            ctx.person(member).relationship = plan.values["former"]
            former_ids.append(member.id)
    ctx.person(plan.values["target"]).relationship = "head"
    return {
        "head_person_id": plan.values["target"].id,
        "previous_head_person_id": former_ids[0] if former_ids else None,
    }


def _apply_move_household(ctx: _Apply, plan: _Plan) -> dict[str, Any]:
    from_area = ctx.household.area_id
    ctx.household.area_id = plan.values["area_id"]
    moved = []
    for member in HouseholdRepository(ctx.session).active_members(ctx.household.id):
        ctx.person(member).area_id = plan.values["area_id"]
        moved.append(member.id)
    codes = AreaRepository(ctx.session).codes_by_id({from_area, plan.values["area_id"]})
    return {
        "from_area_code": codes.get(from_area),
        "area_code": codes.get(plan.values["area_id"]),
        "moved_person_ids": moved,
    }


def _apply_split_household(ctx: _Apply, plan: _Plan) -> dict[str, Any]:
    new = Household(
        area_id=plan.values["area_id"], status="active", registration_date=ctx.at.date()
    )
    ctx.stamp(new)
    _set_fields(new, plan.values["household"], ctx.cat)
    ctx.session.add(new)
    ctx.session.flush()
    relationships: dict[int, str] = plan.values["relationships"]
    for member in plan.values["leaving"]:
        was_head = member.relationship == "head"
        ctx.person(member)
        member.household_id = new.id
        member.area_id = new.area_id
        if member.id == plan.values["head_id"]:
            member.relationship = "head"
        elif member.id in relationships:
            member.relationship = relationships[member.id]
        elif was_head:
            member.relationship = DEFAULT_FORMER_HEAD_RELATIONSHIP
    remaining_head: Person | None = plan.values["remaining_head"]
    if remaining_head is not None:
        ctx.person(remaining_head).relationship = "head"
    return {
        "new_household_id": new.id,
        "moved_person_ids": [p.id for p in plan.values["leaving"]],
    }


def _apply_merge_households(ctx: _Apply, plan: _Plan) -> dict[str, Any]:
    other = plan.other_household
    assert other is not None  # validated
    moved = []
    for member in HouseholdRepository(ctx.session).active_members(other.id):
        was_head = member.relationship == "head"
        ctx.person(member)
        member.household_id = ctx.household.id
        member.area_id = ctx.household.area_id
        if was_head:
            member.relationship = plan.values["former"]
        moved.append(member.id)
    close_household_version(
        ctx.session, other, at=ctx.at, change_request_id=ctx.request.id, actor=ctx.actor
    )
    other.status = "merged"
    return {"absorbed_household_id": other.id, "moved_person_ids": moved}


_APPLIERS: dict[str, Callable[[_Apply, _Plan], dict[str, Any]]] = {
    "update_fields": _apply_update_fields,
    "add_member": _apply_add_member,
    "remove_member": _apply_remove_member,
    "change_head": _apply_change_head,
    "move_household": _apply_move_household,
    "split_household": _apply_split_household,
    "merge_households": _apply_merge_households,
}


# --- The service -------------------------------------------------------------


def _active_household(session: Session, household_id: int) -> Household:
    household = HouseholdRepository(session).get(household_id)
    if household is None:
        raise NotFoundError(f"household {household_id} not found")
    if household.status != "active":
        raise ConflictError(
            f"household {household_id} is {household.status}; only active households change"
        )
    return household


def _check_version(household: Household, expected: Any, where: str) -> int:
    if expected is None:
        return household.version
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise ValidationFailed(
            f"{where} must be a whole number",
            [{"field": where, "value": expected, "message": "must be a whole number"}],
        )
    if expected != household.version:
        raise StaleVersionError(
            f"household {household.id} is at version {household.version}, "
            f"this change was prepared against version {expected}; read it again and refile",
            household_id=household.id,
            expected_version=expected,
            current_version=household.version,
        )
    return expected


def _plan(session: Session, kind: str, household: Household, payload: Mapping[str, Any]) -> _Plan:
    check = _Check(session=session, household=household, cat=deployment_catalogue())
    plan = _VALIDATORS[kind](check, payload)
    if check.errors:
        raise ValidationFailed(
            f"{kind} change to household {household.id} refused: {len(check.errors)} error(s)",
            check.errors,
        )
    return plan


def create_change_request(
    session: Session,
    *,
    kind: str,
    household_id: int,
    payload: Mapping[str, Any],
    actor: str,
    reason: str | None = None,
) -> ChangeRequest:
    """File a change request after validating it against the registry as it is now.

    The household version it was validated against is stored as
    ``payload.base_version`` (the caller may pass the version it read, e.g. an ETag).

    Raises:
        NotFoundError: The household does not exist.
        ConflictError: The household is no longer active.
        StaleVersionError: The caller's ``base_version`` is not the current one.
        ValidationFailed: The kind or payload is invalid; errors name field and reason.
    """
    if kind not in CHANGE_KINDS:
        raise ValidationFailed(
            f"unknown change request kind {kind!r}",
            [{"field": "kind", "value": kind, "message": f"use one of {', '.join(CHANGE_KINDS)}"}],
        )
    if not isinstance(payload, Mapping):
        raise ValidationFailed(
            "payload must be an object", [{"field": "payload", "message": "must be an object"}]
        )
    household = _active_household(session, household_id)
    base_version = _check_version(household, payload.get("base_version"), "payload.base_version")
    plan = _plan(session, kind, household, payload)
    if plan.other_household is not None:
        _check_version(
            plan.other_household,
            payload.get("absorbed_base_version"),
            "payload.absorbed_base_version",
        )
    request = ChangeRequest(
        kind=kind,
        status="submitted",
        household_id=household.id,
        person_id=plan.person_id,
        area_id=household.area_id,
        payload={**plan.payload, "base_version": base_version},
        reason=reason,
        requested_by=actor,
        validation_errors=[],
        created_by=actor,
        updated_by=actor,
    )
    session.add(request)
    session.flush()
    return request


def _submitted(
    session: Session, change_request_id: int, actor: str, expected_version: int | None
) -> ChangeRequest:
    request = ChangeRequestRepository(session).get(change_request_id)
    if request is None:
        raise NotFoundError(f"change request {change_request_id} not found")
    request.expect_version(expected_version, f"change request {change_request_id}")
    if request.status != "submitted":
        raise ConflictError(
            f"change request {change_request_id} is {request.status}; "
            "only submitted requests can be decided"
        )
    if request.requested_by == actor:
        raise PermissionDenied(
            f"{actor} filed change request {change_request_id} and cannot also decide it "
            "(maker-checker)"
        )
    return request


def apply_change_request(session: Session, request: ChangeRequest, *, actor: str) -> None:
    """Apply an approved request: history first, then the change, then the checks.

    Raises:
        ConflictError: A household is no longer active or would not have exactly one head.
        StaleVersionError: A household changed since the request was validated.
        ValidationFailed: The request no longer fits the registry.
    """
    if request.household_id is None:
        raise ConflictError(f"change request {request.id} names no household")
    household = _active_household(session, request.household_id)
    payload = request.payload
    _check_version(household, payload.get("base_version"), "payload.base_version")
    plan = _plan(session, request.kind, household, payload)
    if plan.other_household is not None:
        _check_version(
            plan.other_household,
            payload.get("absorbed_base_version"),
            "payload.absorbed_base_version",
        )
    at = utcnow()
    close_household_version(session, household, at=at, change_request_id=request.id, actor=actor)
    ctx = _Apply(session, request, household, at, actor, deployment_catalogue())
    result = _APPLIERS[request.kind](ctx, plan)
    try:
        session.flush()
    except StaleDataError as exc:
        raise StaleVersionError(
            f"household {household.id} or one of its members changed meanwhile; refile"
        ) from exc
    repo = HouseholdRepository(session)
    touched = [household.id]
    if "new_household_id" in result:
        touched.append(result["new_household_id"])
    for household_id in touched:
        current = repo.get(household_id)
        if current is not None and current.status == "active":
            heads = repo.count_heads(household_id)
            if heads != 1:
                raise ConflictError(
                    f"household {household_id} would have {heads} active heads; "
                    "exactly one is required (file a change_head request first)"
                )
    request.status = "applied"
    request.applied_at = at
    request.effective_at = at
    request.result = {**result, "household_version": household.version}
    request.updated_by = actor
    session.flush()


def approve_change_request(
    session: Session,
    change_request_id: int,
    *,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> ChangeRequest:
    """Approve a submitted request and apply it in the same unit of work.

    ``expected_version`` is the request's version the approver read (``None``: not checked).

    Raises:
        NotFoundError: No such request.
        ConflictError: The request is not submitted, or applying it would break the registry.
        PermissionDenied: ``actor`` filed the request (maker-checker).
        StaleVersionError: The household changed since the request was validated, or
            the request is no longer at ``expected_version``.
        ValidationFailed: The request no longer fits the registry.
    """
    request = _submitted(session, change_request_id, actor, expected_version)
    request.status = "approved"
    request.decided_by = actor
    request.decided_at = utcnow()
    request.decision_reason = reason
    apply_change_request(session, request, actor=actor)
    return request


def reject_change_request(
    session: Session,
    change_request_id: int,
    *,
    actor: str,
    reason: str,
    expected_version: int | None = None,
) -> ChangeRequest:
    """Reject a submitted request with a reason; the registry is untouched.

    Raises:
        NotFoundError: No such request.
        ConflictError: The request is not submitted.
        PermissionDenied: ``actor`` filed the request (maker-checker).
        StaleVersionError: The request is no longer at ``expected_version``.
        ValidationFailed: No reason was given.
    """
    if not reason or not reason.strip():
        raise ValidationFailed(
            "a rejection needs a reason", [{"field": "reason", "message": "is required"}]
        )
    request = _submitted(session, change_request_id, actor, expected_version)
    request.status = "rejected"
    request.decided_by = actor
    request.decided_at = utcnow()
    request.decision_reason = reason.strip()
    request.updated_by = actor
    session.flush()
    return request


def get_change_request(
    session: Session, change_request_id: int, scope: Sequence[str] | None = None
) -> ChangeRequest:
    """The change request ``change_request_id``.

    Args:
        session: The unit of work.
        change_request_id: The request.
        scope: Area path prefixes the reader may see; a request about a household
            outside them is "not found" (``None``: national).

    Raises:
        NotFoundError: No such request, or it lies outside ``scope``.
    """
    request = ChangeRequestRepository(session).get(change_request_id)
    if request is not None and scope is not None:
        path = AreaRepository(session).path_of(request.area_id) if request.area_id else None
        if path is None or not any(path.startswith(prefix) for prefix in scope):
            request = None
    if request is None:
        raise NotFoundError(f"change request {change_request_id} not found")
    return request


def list_change_requests(
    session: Session,
    *,
    status: str | None = None,
    household_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
    scope: Sequence[str] | None = None,
) -> Page[ChangeRequestOut]:
    """Change requests, newest first, optionally of one status or household.

    Only requests about households in ``scope`` are listed and counted.
    """
    size = max(1, min(page_size, get_settings().page_size_max))
    rows, total = ChangeRequestRepository(session).page(
        status=status, household_id=household_id, page=page, page_size=size, scope_paths=scope
    )
    return Page[ChangeRequestOut](
        items=[ChangeRequestOut.model_validate(r) for r in rows],
        total=total,
        page=page,
        page_size=size,
    )
