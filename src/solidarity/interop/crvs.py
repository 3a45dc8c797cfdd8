"""The CRVS client: births and deaths from a civil registry become registry change requests.

Events arrive by ``solidarity interop crvs sync --since DATE`` (a DCI search of
the civil registry) or by notifications to ``/dci/crvs/registry/notify`` after
``solidarity interop crvs subscribe``. Each event is kept in ``crvs_event`` once
(by source, type and registration number), then:

* a **birth** adds the child to the mother's household (``add_member``, with the
  birth registration number as ``birth_certificate``);
* a **death** removes the person with reason ``death`` (``remove_member``);

as *submitted* change requests, so a registry supervisor approves them like any
other change (maker-checker). The person (the mother, the deceased) is found by
national identifier; without one, through the linkage model
(``linkage.service.possible_duplicates``, ``match`` band only), or an exact
name-and-birth-date match when no model is trained. Events that match nobody,
or several people, go to the review list.

Civil registries differ (digest section 12): records are read through a small
profile accepting DCI ``CRVS_Person`` keys and OpenCRVS' schema.org-style keys,
and the raw record is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from sqlalchemy.orm import Session

from solidarity.errors import ConflictError, NotFoundError, SolidarityError, ValidationFailed
from solidarity.governance import audit
from solidarity.interop.envelope import new_id, now_ts, request_header
from solidarity.interop.errors import InteropError
from solidarity.interop.models import CrvsEvent
from solidarity.interop.repository import CrvsRepository
from solidarity.interop.settings import InteropSettings, interop_settings
from solidarity.registry import changes
from solidarity.registry import service as registry
from solidarity.registry.schemas import RegistrySearch

logger = logging.getLogger(__name__)

BIRTH_WORDS = {"birth", "live_birth", "livebirth", "births"}
DEATH_WORDS = {"death", "deaths"}
UIN_TYPES = {"UIN", "NID", "NATIONALID", "NATIONAL_ID"}
SEX = {"male": "male", "m": "male", "female": "female", "f": "female", "other": "other"}


@dataclass
class VitalEvent:
    """A birth or death read from a civil registry record."""

    event_type: str  # birth | death
    external_id: str
    given_name: str | None
    family_name: str | None
    sex: str | None
    birth_date: str | None
    death_date: str | None
    uin: str | None
    mother_uin: str | None
    mother: dict[str, Any]
    raw: dict[str, Any]


def _identifiers(raw: Any) -> dict[str, str]:
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, Mapping) else []
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("identifier_type") or item.get("name") or item.get("type")
        value = item.get("identifier_value") or item.get("identifier") or item.get("value")
        if kind and value:
            out[str(kind).upper()] = str(value)
    return out


def _uin(identifiers: Mapping[str, str]) -> str | None:
    return next((v for k, v in identifiers.items() if k in UIN_TYPES), None)


def read_event(record: Mapping[str, Any], event_type: str | None = None) -> VitalEvent:
    """A vital event from a CRVS person record (DCI or OpenCRVS keys).

    Raises:
        ValidationFailed: The record has no registration number or no known event type.
    """
    name = record.get("name") if isinstance(record.get("name"), Mapping) else {}
    assert isinstance(name, Mapping)
    ids = _identifiers(record.get("identifier") or record.get("identifiers"))
    death = record.get("death_date") or record.get("deathDate")
    kind = (event_type or record.get("reg_event_type") or ("death" if death else "birth")).lower()
    kind = kind.split(":")[-1].replace("-", "_")
    if kind in BIRTH_WORDS:
        kind, number = "birth", ids.get("BRN")
    elif kind in DEATH_WORDS:
        kind, number = "death", ids.get("DRN")
    else:
        raise ValidationFailed(
            f"unknown vital event {kind!r}", [{"field": "reg_event_type", "value": kind}]
        )
    number = (
        number or ids.get("OPENCRVS_RECORD_ID") or (str(record["id"]) if "id" in record else None)
    )
    if not number:
        raise ValidationFailed(
            f"a {kind} record without a registration number",
            [{"field": "identifier", "message": "BRN or DRN required"}],
        )
    parents = [record.get("parent1_identifier"), record.get("parent2_identifier")]
    mother_uin = None
    for parent in parents:
        found = _uin(_identifiers(parent))
        if found:
            mother_uin = found
            break
    mother = record.get("mother") if isinstance(record.get("mother"), Mapping) else {}
    assert isinstance(mother, Mapping)
    return VitalEvent(
        event_type=kind,
        external_id=number,
        given_name=name.get("given_name") or record.get("givenName"),
        family_name=name.get("surname") or record.get("familyName"),
        sex=SEX.get(str(record.get("sex") or record.get("gender") or "").lower()),
        birth_date=record.get("birth_date") or record.get("birthDate"),
        death_date=death,
        uin=_uin(ids),
        mother_uin=mother_uin,
        mother=dict(mother),
        raw=dict(record),
    )


# --- matching ----------------------------------------------------------------------------


@dataclass
class Match:
    """Who an event is about in the registry, and how that was decided."""

    person_id: int | None
    household_id: int | None
    how: str
    candidates: list[int]


def _by_identifier(session: Session, uin: str) -> list[tuple[int, int]]:
    page = registry.search_persons(
        session, RegistrySearch(id_type="national_id", id_value=uin, status="active", page_size=5)
    )
    return [(p.id, p.household_id) for p in page.items]


def _by_linkage(session: Session, person: Mapping[str, Any]) -> tuple[list[tuple[int, int]], str]:
    from solidarity.linkage import service as linkage

    try:
        found = linkage.possible_duplicates(session, person, limit=5)
    except (SolidarityError, ImportError) as exc:
        # No trained model (or the linkage extra is missing): exact name and birth date.
        logger.info("linkage unavailable (%s): exact matching instead", exc)
        if not person.get("family_name") or not person.get("birth_date"):
            return [], "exact"
        page = registry.search_persons(
            session,
            RegistrySearch(
                name=f"{person.get('given_name') or ''} {person['family_name']}",
                status="active",
                page_size=20,
            ),
        )
        born = str(person["birth_date"])[:10]
        hits = [
            (p.id, p.household_id)
            for p in page.items
            if p.birth_date.isoformat() == born
            and p.family_name.lower() == str(person["family_name"]).lower()
        ]
        return hits, "exact"
    matches = [(d.person_id, d.household_id or 0) for d in found if d.band == "match"]
    return matches, "linkage"


def match_person(session: Session, uin: str | None, person: Mapping[str, Any]) -> Match:
    """The registry person an event names: by identifier, else through linkage."""
    if uin:
        hits = _by_identifier(session, uin)
        if hits:
            return Match(hits[0][0], hits[0][1], "identifier", [h[0] for h in hits])
    hits, how = _by_linkage(session, person)
    if len(hits) == 1:
        return Match(hits[0][0], hits[0][1], how, [hits[0][0]])
    return Match(None, None, how, [h[0] for h in hits])


# --- change requests ------------------------------------------------------------------------


def _birth_request(session: Session, event: VitalEvent, household_id: int, actor: str) -> int:
    person = {
        "given_name": event.given_name,
        "family_name": event.family_name,
        "sex": event.sex,
        "birth_date": (event.birth_date or "")[:10],
        "relationship": "child",
    }
    request = changes.create_change_request(
        session,
        kind="add_member",
        household_id=household_id,
        payload={
            "person": person,
            "identifiers": [
                {
                    "id_type": "birth_certificate",
                    "value": event.external_id,
                    "issuer": "CRVS",
                    "verified": True,
                }
            ],
        },
        actor=actor,
        reason=f"CRVS birth registration {event.external_id}",
    )
    return request.id


def _death_request(
    session: Session, event: VitalEvent, person_id: int, household_id: int, actor: str
) -> int:
    payload: dict[str, Any] = {"person_id": person_id, "removal_reason": "death"}
    household = registry.get_household(session, household_id)
    member = next((m for m in household.members if m.id == person_id), None)
    if member is not None and member.relationship == "head":
        others = [m for m in household.members if m.id != person_id]
        if others:
            # The spouse, else the oldest member, becomes head; the supervisor sees it.
            spouse = [m for m in others if m.relationship == "spouse"]
            payload["new_head_person_id"] = (spouse or sorted(others, key=lambda m: m.birth_date))[
                0
            ].id
    request = changes.create_change_request(
        session,
        kind="remove_member",
        household_id=household_id,
        payload=payload,
        actor=actor,
        reason=f"CRVS death registration {event.external_id}"
        + (f" on {event.death_date}" if event.death_date else ""),
    )
    return request.id


def ingest(session: Session, source: str, event: VitalEvent, *, actor: str) -> CrvsEvent:
    """Record a vital event once and file its change request, or put it on the review list."""
    repo = CrvsRepository(session)
    existing = repo.find(source, event.event_type, event.external_id)
    if existing is not None:
        return existing  # the same registration again: idempotent
    if event.event_type == "birth":
        who = {**event.mother}
        match = (
            match_person(session, event.mother_uin, who)
            if (event.mother_uin or who)
            else Match(None, None, "none", [])
        )
    else:
        who = {
            "given_name": event.given_name,
            "family_name": event.family_name,
            "birth_date": event.birth_date,
            "sex": event.sex,
        }
        match = match_person(session, event.uin, who)
    row = CrvsEvent(
        source=source,
        event_type=event.event_type,
        external_id=event.external_id,
        event_date=(event.death_date if event.event_type == "death" else event.birth_date),
        record=event.raw,
        status="review",
        person_id=match.person_id,
        household_id=match.household_id,
        match={"how": match.how, "candidates": match.candidates},
        created_by=actor,
        updated_by=actor,
    )
    if match.person_id is None or match.household_id is None:
        row.note = (
            "several registry persons match" if match.candidates else "no registry person matches"
        )
    else:
        try:
            with session.begin_nested():
                if event.event_type == "birth":
                    row.change_request_id = _birth_request(
                        session, event, match.household_id, actor
                    )
                else:
                    row.change_request_id = _death_request(
                        session, event, match.person_id, match.household_id, actor
                    )
            row.status = "change_requested"
        except (ValidationFailed, ConflictError, NotFoundError) as exc:
            row.note = f"the change request was refused: {exc.detail}"[:1000]
    repo.add(row)
    audit.record(
        session,
        actor=actor,
        action=f"crvs.{event.event_type}",
        object_type="crvs_event",
        object_id=row.id,
        details={
            "source": source,
            "external_id": event.external_id,
            "status": row.status,
            "person_id": row.person_id,
            "change_request_id": row.change_request_id,
            "match": row.match,
        },
    )
    return row


def review_list(
    session: Session, status: str | None = "review", limit: int = 100
) -> Sequence[CrvsEvent]:
    """Events waiting for a person to be chosen (or of another status)."""
    return CrvsRepository(session).page(status, limit)


def resolve(
    session: Session, event_id: int, *, person_id: int | None, household_id: int | None, actor: str
) -> CrvsEvent:
    """Settle a review: name the mother's household (birth) or the deceased (death).

    Raises:
        NotFoundError: No such event, or the person does not exist.
        ConflictError: The event is not on the review list.
        ValidationFailed: The change request is refused.
    """
    row = CrvsRepository(session).get(event_id)
    if row is None:
        raise NotFoundError(f"CRVS event {event_id} not found")
    if row.status != "review":
        raise ConflictError(f"CRVS event {event_id} is {row.status}, not under review")
    event = read_event(row.record, row.event_type)
    if person_id is not None:
        household_id = registry.get_person(session, person_id).household_id
    if household_id is None:
        raise ValidationFailed("name a person or a household", [{"field": "person_id"}])
    if row.event_type == "birth":
        row.change_request_id = _birth_request(session, event, household_id, actor)
    else:
        if person_id is None:
            raise ValidationFailed("a death needs the person", [{"field": "person_id"}])
        row.change_request_id = _death_request(session, event, person_id, household_id, actor)
    row.person_id, row.household_id = person_id, household_id
    row.status, row.updated_by = "change_requested", actor
    row.note = f"resolved by {actor}"
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="crvs.resolved",
        object_type="crvs_event",
        object_id=row.id,
        details={"change_request_id": row.change_request_id},
    )
    return row


# --- the client ----------------------------------------------------------------------------


class CrvsClient:
    """A DCI client of a civil registry (token, sync search, subscribe)."""

    def __init__(
        self, settings: InteropSettings | None = None, *, http: httpx.Client | None = None
    ) -> None:
        self.settings = settings or interop_settings()
        if not self.settings.crvs_base_url:
            raise InteropError(
                "set SOLIDARITY_DCI_CRVS_BASE_URL (or --base-url) to the civil registry"
            )
        self.base = self.settings.crvs_base_url.rstrip("/")
        self.http = http or httpx.Client(timeout=30)
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None and self.settings.crvs_client_id:
            response = self.http.post(
                f"{self.base}/oauth2/client/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.settings.crvs_client_id,
                    "client_secret": self.settings.crvs_client_secret or "",
                },
            )
            if response.status_code != 200:
                raise InteropError(
                    f"the civil registry refused our token request: HTTP {response.status_code}"
                )
            self._token = str(response.json()["access_token"])
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.post(f"{self.base}{path}", json=body, headers=self._headers())
        except httpx.HTTPError as exc:
            raise InteropError(f"the civil registry is unreachable: {exc}") from None
        if response.status_code >= 400:
            raise InteropError(
                f"the civil registry answered HTTP {response.status_code}: {response.text[:300]}"
            )
        data = response.json()
        if not isinstance(data, dict):
            raise InteropError("the civil registry answered something that is not a DCI envelope")
        return data

    def search_events(
        self, event_type: str, since: date, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Records of births (or deaths) registered since ``since``, page by page."""
        attribute = "birthdate" if event_type == "birth" else "deathdate"
        page = 1
        while True:
            message = {
                "transaction_id": new_id("txn"),
                "search_request": [
                    {
                        "reference_id": new_id("ref"),
                        "timestamp": now_ts(),
                        "search_criteria": {
                            "reg_type": "ns:org:RegistryType:Civil",
                            "reg_event_type": "live_birth" if event_type == "birth" else "death",
                            "reg_record_type": "Person",
                            "query_type": "predicate",
                            "query": [
                                {
                                    "seq_num": 1,
                                    "expression1": {
                                        "attribute_name": attribute,
                                        "operator": "ge",
                                        "attribute_value": since.isoformat(),
                                    },
                                }
                            ],
                            "pagination": {"page_size": page_size, "page_number": page},
                        },
                        "locale": "eng",
                    }
                ],
            }
            header = request_header(
                "search",
                sender_id=self.settings.sender_id,
                receiver_id=self.settings.crvs_receiver_id,
            )
            body = self._post("/registry/sync/search", {"header": header, "message": message})
            items = (body.get("message") or {}).get("search_response") or []
            if not items or items[0].get("status") != "succ":
                reason = items[0].get("status_reason_message") if items else "no answer"
                raise InteropError(f"the civil registry refused the search: {reason}")
            records = (items[0].get("data") or {}).get("reg_records") or []
            yield from (r for r in records if isinstance(r, dict))
            total = int((items[0].get("pagination") or {}).get("total_count", 0))
            if page * page_size >= total or not records:
                return
            page += 1

    def subscribe(self, event_type: str, callback_base: str) -> dict[str, Any]:
        """Ask the civil registry to notify ``callback_base``/notify of births or deaths."""
        message = {
            "transaction_id": new_id("txn"),
            "subscribe_request": [
                {
                    "reference_id": new_id("ref"),
                    "timestamp": now_ts(),
                    "subscribe_criteria": {
                        "reg_type": "ns:org:RegistryType:Civil",
                        "reg_event_type": "live_birth" if event_type == "birth" else "death",
                        "notify_record_type": "Person",
                    },
                }
            ],
        }
        header = request_header(
            "subscribe",
            sender_id=self.settings.sender_id,
            receiver_id=self.settings.crvs_receiver_id,
            sender_uri=f"{callback_base.rstrip('/')}/on-subscribe",
        )
        return self._post("/registry/subscribe", {"header": header, "message": message})


def sync(
    session: Session, client: CrvsClient, since: date, *, actor: str = "crvs"
) -> dict[str, int]:
    """Fetch births and deaths since ``since`` and ingest them. Returns counts by outcome."""
    counts: dict[str, int] = {}
    source = client.base
    for event_type in ("birth", "death"):
        for record in client.search_events(event_type, since):
            try:
                event = read_event(record, event_type)
            except ValidationFailed as exc:
                logger.warning("CRVS record skipped: %s", exc.detail)
                counts["skipped"] = counts.get("skipped", 0) + 1
                continue
            row = ingest(session, source, event, actor=actor)
            counts[row.status] = counts.get(row.status, 0) + 1
    return counts
