"""Pydantic models governance reads and writes through the API and the CLI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from solidarity.registry.history import aware


def _utc(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


class LoginIn(BaseModel):
    """A username and password."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"username": "officer.kato", "password": "correct horse"}}
    )

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class GrantOut(BaseModel):
    """A role held over an area subtree (national when ``area_code`` is empty)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    role: str
    area_code: str | None = None
    programme_codes: list[str] | None = None


class GrantIn(BaseModel):
    """A role to give, where, and optionally for which programmes."""

    role: str
    area_code: str | None = Field(default=None, description="Area code; national when absent")
    programme_codes: list[str] | None = None


class SessionOut(BaseModel):
    """The signed-in account, what it may do, and the CSRF token of its session."""

    username: str
    display_name: str
    kind: str
    roles: list[str]
    permissions: list[str]
    grants: list[GrantOut]
    csrf_token: str | None = Field(
        default=None, description="Send as X-CSRF-Token with every POST/PUT/PATCH/DELETE"
    )
    expires_at: datetime | None = None


class UserIn(BaseModel):
    """A new account."""

    username: str = Field(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")
    display_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    grants: list[GrantIn] = Field(default_factory=list)


class UserOut(BaseModel):
    """An account and its grants."""

    username: str
    display_name: str
    kind: str
    active: bool
    locked_until: datetime | None = None
    last_login_at: datetime | None = None
    agency_code: str | None = None
    grants: list[GrantOut]

    @field_validator("locked_until", "last_login_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class PasswordResetIn(BaseModel):
    """A new password set by an administrator."""

    password: str = Field(min_length=1, max_length=1024)


class ActiveIn(BaseModel):
    """Enable or disable an account."""

    active: bool


class ClientIn(BaseModel):
    """A new machine client."""

    client_id: str = Field(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    display_name: str = Field(min_length=1, max_length=200)
    agency_code: str | None = None
    grants: list[GrantIn] = Field(default_factory=lambda: [GrantIn(role="partner")])


class ClientCreated(BaseModel):
    """A new machine client with its secret, shown only this once."""

    client_id: str
    client_secret: str
    grants: list[GrantOut]


class TokenOut(BaseModel):
    """An OAuth 2.0 access token response (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str


class AuditEntryOut(BaseModel):
    """One audit entry."""

    model_config = ConfigDict(from_attributes=True)

    sequence: int | None = Field(
        description="Place in the hash chain; null for an entry written in the last "
        "seconds and not chained yet (decision 0005)"
    )
    at: datetime
    actor: str
    client_address: str | None = None
    action: str
    object_type: str | None = None
    object_id: str | None = None
    purpose: str | None = None
    details: dict[str, Any]
    previous_hash: str | None = None
    hash: str | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return aware(value)


class AuditPage(BaseModel):
    """A page of audit entries, newest first."""

    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


class AgencyIn(BaseModel):
    """An agency to register."""

    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    contact: str | None = Field(default=None, max_length=200)


class AgencyOut(AgencyIn):
    """A registered agency."""

    model_config = ConfigDict(from_attributes=True)


class AgreementIn(BaseModel):
    """A data sharing agreement: who gets which fields, for which purposes, until when."""

    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    agency_code: str
    purposes: list[str] = Field(min_length=1)
    fields: list[str] = Field(min_length=1, description="Person/household fields shared")
    valid_from: date
    valid_to: date | None = None
    legal_basis: str | None = None
    record_types: list[str] = Field(
        default_factory=list,
        description="Record types shared (household, person, referral ...); empty: any",
    )
    area_codes: list[str] = Field(
        default_factory=list, description="Area subtrees shared; empty: the whole country"
    )
    operations: list[str] = Field(
        default_factory=list, description="search, subscribe, bulk, write; empty: any"
    )


class AgreementOut(AgreementIn):
    """A stored agreement."""

    model_config = ConfigDict(from_attributes=True)


class ConsentIn(BaseModel):
    """A person's consent to a purpose."""

    person_id: int = Field(ge=1)
    purpose: str = Field(min_length=1, max_length=200)
    evidence: str | None = Field(default=None, max_length=2000)


class ConsentOut(BaseModel):
    """A consent record."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    purpose: str
    given_at: datetime
    withdrawn_at: datetime | None = None
    recorded_by: str
    evidence: str | None = None

    @field_validator("given_at", "withdrawn_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


# --- releases and erasure (privacy) ----------------------------------------------------


class PseudonymisedExportIn(BaseModel):
    """A pseudonymised extract to release: to whom, why, and how generalised."""

    recipient: str = Field(min_length=1, max_length=200, description="Who receives the file")
    purpose: str = Field(min_length=1, max_length=200, description="Why it is released")
    agency_code: str | None = Field(default=None, description="The recipient's agency, if any")
    format: Literal["csv", "parquet", "xlsx"] = "csv"
    area_code: str | None = Field(default=None, description="Only this area and below")
    area_level: int = Field(default=1, ge=0, le=10, description="Generalise areas to this level")
    birth: Literal["year", "5y"] = Field(default="year", description="Birth year or 5-year band")
    as_of: date | None = None


class ReleasedFileOut(BaseModel):
    """One file of a release."""

    name: str
    rows: int
    sha256: str
    columns: list[str]


class ReleaseOut(BaseModel):
    """What was released to whom, read from the audit trail."""

    release_id: str
    #: The audit entry's place in the trail; ``None`` in the answer to the export
    #: itself (entries are chained when the export's unit of work commits).
    sequence: int | None = None
    at: datetime
    released_by: str
    recipient: str
    agency_code: str | None = None
    purpose: str
    kind: str
    rows: int
    area_code: str | None = None
    area_level: int | None = None
    birth: str | None = None
    as_of: str | None = None
    package_sha256: str | None = None
    files: list[ReleasedFileOut]

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return aware(value)


class ReleasePage(BaseModel):
    """A page of releases, newest first."""

    items: list[ReleaseOut]
    total: int


class ErasureRequestIn(BaseModel):
    """An erasure request: a person, or a whole household, and the legal ground."""

    person_id: int | None = Field(default=None, ge=1)
    household_id: int | None = Field(default=None, ge=1)
    reason: str = Field(
        min_length=1, max_length=200, description="The legal ground; do not quote names"
    )


class ErasureDecisionIn(BaseModel):
    """A decision's reason (required to reject)."""

    reason: str | None = Field(default=None, max_length=500)


class ErasureRequestOut(BaseModel):
    """An erasure request and what became of it (read from the audit trail)."""

    request_id: str
    status: Literal["submitted", "applied", "rejected"]
    person_id: int | None = None
    household_id: int | None = None
    area_id: int | None = None
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    counts: dict[str, int] | None = Field(
        default=None, description="Rows anonymised per table when applied"
    )

    @field_validator("requested_at", "decided_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)
