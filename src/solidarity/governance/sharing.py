"""Data sharing agreements applied to every REST request of a machine client.

A machine client acts for an agency, and an agency receives only what its data
sharing agreements in force allow: the fields, the record types, the areas and
the operations they name. DCI requests are checked per search item by
:mod:`solidarity.interop`; every other route is checked here, once, for all
routes, present and future:

* :func:`scope_for` reads the agency's agreements in force today (for the purpose
  in the ``X-Purpose`` header, else every purpose) and refuses with the reason
  when none is (never signed, expired, not yet valid, another purpose), when the
  route's record type or operation is not covered, or when the client acts for
  no agency;
* the principal's areas are narrowed to the agreements' areas, so searches,
  counts and reads stop at them exactly as for a district officer;
* :class:`AgreementFilter`, a response middleware, removes from JSON responses
  every registry field (at any depth: members, payloads, shared records) that no
  agreement in force lists.

The agreement's record types, areas and operations are kept in its ``fields``
list as ``record:<type>``, ``area:<code>`` and ``op:<operation>`` entries until a
migration gives them columns; :func:`decode` and :func:`encode` hide that.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from solidarity.errors import ConflictError
from solidarity.governance.principal import Principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RECORD, AREA, OP = "record:", "area:", "op:"
#: Record types an agreement may name, and the REST path segments that serve them.
RECORD_TYPES: dict[str, str] = {
    "households": "household",
    "persons": "person",
    "change-requests": "change_request",
    "consents": "consent",
    "referrals": "referral",
    "services": "referral",
    "grievances": "grievance",
    "cases": "case",
    "programs": "programme",
    "imports": "import",
    "jobs": "job",
    "linkage": "linkage",
    "coherence": "coherence",
    "monitoring": "monitoring",
    "simulations": "simulation",
    "audit": "audit",
    "exports": "export",
}
OPERATIONS = ("search", "subscribe", "bulk", "write")
#: Reference data a client may read whatever its agreement says.
REFERENCE_SEGMENTS = frozenset({"areas", "auth"})
#: Keys that are personal data besides the catalogue's fields.
EXTRA_PERSONAL = frozenset(
    {
        "identifiers",
        "head_name",
        "other_names",
        "phone",
        "address",
        "latitude",
        "longitude",
        "extra",
        "complainant_name",
        "complainant_contact",
    }
)
DCI_PREFIX = "/dci/"
#: Routes outside the API a machine client may call: counts, no personal data.
OPERATIONAL_PATHS = frozenset({"/metrics"})


class AgreementRefused(ConflictError):
    """No data sharing agreement in force covers what a machine client asked for."""

    status_code = 403
    title = "Forbidden"


@dataclass(frozen=True)
class AgreementTerms:
    """An agreement's terms as stored in its ``fields`` list, decoded."""

    fields: list[str]
    record_types: list[str]
    area_codes: list[str]
    operations: list[str]


def encode(
    fields: Sequence[str],
    record_types: Sequence[str] = (),
    area_codes: Sequence[str] = (),
    operations: Sequence[str] = (),
) -> list[str]:
    """The stored ``fields`` list of an agreement with these terms."""
    return [
        *fields,
        *(RECORD + r for r in record_types),
        *(AREA + a for a in area_codes),
        *(OP + o for o in operations),
    ]


def decode(stored: Sequence[str]) -> AgreementTerms:
    """An agreement's terms from its stored ``fields`` list."""
    terms = AgreementTerms([], [], [], [])
    for entry in stored:
        for prefix, target in (
            (RECORD, terms.record_types),
            (AREA, terms.area_codes),
            (OP, terms.operations),
        ):
            if entry.startswith(prefix):
                target.append(entry.removeprefix(prefix))
                break
        else:
            terms.fields.append(entry)
    return terms


@dataclass(frozen=True)
class SharingScope:
    """What a client may receive now: ``None`` means the agreements do not restrict it."""

    agency_code: str
    agreements: tuple[str, ...]
    fields: frozenset[str]
    record_types: frozenset[str] | None
    area_codes: tuple[str, ...] | None
    operations: frozenset[str] | None

    def allows_field(self, name: str) -> bool:
        """Whether field ``name`` may be sent."""
        if "*" in self.fields or name in self.fields:
            return True
        if name == "head_name":
            return {"given_name", "family_name"} <= self.fields
        return name == "identifiers" and any(f.startswith("id_") for f in self.fields)


def _union(parts: list[list[str]]) -> frozenset[str] | None:
    # An agreement that names none restricts nothing; otherwise the union.
    if any(not p for p in parts):
        return None
    return frozenset().union(*map(frozenset, parts))


def scope_for(
    session: Session, agency_code: str | None, username: str, purpose: str | None, on: date
) -> SharingScope:
    """The union of the terms of the agency's agreements in force on ``on`` for ``purpose``.

    Raises:
        AgreementRefused: No agency, or no agreement in force (the reason says why).
    """
    from solidarity.governance.repository import AgreementRepository

    if agency_code is None:
        raise AgreementRefused(
            f"machine client {username} acts for no agency: registry data is shared only "
            "under a data sharing agreement with the client's agency"
        )
    rows = AgreementRepository(session).agreements(agency_code)
    if not rows:
        raise AgreementRefused(f"agency {agency_code} has no data sharing agreement")
    current = []
    for row in rows:
        if row.valid_from > on:
            continue
        if row.valid_to is not None and row.valid_to < on:
            continue
        if purpose is not None and purpose not in row.purposes:
            continue
        current.append(row)
    if not current:
        ended = sorted(r.valid_to for r in rows if r.valid_to is not None and r.valid_to < on)
        why = f"the last one expired on {ended[-1]}" if ended else "none is in force yet"
        if purpose is not None:
            why = f"none in force covers the purpose {purpose!r}"
        raise AgreementRefused(
            f"no data sharing agreement of {agency_code} is in force on {on}: {why}",
            agency_code=agency_code,
            purpose=purpose,
        )
    terms = [decode(r.fields) for r in current]
    areas = _union([t.area_codes for t in terms])
    return SharingScope(
        agency_code=agency_code,
        agreements=tuple(r.code for r in current),
        fields=frozenset().union(*(t.fields for t in terms)),
        record_types=_union([t.record_types for t in terms]),
        area_codes=None if areas is None else tuple(sorted(areas)),
        operations=_union([t.operations for t in terms]),
    )


def record_type_of(path: str) -> str | None:
    """The record type a REST path serves (``None`` for reference data)."""
    parts = [p for p in path.split("/") if p]
    segment = parts[2] if len(parts) > 2 and parts[:2] == ["api", "v1"] else None
    if segment is None or segment in REFERENCE_SEGMENTS:
        return None
    return RECORD_TYPES.get(segment, segment.replace("-", "_"))


def operation_of(method: str, record_type: str | None = None) -> str:
    """The agreement operation a REST request stands for."""
    if record_type == "export":
        return "bulk"
    return "search" if method in {"GET", "HEAD"} else "write"


def check_request(scope: SharingScope, record_type: str | None, operation: str) -> None:
    """Refuse a record type or operation no agreement in force covers.

    Raises:
        AgreementRefused: Naming the agreements and what they cover.
    """
    named = ", ".join(scope.agreements)
    types = scope.record_types
    if record_type is not None and types is not None and record_type not in types:
        raise AgreementRefused(
            f"the data sharing agreements of {scope.agency_code} in force ({named}) do not "
            f"cover {record_type} records; they cover {', '.join(sorted(types))}"
        )
    if scope.operations is not None and operation not in scope.operations:
        raise AgreementRefused(
            f"the data sharing agreements of {scope.agency_code} in force ({named}) do not "
            f"allow {operation!r}; they allow {', '.join(sorted(scope.operations))}"
        )


def narrowed_paths(grant_paths: tuple[str, ...] | None, agreed: Sequence[str]) -> tuple[str, ...]:
    """Area subtrees inside both the grants and the agreement (paths are prefixes)."""
    if grant_paths is None:
        return tuple(sorted(agreed))
    kept = set()
    for grant in grant_paths:
        for path in agreed:
            if path.startswith(grant):
                kept.add(path)
            elif grant.startswith(path):
                kept.add(grant)
    return tuple(sorted(kept))


def personal_keys() -> frozenset[str]:
    """Every key that carries registry data and is filtered by agreements."""
    from solidarity.registry.validation import deployment_catalogue

    catalogue = deployment_catalogue()
    names = {f.name for f in catalogue.by_name("person").values()}
    names |= {f.name for f in catalogue.by_name("household").values()}
    return frozenset(names | EXTRA_PERSONAL) - {"area_code"}


def filter_json(value: Any, scope: SharingScope, keys: frozenset[str]) -> Any:
    """``value`` without the registry fields ``scope`` does not allow, at any depth."""
    if isinstance(value, dict):
        return {
            k: filter_json(v, scope, keys)
            for k, v in value.items()
            if k not in keys or scope.allows_field(k)
        }
    if isinstance(value, list):
        return [filter_json(v, scope, keys) for v in value]
    return value


class AgreementFilter:
    """ASGI middleware filtering JSON responses of requests a sharing scope was set for."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            sharing = scope.get("state", {}).get("sharing_scope")
            if message["type"] == "http.response.start":
                if sharing is None:
                    await send(message)
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await send_filtered(start, b"".join(chunks), sharing)

        async def send_filtered(head: Message, body: bytes, sharing: SharingScope) -> None:
            headers = [(k, v) for k, v in head.get("headers", []) if k.lower() != b"content-length"]
            content_type = dict(head.get("headers", [])).get(b"content-type", b"")
            if content_type.startswith(b"application/json") and body:
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None
                if data is not None:
                    body = json.dumps(
                        filter_json(data, sharing, personal_keys()), separators=(",", ":")
                    ).encode()
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**head, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)


def narrow(
    session: Session,
    principal: Principal,
    *,
    path: str,
    method: str,
    purpose: str | None,
    on: date | None = None,
) -> tuple[Principal, SharingScope | None]:
    """A machine client's principal narrowed to its agreements, and their terms.

    Reference data (areas) is not narrowed and has no terms (``None``).

    Raises:
        AgreementRefused: No agreement in force covers the client, the record type
            or the operation.
    """
    from dataclasses import replace

    from solidarity.db.base import utcnow
    from solidarity.errors import NotFoundError
    from solidarity.registry import service as registry

    on = on or utcnow().date()
    if path in OPERATIONAL_PATHS:
        return principal, None
    if not path.startswith("/api/"):
        # Web pages render registry data as HTML the response filter cannot shape.
        raise AgreementRefused(
            f"machine client {principal.username} may not use web pages; use the API"
        )
    record_type = record_type_of(path)
    if record_type is None:  # reference data (areas) and the client's own account
        return principal, None
    terms = scope_for(session, principal.agency_code, principal.username, purpose, on)
    check_request(terms, record_type, operation_of(method, record_type))
    if terms.area_codes is not None:
        paths = []
        for code in terms.area_codes:
            try:
                paths.append(registry.get_area(session, code).path)
            except NotFoundError:  # an area removed since: it covers nothing
                continue
        principal = replace(principal, area_paths=narrowed_paths(principal.area_paths, paths))
    return principal, terms
