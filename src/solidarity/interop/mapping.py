"""The YAML data mapping: registry fields to DCI records, code lists, query attributes.

The packaged ``mapping.yaml`` is the default; ``SOLIDARITY_DCI_MAPPING_FILE``
points at a deployment's own copy. Records are built by walking the ``records``
templates; each leaf names the registry fields it discloses, and a leaf the
partner's data sharing agreement (or its field permissions) does not cover is
left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from solidarity.errors import ValidationFailed
from solidarity.interop.settings import interop_settings
from solidarity.registry.history import aware

DEFAULT_MAPPING = Path(__file__).with_name("mapping.yaml")
ATTRIBUTE_TYPES = frozenset({"text", "code", "number", "date", "age", "area", "group_size", "bool"})
#: Fields a leaf discloses when it does not say (special sources).
_DEFAULT_NEEDS = {
    "identifiers": (),
    "household_identifiers": (),
    "head": (),
    "members": (),
    "computed.age": ("birth_date",),
    "computed.group_size": (),
    "computed.is_disabled": ("disability",),
}
_WG = ("wg_seeing", "wg_hearing", "wg_walking", "wg_cognition", "wg_selfcare", "wg_communication")


@dataclass(frozen=True)
class Attribute:
    """A queryable attribute: where it lives and how values are read."""

    name: str
    level: str  # person | household | self
    type: str
    field: str | None = None
    codes: str | None = None


@dataclass
class RecordData:
    """What records are built from: rows loaded in bulk by the repository."""

    persons: dict[int, dict[str, Any]] = field(default_factory=dict)
    households: dict[int, dict[str, Any]] = field(default_factory=dict)
    identifiers: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    members: dict[int, list[int]] = field(default_factory=dict)
    areas: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (code, path)


class DataMapping:
    """A loaded, checked mapping file."""

    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.source = source
        errors: list[dict[str, Any]] = []
        records = raw.get("records")
        if not isinstance(records, Mapping) or not {"Member", "Group"} <= set(records):
            errors.append({"field": "records", "message": "must define Member and Group"})
            records = {}
        self.records: dict[str, Any] = dict(records)
        self.default_purpose = str(raw.get("default_purpose") or "registry.search")
        self.consent_purposes = frozenset(raw.get("consent_required_purposes") or ())
        self.reg_types = {
            server: {str(v).lower() for v in values}
            for server, values in (raw.get("reg_types") or {}).items()
        }
        self.identifier_types: dict[str, str] = {
            str(k): str(v) for k, v in (raw.get("identifier_types") or {}).items()
        }
        self.identifier_types_upper = {k.upper(): v for k, v in self.identifier_types.items()}
        self.dci_identifier_type: dict[str, str] = {}
        for dci, registry in self.identifier_types.items():
            self.dci_identifier_type.setdefault(registry, dci)
        self.codes: dict[str, dict[str, str]] = {
            name: {str(k): str(v) for k, v in (values or {}).items()}
            for name, values in (raw.get("codes") or {}).items()
        }
        self.attributes: dict[str, Attribute] = {}
        for name, spec in (raw.get("attributes") or {}).items():
            if not isinstance(spec, Mapping) or spec.get("type") not in ATTRIBUTE_TYPES:
                errors.append(
                    {
                        "field": f"attributes.{name}",
                        "message": f"needs a type among {sorted(ATTRIBUTE_TYPES)}",
                    }
                )
                continue
            codes = spec.get("codes")
            if codes is not None and codes not in self.codes:
                errors.append({"field": f"attributes.{name}.codes", "message": "unknown code list"})
            self.attributes[str(name)] = Attribute(
                name=str(name),
                level=str(spec.get("level", "person")),
                type=str(spec["type"]),
                field=spec.get("field"),
                codes=codes,
            )
        self.field_permissions: dict[str, frozenset[str]] = {
            perm: frozenset(fields or ())
            for perm, fields in (raw.get("field_permissions") or {}).items()
        }
        if errors:
            raise ValidationFailed(f"the DCI data mapping {source} is not valid", errors)

    # --- code lists -----------------------------------------------------------------

    def to_dci(self, codelist: str, value: Any) -> Any:
        """A registry code as the DCI code (unchanged when the list does not name it)."""
        if value is None:
            return None
        return self.codes.get(codelist, {}).get(str(value), value)

    def from_dci(self, codelist: str, value: Any) -> Any:
        """A DCI code (or a registry code) as the registry code."""
        table = self.codes.get(codelist, {})
        if str(value) in table:
            return str(value)
        for registry, dci in table.items():
            if dci.lower() == str(value).lower():
                return registry
        return value

    def registry_identifier_type(self, dci_type: str) -> str | None:
        """The registry identifier type of a DCI identifier type (case-insensitive)."""
        return self.identifier_types.get(dci_type) or self.identifier_types_upper.get(
            dci_type.upper()
        )

    def accepts_reg_type(self, server: str, reg_type: str | None) -> bool:
        """Whether ``reg_type`` names this server's registry (absent: yes)."""
        if reg_type is None or not reg_type.strip():
            return True
        return reg_type.strip().lower() in self.reg_types.get(server, set())

    # --- disclosure -----------------------------------------------------------------

    def permitted(
        self, agreed: frozenset[str] | None, permissions: frozenset[str]
    ) -> frozenset[str]:
        """The fields a client may receive: its agreement's, less those it lacks permission for.

        ``None`` (no agreement check) keeps everything the permissions allow.
        """
        withheld: set[str] = set()
        for permission, fields in self.field_permissions.items():
            if permission not in permissions:
                withheld |= fields
        if agreed is None or "*" in agreed:
            return _AllBut(withheld)
        return frozenset(agreed - withheld)

    # --- records --------------------------------------------------------------------

    def member(self, data: RecordData, person_id: int, allowed: frozenset[str]) -> dict[str, Any]:
        """The DCI Member record of a person."""
        return self._object(self.records["Member"], data, person_id, allowed) or {}

    def group(self, data: RecordData, household_id: int, allowed: frozenset[str]) -> dict[str, Any]:
        """The DCI Group record of a household."""
        return self._object(self.records["Group"], data, -household_id, allowed) or {}

    def _object(
        self, template: Any, data: RecordData, subject: int, allowed: frozenset[str]
    ) -> Any:
        if isinstance(template, list):
            items = [self._object(t, data, subject, allowed) for t in template]
            kept = [i for i in items if _present(i)]
            return kept or None
        if isinstance(template, str):
            return self._leaf({"source": template}, data, subject, allowed)
        if isinstance(template, Mapping):
            if "source" in template or "value" in template:
                return self._leaf(template, data, subject, allowed)
            out = {}
            for key, sub in template.items():
                value = self._object(sub, data, subject, allowed)
                if _present(value):
                    out[str(key)] = value
            # An object that kept only constants says nothing: drop it.
            if all(isinstance(sub, Mapping) and "value" in sub for sub in template.values()):
                return out
            informative = [
                k
                for k, sub in template.items()
                if not (isinstance(sub, Mapping) and "value" in sub)
            ]
            return out if any(k in out for k in informative) else None
        return template

    def _leaf(
        self, spec: Mapping[str, Any], data: RecordData, subject: int, allowed: frozenset[str]
    ) -> Any:
        if "value" in spec:
            return spec["value"]
        source = str(spec["source"])
        needs = spec.get("needs")
        if needs is None:
            needs = _DEFAULT_NEEDS.get(source, (source.split(".", 1)[-1],))
        if any(n not in allowed for n in needs):
            return None
        value = self._read(source, data, subject, allowed)
        if spec.get("codes"):
            value = self.to_dci(str(spec["codes"]), value)
        value = _json_value(value)
        if spec.get("as_list") and value is not None:
            value = [value]
        return value

    def _read(self, source: str, data: RecordData, subject: int, allowed: frozenset[str]) -> Any:
        person = data.persons.get(subject) if subject > 0 else None
        household_id = -subject if subject < 0 else (person or {}).get("household_id")
        household = data.households.get(household_id) if household_id is not None else None
        if source == "identifiers":
            if person is None:
                return None
            out = [{"identifier_type": "PERSON_ID", "identifier_value": str(subject)}]
            if "identifiers" in allowed:
                for id_type, value in data.identifiers.get(subject, []):
                    dci = self.dci_identifier_type.get(id_type, id_type)
                    out.append({"identifier_type": dci, "identifier_value": value})
            return out
        if source == "household_identifiers":
            if household_id is None:
                return None
            return [{"identifier_type": "HOUSEHOLD_ID", "identifier_value": str(household_id)}]
        if source == "head":
            members = data.members.get(household_id or 0, [])
            head = next((m for m in members if data.persons[m].get("relationship") == "head"), None)
            return self.member(data, head, allowed) if head is not None else None
        if source == "members":
            return [self.member(data, m, allowed) for m in data.members.get(household_id or 0, [])]
        if source == "computed.group_size":
            return len(data.members.get(household_id or 0, []))
        if source == "computed.age":
            born = (person or {}).get("birth_date")
            if not isinstance(born, date):
                return None
            today = date.today()
            return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if source == "computed.is_disabled":
            if person is None or all(person.get(w) is None for w in _WG):
                return None
            return any((person.get(w) or 0) >= 3 for w in _WG)
        namespace, _, name = source.partition(".")
        if namespace == "person":
            return (person or {}).get(name)
        if namespace == "household":
            return (household or {}).get(name)
        if namespace == "area":
            area = data.areas.get((household or person or {}).get("area_id", -1))
            if area is None:
                return None
            code, path = area
            if name == "code":
                return code
            if name == "region":
                return path.strip("/").split("/")[0]
            if name == "path":
                return path
        return None


class _AllBut(frozenset[str]):
    """Every field except some: ``name in it`` is true unless withheld."""

    def __new__(cls, withheld: set[str]) -> _AllBut:
        obj = super().__new__(cls, withheld)
        return obj

    def __contains__(self, name: object) -> bool:
        return not frozenset.__contains__(self, name)


#: Every field (no agreement filter, all field permissions).
EVERYTHING: frozenset[str] = _AllBut(set())


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> DataMapping:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping):
        raise ValidationFailed(f"the DCI data mapping {path} must be a YAML mapping")
    return DataMapping(raw, path)


def data_mapping(path: Path | None = None) -> DataMapping:
    """The deployment's data mapping (reloaded when the file changes).

    Raises:
        ValidationFailed: The file is not a valid mapping.
    """
    chosen = path or interop_settings().mapping_file or DEFAULT_MAPPING
    return _load(str(chosen), chosen.stat().st_mtime)
