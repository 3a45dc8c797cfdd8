"""Pydantic models the registry reads and writes through the API and the CLI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from solidarity.registry.history import aware

ChangeKind = Literal[
    "update_fields",
    "add_member",
    "remove_member",
    "change_head",
    "move_household",
    "split_household",
    "merge_households",
]
CHANGE_KINDS: tuple[str, ...] = ChangeKind.__args__  # type: ignore[attr-defined]
ChangeStatus = Literal["submitted", "approved", "rejected", "applied"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results and the total number of matches."""

    items: list[T]
    total: int = Field(description="Number of matches over all pages")
    total_exact: bool = Field(
        default=True,
        description="False when there are more matches than ``total``: registry searches "
        "count up to 1,000 matches (narrow the search to see how many)",
    )
    page: int = Field(ge=1)
    page_size: int = Field(ge=1)


class AreaOut(BaseModel):
    """An administrative area."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "code": "R01-D02",
                "name": "Lakeside District",
                "level": 1,
                "level_name": "district",
                "parent_code": "R01",
                "path": "/R01/R01-D02/",
            }
        }
    )

    code: str
    name: str
    level: int
    level_name: str | None = None
    parent_code: str | None = None
    path: str


class IdentifierIn(BaseModel):
    """An identifier to attach to a new member."""

    id_type: str = Field(description="A code of the identifier_type list", examples=["national_id"])
    value: str = Field(min_length=1, max_length=128, examples=["NID-0001234"])
    issuer: str | None = Field(default=None, max_length=128)
    verified: bool = False


class IdentifierOut(BaseModel):
    """An identifier of a person and the interval it is valid."""

    model_config = ConfigDict(from_attributes=True)

    id_type: str
    value: str
    issuer: str | None = None
    verified: bool
    active: bool
    valid_from: datetime
    valid_to: datetime | None = None


class VersionInfo(BaseModel):
    """Which version of a record this is and what made it."""

    version: int = Field(description="Row version; increments with every change")
    valid_from: datetime = Field(description="When this version became valid")
    valid_to: datetime | None = Field(
        default=None, description="When it stopped being valid (none for the current version)"
    )
    change_request_id: int | None = Field(
        default=None, description="The change request that made this version"
    )
    changed_by: str


class PersonOut(VersionInfo):
    """A person as of a moment, with identifiers valid then."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 12,
                "household_id": 3,
                "area_code": "R01-D02",
                "status": "active",
                "given_name": "Amina",
                "family_name": "Okello",
                "sex": "female",
                "birth_date": "1988-04-02",
                "relationship": "head",
                "version": 2,
                "valid_from": "2025-03-01T09:00:00Z",
                "change_request_id": 7,
                "changed_by": "officer.kato",
                "identifiers": [
                    {
                        "id_type": "national_id",
                        "value": "NID-0001234",
                        "verified": True,
                        "active": True,
                        "valid_from": "2024-01-10T00:00:00Z",
                    }
                ],
            }
        }
    )

    id: int
    household_id: int
    area_code: str | None = None
    status: str
    removal_reason: str | None = None
    given_name: str
    family_name: str
    other_names: str | None = None
    sex: str
    birth_date: date
    birth_date_estimated: bool = False
    age: int | None = Field(default=None, description="Age in years at the moment read")
    relationship: str
    marital_status: str | None = None
    wg_seeing: int | None = None
    wg_hearing: int | None = None
    wg_walking: int | None = None
    wg_cognition: int | None = None
    wg_selfcare: int | None = None
    wg_communication: int | None = None
    education_level: str | None = None
    school_enrolled: bool | None = None
    main_activity: str | None = None
    occupation: str | None = None
    income: float | None = None
    pregnant: bool | None = None
    chronic_illness: bool | None = None
    phone: str | None = None
    extra: dict[str, Any] | None = None
    identifiers: list[IdentifierOut] = Field(default_factory=list)


class HouseholdOut(VersionInfo):
    """A household as of a moment; ``members`` are its active members then."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 3,
                "area_code": "R01-D02",
                "status": "active",
                "address": "Plot 4, Market Road",
                "roof": "metal_sheet",
                "electricity": False,
                "version": 4,
                "valid_from": "2025-03-01T09:00:00Z",
                "change_request_id": 7,
                "changed_by": "officer.kato",
                "head_person_id": 12,
                "members": [],
            }
        }
    )

    id: int
    area_code: str | None = None
    status: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    urban_rural: str | None = None
    roof: str | None = None
    wall: str | None = None
    floor: str | None = None
    water_source: str | None = None
    sanitation: str | None = None
    cooking_fuel: str | None = None
    electricity: bool | None = None
    land_hectares: float | None = None
    livestock_cattle: int | None = None
    livestock_small: int | None = None
    livestock_poultry: int | None = None
    asset_radio: bool | None = None
    asset_television: bool | None = None
    asset_refrigerator: bool | None = None
    asset_bicycle: bool | None = None
    asset_motorcycle: bool | None = None
    asset_mobile_phone: bool | None = None
    consumption_per_capita: float | None = None
    registration_date: date | None = None
    extra: dict[str, Any] | None = None
    head_person_id: int | None = None
    members: list[PersonOut] = Field(default_factory=list)


class HouseholdSummary(BaseModel):
    """A household in a list: where it is, its head and its size."""

    id: int
    area_code: str | None = None
    status: str
    version: int
    head_person_id: int | None = None
    head_name: str | None = None
    member_count: int


class HouseholdVersion(VersionInfo):
    """One version in a household's timeline, with the state it had."""

    area_code: str | None = None
    status: str
    fields: dict[str, Any] = Field(description="Household field values of this version")


class HouseholdTimeline(BaseModel):
    """Every version of a household, oldest first."""

    household_id: int
    versions: list[HouseholdVersion]


class RegistrySearch(BaseModel):
    """Filters of household and person searches."""

    area: str | None = Field(default=None, description="Area code; includes its descendants")
    id_type: str | None = Field(default=None, description="Identifier type, e.g. national_id")
    id_value: str | None = Field(default=None, description="Identifier value")
    name: str | None = Field(
        default=None, description="Words matched case-insensitively in given/family/other names"
    )
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)
    sex: str | None = Field(default=None, description="A code of the sex list")
    status: str | None = Field(default=None, description="active, removed, deceased, merged...")
    as_of: str | None = Field(
        default=None,
        description="Date (end of that day, UTC) or ISO datetime; the current state when absent",
    )
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, description="Capped by the deployment's maximum")


class ChangeRequestIn(BaseModel):
    """A proposed change to one household; see docs/data-model.md for each kind's payload."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "update_fields",
                    "household_id": 3,
                    "payload": {
                        "household": {"roof": "metal_sheet", "electricity": True},
                        "person_id": 12,
                        "person": {"main_activity": "self_employed"},
                    },
                    "reason": "Home visit 2025-03-01",
                },
                {
                    "kind": "remove_member",
                    "household_id": 3,
                    "payload": {"person_id": 14, "removal_reason": "death"},
                },
            ]
        }
    )

    kind: ChangeKind
    household_id: int
    payload: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = Field(default=None, max_length=2000)


class DecisionIn(BaseModel):
    """The reason given with an approval (optional) or a rejection (required)."""

    model_config = ConfigDict(json_schema_extra={"example": {"reason": "Documents verified"}})

    reason: str | None = Field(default=None, max_length=2000)


class ChangeRequestOut(BaseModel):
    """A change request with its validation, decision and result."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": 7,
                "kind": "change_head",
                "status": "applied",
                "household_id": 3,
                "person_id": 13,
                "payload": {
                    "person_id": 13,
                    "previous_head_relationship": "spouse",
                    "base_version": 3,
                },
                "requested_by": "officer.kato",
                "decided_by": "supervisor.achieng",
                "validation_errors": [],
                "result": {"household_version": 4, "previous_head_person_id": 12},
            }
        },
    )

    id: int
    kind: str
    status: str
    household_id: int | None = None
    person_id: int | None = None
    payload: dict[str, Any]
    reason: str | None = None
    requested_by: str
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    applied_at: datetime | None = None
    validation_errors: list[dict[str, Any]] | None = None
    result: dict[str, Any] | None = None
    version: int = Field(default=1, description="Row version; send it back as If-Match")

    @field_validator("created_at", "decided_at", "applied_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # SQLite hands back naive UTC datetimes; say so explicitly.
        return aware(value) if value is not None else None
