"""The field catalogue of the registry: every importable household and person field.

One declaration drives intake validation, the column mapping, exports and the API
documentation. Deployment-defined extra fields (``SOLIDARITY_EXTRA_FIELDS_FILE``)
are declared in the same shape and validated like built-in ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from solidarity.errors import SolidarityError

FieldType = Literal["string", "integer", "number", "boolean", "date", "code"]
Level = Literal["household", "person"]


class FieldCatalogueError(SolidarityError):
    """The extra-fields file is malformed."""


@dataclass(frozen=True)
class FieldSpec:
    """One field: its type, whether it is required, its code list and bounds."""

    name: str
    level: Level
    type: FieldType
    label: str
    required: bool = False
    codelist: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    extra: bool = False
    help: str = ""


@lru_cache(maxsize=1)
def codelists() -> dict[str, list[Any]]:
    """The built-in code lists (``codelists.yaml``)."""
    text = resources.files("solidarity.registry").joinpath("codelists.yaml").read_text()
    data: dict[str, list[Any]] = yaml.safe_load(text)
    return data


def _f(name: str, level: Level, type_: FieldType, label: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, level=level, type=type_, label=label, **kw)


_WG = {"codelist": "washington_group", "help": "Washington Group: 1 none .. 4 cannot do"}

HOUSEHOLD_FIELDS: tuple[FieldSpec, ...] = (
    _f("area_code", "household", "string", "Area code", required=True, max_length=64),
    _f("address", "household", "string", "Address", max_length=500),
    _f("latitude", "household", "number", "Latitude", minimum=-90, maximum=90),
    _f("longitude", "household", "number", "Longitude", minimum=-180, maximum=180),
    _f("urban_rural", "household", "code", "Urban or rural", codelist="urban_rural"),
    _f("roof", "household", "code", "Roof material", codelist="roof"),
    _f("wall", "household", "code", "Wall material", codelist="wall"),
    _f("floor", "household", "code", "Floor material", codelist="floor"),
    _f("water_source", "household", "code", "Main water source", codelist="water_source"),
    _f("sanitation", "household", "code", "Sanitation", codelist="sanitation"),
    _f("cooking_fuel", "household", "code", "Cooking fuel", codelist="cooking_fuel"),
    _f("electricity", "household", "boolean", "Has electricity"),
    _f("land_hectares", "household", "number", "Land (hectares)", minimum=0, maximum=10_000),
    _f("livestock_cattle", "household", "integer", "Cattle", minimum=0, maximum=10_000),
    _f("livestock_small", "household", "integer", "Goats and sheep", minimum=0, maximum=10_000),
    _f("livestock_poultry", "household", "integer", "Poultry", minimum=0, maximum=100_000),
    _f("asset_radio", "household", "boolean", "Owns a radio"),
    _f("asset_television", "household", "boolean", "Owns a television"),
    _f("asset_refrigerator", "household", "boolean", "Owns a refrigerator"),
    _f("asset_bicycle", "household", "boolean", "Owns a bicycle"),
    _f("asset_motorcycle", "household", "boolean", "Owns a motorcycle"),
    _f("asset_mobile_phone", "household", "boolean", "Owns a mobile phone"),
    _f(
        "consumption_per_capita",
        "household",
        "number",
        "Monthly consumption per person",
        minimum=0,
        help="Observed in a survey; used to calibrate proxy means tests",
    ),
    _f("registration_date", "household", "date", "Registration date"),
)

PERSON_FIELDS: tuple[FieldSpec, ...] = (
    _f("given_name", "person", "string", "Given name", required=True, max_length=200),
    _f("family_name", "person", "string", "Family name", required=True, max_length=200),
    _f("other_names", "person", "string", "Other names", max_length=200),
    _f("sex", "person", "code", "Sex", required=True, codelist="sex"),
    _f("birth_date", "person", "date", "Birth date", required=True),
    _f("birth_date_estimated", "person", "boolean", "Birth date estimated"),
    _f(
        "relationship",
        "person",
        "code",
        "Relationship to head",
        required=True,
        codelist="relationship",
    ),
    _f("marital_status", "person", "code", "Marital status", codelist="marital_status"),
    _f("wg_seeing", "person", "integer", "Difficulty seeing", **_WG),
    _f("wg_hearing", "person", "integer", "Difficulty hearing", **_WG),
    _f("wg_walking", "person", "integer", "Difficulty walking", **_WG),
    _f("wg_cognition", "person", "integer", "Difficulty remembering", **_WG),
    _f("wg_selfcare", "person", "integer", "Difficulty with self-care", **_WG),
    _f("wg_communication", "person", "integer", "Difficulty communicating", **_WG),
    _f("education_level", "person", "code", "Education level", codelist="education_level"),
    _f("school_enrolled", "person", "boolean", "Currently enrolled in school"),
    _f("main_activity", "person", "code", "Main activity", codelist="main_activity"),
    _f("occupation", "person", "string", "Occupation", max_length=200),
    _f("income", "person", "number", "Monthly income", minimum=0),
    _f("pregnant", "person", "boolean", "Pregnant"),
    _f("chronic_illness", "person", "boolean", "Chronic illness"),
    _f("phone", "person", "string", "Phone number", max_length=32),
)

#: Identifier columns in import files are ``id_<type>`` for each identifier type.
IDENTIFIER_PREFIX = "id_"

#: Keys that tie rows to their source records (idempotent re-import).
HOUSEHOLD_KEY = "household_key"
PERSON_KEY = "person_key"

WASHINGTON_GROUP_FIELDS = tuple(f.name for f in PERSON_FIELDS if f.name.startswith("wg_"))


def identifier_columns() -> list[str]:
    """``id_national_id``, ``id_birth_certificate``... one per identifier type."""
    return [IDENTIFIER_PREFIX + t for t in codelists()["identifier_type"]]


def _load_extra(path: Path) -> tuple[FieldSpec, ...]:
    try:
        raw = path.read_text()
        data = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise FieldCatalogueError(f"cannot read extra fields file {path}: {exc}") from exc
    specs: list[FieldSpec] = []
    for level in ("household", "person"):
        for name, spec in (data or {}).get(level, {}).items():
            if not isinstance(spec, dict) or spec.get("type") not in FieldType.__args__:  # type: ignore[attr-defined]
                raise FieldCatalogueError(
                    f"{path}: extra field {level}.{name} needs a type among "
                    "string, integer, number, boolean, date, code"
                )
            if spec["type"] == "code" and not spec.get("values"):
                raise FieldCatalogueError(f"{path}: code field {level}.{name} needs 'values'")
            specs.append(
                FieldSpec(
                    name=name,
                    level=level,  # type: ignore[arg-type]
                    type=spec["type"],
                    label=spec.get("label", name),
                    required=bool(spec.get("required", False)),
                    codelist=f"extra:{level}.{name}" if spec["type"] == "code" else None,
                    minimum=spec.get("minimum"),
                    maximum=spec.get("maximum"),
                    max_length=spec.get("max_length"),
                    extra=True,
                    help=spec.get("help", ""),
                )
            )
            if spec["type"] == "code":
                codelists()[f"extra:{level}.{name}"] = list(spec["values"])
    return tuple(specs)


@dataclass(frozen=True)
class Catalogue:
    """Built-in plus extra fields, by level."""

    household: tuple[FieldSpec, ...]
    person: tuple[FieldSpec, ...]
    lists: dict[str, list[Any]] = field(default_factory=dict)

    def by_name(self, level: Level) -> dict[str, FieldSpec]:
        """Fields of ``level`` keyed by name."""
        return {f.name: f for f in (self.household if level == "household" else self.person)}


def catalogue(extra_fields_file: Path | None = None) -> Catalogue:
    """The catalogue for a deployment, with its extra fields when a file is given."""
    extra = _load_extra(extra_fields_file) if extra_fields_file else ()
    return Catalogue(
        household=HOUSEHOLD_FIELDS + tuple(f for f in extra if f.level == "household"),
        person=PERSON_FIELDS + tuple(f for f in extra if f.level == "person"),
        lists=codelists(),
    )
