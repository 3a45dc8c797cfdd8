"""Settings read from the environment (prefix ``SOLIDARITY_``) and validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Deployment settings; every field can be set as ``SOLIDARITY_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SOLIDARITY_", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'solidarity.db'}",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    extra_fields_file: Path | None = Field(
        default=None, description="YAML/JSON file declaring deployment-defined extra fields"
    )
    import_batch_households: int = Field(default=20_000, ge=100, le=1_000_000)
    upload_dir: Path = Field(default_factory=lambda: Path.cwd() / "var" / "uploads")
    report_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "var" / "reports",
        description="Where import error reports and rejected-row files are written",
    )
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    page_size_max: int = Field(default=500, ge=1)
    max_age_years: int = Field(default=120, ge=50, le=150)

    # Governance: sign-in, tokens, keys, hardening (see docs/security.md).
    key_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "var" / "keys",
        description="Where the token signing keys and the session secret are kept",
    )
    secret_key: str | None = Field(
        default=None,
        description="Secret signing session cookies and keying pseudonyms (else kept in key_dir)",
    )
    jwt_private_key: str | None = Field(
        default=None, description="PEM RSA private key signing access tokens (else in key_dir)"
    )
    token_issuer: str = Field(default="solidarity")
    token_minutes: int = Field(default=10, ge=1, le=1440)
    session_hours: float = Field(default=8.0, gt=0, le=168)
    cookie_secure: bool = Field(default=True, description="Send the session cookie only on HTTPS")
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    login_rate_per_minute: float = Field(default=10.0, gt=0)
    login_burst: int = Field(default=5, ge=1)
    hsts: bool = Field(default=False, description="Send Strict-Transport-Security (TLS only)")
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    # Field-level encryption of names, phones and identifiers (docs/security.md).
    key_file: Path | None = Field(
        default=None,
        description="JSON key ring of field encryption (else field-keys.json in key_dir)",
    )
    field_keys: str | None = Field(
        default=None, description="The field key ring JSON itself, e.g. from a secrets manager"
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "SOLIDARITY_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()
