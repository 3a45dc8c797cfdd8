"""Partners' signing keys fetched from their published JWKS.

A partner registered with a JWKS URL (``solidarity interop partners set SENDER
--jwks-url https://.../.well-known/jwks.json``) publishes its keys there, as
OpenCRVS does, instead of handing one key over at onboarding. The key set is
fetched with a timeout and kept for ``SOLIDARITY_DCI_JWKS_CACHE_SECONDS``; a
signature naming a key id not in the cached set triggers one early re-fetch (the
partner rotated its key), at most once per ``SOLIDARITY_DCI_JWKS_REFRESH_SECONDS``
so a stream of bad key ids cannot make us hammer the partner.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from solidarity.interop.errors import SignatureInvalid
from solidarity.interop.settings import interop_settings
from solidarity.interop.signatures import PublicKey, public_key_from_jwk, signature_kid


@dataclass
class _Entry:
    keys: list[dict[str, Any]]
    fetched_at: float


_cache: dict[str, _Entry] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every fetched key set (tests; an operator after revoking a partner key)."""
    with _lock:
        _cache.clear()


def _fetch(url: str) -> list[dict[str, Any]]:
    settings = interop_settings()
    try:
        response = httpx.get(url, timeout=settings.callback_timeout_seconds)
        response.raise_for_status()
        keys = response.json().get("keys")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise SignatureInvalid(
            f"the partner's keys could not be fetched from {url}: {type(exc).__name__}"
        ) from None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise SignatureInvalid(f"{url} is not a JWKS document (no 'keys' list)")
    return [k for k in keys if k.get("use") in (None, "sig")]


def _keys(url: str, *, refresh: bool) -> list[dict[str, Any]]:
    settings = interop_settings()
    now = time.monotonic()
    with _lock:
        entry = _cache.get(url)
    fresh = entry is not None and now - entry.fetched_at < settings.jwks_cache_seconds
    may_refresh = entry is None or now - entry.fetched_at >= settings.jwks_refresh_seconds
    if entry is not None and (fresh and not (refresh and may_refresh)):
        return entry.keys
    keys = _fetch(url)
    with _lock:
        _cache[url] = _Entry(keys, now)
    return keys


def _pick(keys: list[dict[str, Any]], kid: str | None) -> dict[str, Any] | None:
    if kid is not None:
        return next((k for k in keys if k.get("kid") == kid), None)
    return keys[0] if len(keys) == 1 else None


def partner_key(url: str, envelope: dict[str, Any], signature_format: str) -> PublicKey:
    """The partner key that should verify ``envelope``'s signature.

    Raises:
        SignatureInvalid: The JWKS cannot be fetched, or holds no key with the
            signature's key id (or, without a key id, not exactly one key).
    """
    kid = signature_kid(envelope, signature_format)
    jwk = _pick(_keys(url, refresh=False), kid)
    if jwk is None:
        jwk = _pick(_keys(url, refresh=True), kid)
    if jwk is None:
        named = f"key id {kid!r}" if kid else "a key id (the JWKS holds several keys)"
        raise SignatureInvalid(f"the partner's JWKS at {url} has no signing key for {named}")
    return public_key_from_jwk(jwk)
