"""Field-level disclosure of registry records according to the reader's permissions.

Without ``pii.identifiers`` identifier values are hidden, without ``pii.contact``
phone numbers, addresses and GPS points, without ``pii.health`` disability
(Washington Group) answers, chronic illness and pregnancy. Without ``pii.names``
(analysts, auditors) persons are pseudonymised: names and identifier values
become keyed hashes, stable for one deployment so that analyses can still link
records, and birth dates are generalised to 1 January of the year.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from typing import Any

from solidarity.governance.principal import Principal
from solidarity.governance.roles import PII_CONTACT, PII_HEALTH, PII_IDENTIFIERS
from solidarity.registry.schemas import (
    ChangeRequestOut,
    HouseholdOut,
    HouseholdSummary,
    HouseholdTimeline,
    IdentifierOut,
    PersonOut,
)

HEALTH_FIELDS = frozenset(
    {
        "wg_seeing",
        "wg_hearing",
        "wg_walking",
        "wg_cognition",
        "wg_selfcare",
        "wg_communication",
        "chronic_illness",
        "pregnant",
    }
)
PERSON_CONTACT_FIELDS = frozenset({"phone"})
HOUSEHOLD_CONTACT_FIELDS = frozenset({"address", "latitude", "longitude"})
NAME_FIELDS = ("given_name", "family_name", "other_names")
HIDDEN = "[hidden]"


class Disclosure:
    """Shapes registry records for one principal."""

    def __init__(self, principal: Principal, pseudonym_key: bytes) -> None:
        self.principal = principal
        self._key = pseudonym_key
        self.identifiers = principal.has(PII_IDENTIFIERS)
        self.contact = principal.has(PII_CONTACT)
        self.health = principal.has(PII_HEALTH)
        self.pseudonymised = principal.pseudonymised

    def pseudonym(self, kind: str, value: str) -> str:
        """A stable keyed hash of ``value`` (``kind`` separates names from identifiers)."""
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[:1].upper()}-{digest[:12]}"

    @property
    def full(self) -> bool:
        """Whether nothing needs to be hidden."""
        return self.identifiers and self.contact and self.health and not self.pseudonymised

    def _identifier(self, ident: IdentifierOut) -> IdentifierOut:
        if self.pseudonymised:
            return ident.model_copy(
                update={"value": self.pseudonym(f"id-{ident.id_type}", ident.value)}
            )
        if not self.identifiers:
            return ident.model_copy(update={"value": HIDDEN})
        return ident

    def person(self, person: PersonOut) -> PersonOut:
        """``person`` with the fields this principal may not see removed or pseudonymised."""
        if self.full:
            return person
        update: dict[str, Any] = {}
        if not self.health:
            update |= dict.fromkeys(HEALTH_FIELDS)
        if not self.contact:
            update |= dict.fromkeys(PERSON_CONTACT_FIELDS)
        if self.pseudonymised:
            for name in NAME_FIELDS:
                value = getattr(person, name)
                update[name] = self.pseudonym("name", value) if value else value
            update["birth_date"] = date(person.birth_date.year, 1, 1)
            update["birth_date_estimated"] = True
            update["extra"] = None  # free-form: may hold anything
        update["identifiers"] = [self._identifier(i) for i in person.identifiers]
        return person.model_copy(update=update)

    def household(self, household: HouseholdOut) -> HouseholdOut:
        """``household`` with its members shaped by :meth:`person`."""
        if self.full:
            return household
        update: dict[str, Any] = {"members": [self.person(m) for m in household.members]}
        if not self.contact:
            update |= dict.fromkeys(HOUSEHOLD_CONTACT_FIELDS)
        if self.pseudonymised:
            update["extra"] = None
        return household.model_copy(update=update)

    def summary(self, summary: HouseholdSummary) -> HouseholdSummary:
        """A household summary with the head's name pseudonymised when needed."""
        if not self.pseudonymised or summary.head_name is None:
            return summary
        return summary.model_copy(update={"head_name": self.pseudonym("name", summary.head_name)})

    def timeline(self, timeline: HouseholdTimeline) -> HouseholdTimeline:
        """A household timeline without the fields this principal may not see."""
        if self.full:
            return timeline
        drop = set() if self.contact else set(HOUSEHOLD_CONTACT_FIELDS)
        if self.pseudonymised:
            drop.add("extra")
        versions = [
            v.model_copy(update={"fields": {k: x for k, x in v.fields.items() if k not in drop}})
            for v in timeline.versions
        ]
        return timeline.model_copy(update={"versions": versions})

    def change_request(self, request: ChangeRequestOut) -> ChangeRequestOut:
        """A change request whose payload, errors and result hide what the person may not see.

        Payloads carry the same person and household fields as records (an added
        member's names and identifiers, a corrected phone number), so they are
        shaped by the same permissions.
        """
        if self.full:
            return request
        return request.model_copy(
            update={
                "payload": self._scrub(request.payload),
                "validation_errors": self._scrub(request.validation_errors),
                "result": self._scrub(request.result),
            }
        )

    def _scrub(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            field = value.get("field") if isinstance(value.get("field"), str) else None
            out = {k: self._scrub(v, k) for k, v in value.items()}
            if field is not None and "value" in out:
                # A validation error quotes the refused value of ``field``.
                out["value"] = self._scrub(value["value"], field.rsplit(".", 1)[-1])
            return out
        if isinstance(value, list):
            if key == "identifiers":
                return [self._identifier_entry(v) for v in value]
            return [self._scrub(v, key) for v in value]
        if key is None or value is None:
            return value
        if key in HEALTH_FIELDS and not self.health:
            return None
        if (key in PERSON_CONTACT_FIELDS or key in HOUSEHOLD_CONTACT_FIELDS) and not self.contact:
            return None
        if self.pseudonymised:
            if key in NAME_FIELDS:
                return self.pseudonym("name", str(value))
            if key == "birth_date":
                return f"{str(value)[:4]}-01-01"
            if key == "extra":
                return None
        return value

    def _identifier_entry(self, entry: Any) -> Any:
        if not isinstance(entry, dict) or "value" not in entry:
            return entry
        if self.pseudonymised:
            kind = f"id-{entry.get('id_type', '')}"
            return {**entry, "value": self.pseudonym(kind, str(entry["value"]))}
        if not self.identifiers:
            return {**entry, "value": HIDDEN}
        return entry
