"""Settings read from the environment (prefix ``SOLIDARITY_``) and validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from solidarity.errors import SolidarityError


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
    search_count_cap: int = Field(
        default=1000,
        ge=1,
        description="Registry searches count matches up to this many; past it the total "
        "says 'more than' (an exact count of a district costs more than the page)",
    )
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
    # Privacy: retention periods (see docs/security.md).
    retention_file: Path | None = Field(
        default=None, description="YAML of retention periods per record type (else the defaults)"
    )
    # Optional single sign-on through an OpenID Connect provider (docs/security.md).
    oidc_issuer: str | None = Field(default=None, description="Issuer URL; unset: no SSO")
    oidc_client_id: str | None = Field(default=None)
    oidc_client_secret: str | None = Field(default=None)
    oidc_discovery_url: str | None = Field(
        default=None, description="Else <issuer>/.well-known/openid-configuration"
    )
    oidc_authorization_endpoint: str | None = Field(default=None, description="Skips discovery")
    oidc_token_endpoint: str | None = Field(default=None)
    oidc_jwks_uri: str | None = Field(default=None)
    oidc_redirect_uri: str | None = Field(
        default=None, description="Else the callback URL of this server as the browser sees it"
    )
    oidc_scopes: str = Field(default="openid email profile")
    oidc_match_claim: str = Field(
        default="email", description="ID token claim equal to the local username (email or sub)"
    )
    oidc_provider_name: str = Field(default="single sign-on")
    audit_chain_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the server and the worker chain new audit entries (decision 0005)",
    )
    max_concurrent_requests: int | None = Field(
        default=None,
        ge=1,
        description="Requests let into the app at once, the rest queue (default: two per "
        "core, at most half the database connection pool; see docs/operations.md)",
    )

    environment: Literal["development", "production"] = Field(
        default="development",
        description="production: keys and secret must be provisioned, cookies secure",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")

    # Per-client request rate limits (see docs/operations.md); high by default so that
    # a busy office behind one account is not throttled: lower them for partners.
    api_rate_per_minute: float = Field(
        default=30_000, gt=0, description="REST API requests per minute per client"
    )
    api_burst: int = Field(default=1_000, ge=1, description="REST API requests allowed at once")
    dci_rate_per_minute: float = Field(
        default=6_000, gt=0, description="DCI requests per minute per client"
    )
    dci_burst: int = Field(default=500, ge=1, description="DCI requests allowed at once")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return value.upper()

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
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()


# --- validation at start -------------------------------------------------------------------

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigurationError(SolidarityError):
    """One or more settings are wrong; ``problems`` has one line per bad setting."""

    title = "Configuration error"
    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            f"{len(problems)} setting(s) are wrong:\n" + "\n".join(f"  {p}" for p in problems),
            problems=problems,
        )
        self.problems = problems


def _problem(variable: str, value: object, expected: str) -> str:
    shown = "(not set)" if value is None else repr(value)
    return f"{variable}={shown}: {expected}"


def _model_problems(
    model: type[BaseSettings], prefix: str, environ: Mapping[str, str]
) -> tuple[BaseSettings | None, list[str]]:
    try:
        return model(), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            variable = f"{prefix}{field.upper()}"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(_problem(variable, environ.get(variable, error.get("input")), message))
        return None, problems


def _url_problem(variable: str, value: str | None) -> str | None:
    if not value:
        return None
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return _problem(variable, value, "expected an http:// or https:// URL with a host name")
    return None


def check_configuration(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every bad setting, one line each naming the variable, its value and what is expected.

    Reads the same environment as the running system (``SOLIDARITY_*``,
    ``SOLIDARITY_DCI_*``, ``SOLIDARITY_JOB_*``) and checks what types alone do not:
    the database URL parses, files named by settings exist, URLs are URLs, and in
    production the signing keys and secret are provisioned rather than made on the fly.
    """
    from solidarity.interop.settings import InteropSettings
    from solidarity.jobs.worker import WorkerSettings

    env = os.environ if environ is None else environ
    settings, problems = _model_problems(Settings, "SOLIDARITY_", env)
    interop, interop_problems = _model_problems(InteropSettings, "SOLIDARITY_DCI_", env)
    problems += interop_problems
    problems += _model_problems(WorkerSettings, "SOLIDARITY_JOB_", env)[1]
    if isinstance(settings, Settings):
        try:
            make_url(settings.database_url)
        except ArgumentError:
            problems.append(
                _problem(
                    "SOLIDARITY_DATABASE_URL",
                    settings.database_url,
                    "expected a URL such as sqlite:///var/solidarity.db or "
                    "postgresql+psycopg://user@host/db",
                )
            )
        if settings.extra_fields_file is not None and not settings.extra_fields_file.is_file():
            problems.append(
                _problem(
                    "SOLIDARITY_EXTRA_FIELDS_FILE",
                    str(settings.extra_fields_file),
                    "expected an existing YAML or JSON file",
                )
            )
        if settings.environment == "production":
            problems += _production_problems(settings)
    if interop is not None:
        mapping = getattr(interop, "mapping_file", None)
        if mapping is not None and not Path(mapping).is_file():
            problems.append(
                _problem("SOLIDARITY_DCI_MAPPING_FILE", str(mapping), "expected an existing file")
            )
        for name in ("crvs_base_url", "crvs_callback_url"):
            found = _url_problem(f"SOLIDARITY_DCI_{name.upper()}", getattr(interop, name, None))
            if found:
                problems.append(found)
    return problems


def _production_problems(settings: Settings) -> list[str]:
    problems = []
    has_secret = settings.secret_key or (settings.key_dir / "session.key").is_file()
    if not has_secret:
        problems.append(
            _problem(
                "SOLIDARITY_SECRET_KEY",
                None,
                f"in production set it, or provision {settings.key_dir / 'session.key'} "
                "(SOLIDARITY_KEY_DIR): a secret made on the fly is lost with the machine",
            )
        )
    if not settings.jwt_private_key and not any(settings.key_dir.glob("jwt-*.pem")):
        problems.append(
            _problem(
                "SOLIDARITY_JWT_PRIVATE_KEY",
                None,
                f"in production set it, or provision a jwt-<kid>.pem key file in "
                f"{settings.key_dir} (SOLIDARITY_KEY_DIR)",
            )
        )
    if not settings.cookie_secure:
        problems.append(
            _problem("SOLIDARITY_COOKIE_SECURE", False, "must be true in production (TLS in front)")
        )
    return problems


def validate_configuration() -> Settings:
    """The settings, after :func:`check_configuration` found nothing wrong.

    Raises:
        ConfigurationError: Listing every bad setting.
    """
    problems = check_configuration()
    if problems:
        raise ConfigurationError(problems)
    get_settings.cache_clear()
    return get_settings()
