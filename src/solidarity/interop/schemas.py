"""Pydantic views of interoperability records (the DCI message models are in ``envelope``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class PartnerOut(BaseModel):
    """A partner system's DCI settings."""

    model_config = ConfigDict(from_attributes=True)

    sender_id: str
    client_id: str | None
    name: str
    signature_required: bool
    signature_format: str
    public_jwk: dict[str, Any] | None
    callback_prefix: str | None


class CrvsEventOut(BaseModel):
    """A vital event received from a civil registry and what became of it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    event_type: str
    external_id: str
    event_date: str | None
    status: str
    person_id: int | None
    household_id: int | None
    change_request_id: int | None
    match: dict[str, Any] | None
    note: str | None
    created_at: datetime
