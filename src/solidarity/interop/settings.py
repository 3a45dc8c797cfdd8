"""Settings of interoperability, read from ``SOLIDARITY_DCI_*`` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InteropSettings(BaseSettings):
    """DCI server and client settings (see docs/interoperability.md)."""

    model_config = SettingsConfigDict(env_prefix="SOLIDARITY_DCI_", extra="ignore")

    sender_id: str = Field(default="solidarity", description="Our DCI id in headers we send")
    mapping_file: Path | None = Field(
        default=None, description="YAML data mapping (default: the packaged mapping.yaml)"
    )
    require_signatures: bool = Field(
        default=True,
        description="Refuse unsigned messages from partners without their own setting",
    )
    sign_responses: bool = Field(default=True, description="Sign sync responses and callbacks")
    max_page_size: int = Field(default=100, ge=1, le=10_000)
    default_page_size: int = Field(default=20, ge=1)
    replay_window_minutes: int = Field(
        default=24 * 60, ge=1, description="message_ts older than this is refused"
    )
    clock_skew_minutes: int = Field(default=5, ge=0, description="message_ts ahead allowed")
    callback_max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=900.0, gt=0)
    callback_timeout_seconds: float = Field(default=10.0, gt=0)
    signature_validity_seconds: int = Field(default=300, ge=10)
    jwks_cache_seconds: float = Field(
        default=3600.0, ge=0, description="How long a partner's fetched JWKS is trusted"
    )
    jwks_refresh_seconds: float = Field(
        default=30.0, ge=0, description="Least time between two fetches of one partner's JWKS"
    )
    crvs_base_url: str | None = Field(default=None, description="Base URL of the civil registry")
    crvs_client_id: str | None = None
    crvs_client_secret: str | None = None
    crvs_receiver_id: str = "crvs"
    crvs_callback_url: str | None = Field(
        default=None, description="Our notify URL as the civil registry should call it"
    )


@lru_cache(maxsize=8)
def _settings(environment: tuple[tuple[str, str], ...]) -> InteropSettings:
    return InteropSettings()


def interop_settings() -> InteropSettings:
    """The current settings, re-read when a ``SOLIDARITY_DCI_*`` variable changes.

    Reading them costs milliseconds, too much for every request.
    """
    prefix = "SOLIDARITY_DCI_"
    return _settings(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(prefix))))
