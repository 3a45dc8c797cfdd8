"""Field-level encryption of identities at rest, and blind indexes to search them.

Names, phone numbers and identifier values are stored as
``<key id>:<base64url(nonce | AES-256-GCM ciphertext | tag)>``: a fresh 96-bit
nonce per value, the column's field name as associated data (a value copied into
another field no longer decrypts), and the key id so that several keys can be in
use at once while :func:`solidarity.governance.rotation.rotate_data_key`
re-encrypts. Exact search works through keyed hashes (HMAC-SHA256 under a
separate blind-index key) of the identifier value and of each normalised name
token. See docs/decisions/0003-field-encryption.md.

The key ring is a JSON file (``SOLIDARITY_KEY_FILE``, else ``field-keys.json`` in
``SOLIDARITY_KEY_DIR``) or the same JSON in ``SOLIDARITY_FIELD_KEYS``. It is never
created implicitly: ``solidarity keys fields init`` does that, and a missing ring
is a :class:`FieldKeyError` naming what to set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from solidarity.config import Settings, get_settings
from solidarity.errors import SolidarityError

KEY_FILE_NAME = "field-keys.json"
NONCE_BYTES = 12
#: Base64 characters of a nonce (12 bytes: 16 characters, never padded).
_NONCE_CHARS = NONCE_BYTES * 4 // 3
#: Hex characters kept of an identifier's blind index (128 bits) and of a name token's (64).
IDENTIFIER_INDEX_CHARS = 32
NAME_TOKEN_CHARS = 16
_KID = re.compile(r"^[a-z0-9]{1,16}$")


class FieldKeyError(SolidarityError):
    """The field encryption keys are missing, malformed, or cannot open a value."""

    status_code = 500
    title = "Field encryption keys unavailable"
    exit_code = 9


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key_id(prefix: str) -> str:
    """A short fresh key id, e.g. ``e3f9a1c``."""
    return prefix + secrets.token_hex(3)


@dataclass
class KeyRing:
    """Data keys and blind-index keys, each with the one that is active."""

    data_keys: dict[str, bytes]
    active_data: str
    index_keys: dict[str, bytes]
    active_index: str
    source: str = "memory"
    created: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, keys, active in (
            ("data", self.data_keys, self.active_data),
            ("blind-index", self.index_keys, self.active_index),
        ):
            if active not in keys:
                raise FieldKeyError(
                    f"{self.source}: the active {kind} key {active!r} is not in the ring"
                )
            for kid, key in keys.items():
                if not _KID.match(kid):
                    raise FieldKeyError(f"{self.source}: key id {kid!r} must be 1-16 of a-z0-9")
                if len(key) != 32:
                    raise FieldKeyError(f"{self.source}: key {kid!r} must be 32 bytes")
        self._ciphers = {kid: AESGCM(key) for kid, key in self.data_keys.items()}
        self._identifier_keys = [
            hmac.new(self.index_keys[k], b"identifier", hashlib.sha256).digest()
            for k in self.index_kids()
        ]
        self._name_keys = [
            hmac.new(self.index_keys[k], b"name", hashlib.sha256).digest()
            for k in self.index_kids()
        ]
        self._token_cache: dict[str, list[str]] = {}

    # --- (de)serialisation ------------------------------------------------------------

    @classmethod
    def generate(cls, source: str = "memory") -> KeyRing:
        """A ring with one fresh data key and one fresh blind-index key."""
        data, index = new_key_id("e"), new_key_id("b")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(
            {data: os.urandom(32)},
            data,
            {index: os.urandom(32)},
            index,
            source=source,
            created={data: now, index: now},
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> KeyRing:
        """Parse the key-ring JSON (see :meth:`to_json`)."""
        try:
            doc = json.loads(text)
            data = doc["data_keys"]
            index = doc["index_keys"]
            return cls(
                {k: _b64d(v["key"]) for k, v in data["keys"].items()},
                data["active"],
                {k: _b64d(v["key"]) for k, v in index["keys"].items()},
                index["active"],
                source=source,
                created={
                    k: v.get("created", "")
                    for part in (data, index)
                    for k, v in part["keys"].items()
                },
            )
        except FieldKeyError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise FieldKeyError(
                f"{source} is not a field key ring (JSON with data_keys and index_keys): "
                f"{type(exc).__name__}"
            ) from exc

    def to_json(self) -> str:
        """The ring as JSON; keys base64url-encoded."""

        def part(keys: dict[str, bytes], active: str) -> dict[str, Any]:
            return {
                "active": active,
                "keys": {
                    k: {"key": _b64e(v), "created": self.created.get(k, "")}
                    for k, v in keys.items()
                },
            }

        return json.dumps(
            {
                "format": 1,
                "data_keys": part(self.data_keys, self.active_data),
                "index_keys": part(self.index_keys, self.active_index),
            },
            indent=2,
        )

    def index_kids(self) -> list[str]:
        """Blind-index key ids, the active one first."""
        return [self.active_index, *sorted(k for k in self.index_keys if k != self.active_index)]

    # --- encryption -----------------------------------------------------------------

    def encrypt(self, value: str | None, field_name: str) -> str | None:
        """``value`` encrypted under the active data key (``None`` stays ``None``)."""
        if value is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active_data].encrypt(
            nonce, value.encode("utf-8"), field_name.encode("ascii")
        )
        return f"{self.active_data}:{_b64e(nonce + sealed)}"

    def encrypt_many(self, values: Sequence[str | None], field_name: str) -> list[str | None]:
        """Encrypt a column of values (one random draw for all nonces)."""
        kid = self.active_data
        seal = self._ciphers[kid].encrypt
        aad = field_name.encode("ascii")
        nonces = os.urandom(NONCE_BYTES * len(values))
        out: list[str | None] = []
        append = out.append
        encode = base64.urlsafe_b64encode
        for i, value in enumerate(values):
            if value is None:
                append(None)
                continue
            nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
            raw = encode(nonce + seal(nonce, value.encode("utf-8"), aad))
            append(f"{kid}:{raw.rstrip(b'=').decode('ascii')}")
        return out

    def decrypt(self, token: str | None, field_name: str) -> str | None:
        """The plaintext of a stored value (``None`` stays ``None``).

        Raises:
            FieldKeyError: The value's key is not in the ring, or it was altered,
                or it belongs to another field.
        """
        if token is None:
            return None
        kid, sep, body = token.partition(":")
        cipher = self._ciphers.get(kid)
        if not sep or cipher is None:
            raise FieldKeyError(
                f"a {field_name} value is encrypted under key {kid[:16]!r}, which is not in "
                "the key ring (wrong key file, or the key was retired too early)"
                if sep
                else f"a {field_name} value is not encrypted (plaintext in the database?)"
            )
        try:
            raw = _b64d(body)
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field_name.encode())
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise FieldKeyError(
                f"a {field_name} value under key {kid!r} does not authenticate: "
                "it was altered or belongs to another field"
            ) from exc
        return plain.decode("utf-8")

    def decrypt_many(self, tokens: Iterable[str | None], field_name: str) -> list[str | None]:
        """Decrypt a list of stored values (see :meth:`decrypt_series`).

        Raises:
            FieldKeyError: As :meth:`decrypt`, for the first value that fails.
        """
        return self.decrypt_series(pl.Series(list(tokens), dtype=pl.String), field_name).to_list()

    def decrypt_series(self, tokens: pl.Series, field_name: str) -> pl.Series:
        """Decrypt a column of stored values, as :meth:`decrypt` does each one.

        The key ids, nonces and ciphertexts are split and decoded column-wise;
        only the cipher runs value by value, in one tight loop (a payroll opens
        millions of values). A value that does not open sends the column
        through :meth:`decrypt` one value at a time, for the error that says why.

        Raises:
            FieldKeyError: As :meth:`decrypt`, for the first value that fails.
        """
        tokens = tokens.cast(pl.String)
        present = tokens.drop_nulls()
        parts = present.str.splitn(":", 2).struct
        body = parts.field("field_1").str.replace_many(["-", "_"], ["+", "/"])
        nonces = body.str.slice(0, _NONCE_CHARS).str.decode("base64", strict=False)
        rest = body.str.slice(_NONCE_CHARS)
        sealed = rest.str.pad_end((rest.str.len_bytes() + 3) // 4 * 4, "=").str.decode(
            "base64", strict=False
        )
        ciphers, aad = self._ciphers, field_name.encode()
        kids = parts.field("field_0").to_list()
        try:
            opened = [
                ciphers[kid].decrypt(nonce, ciphertext, aad)
                for kid, nonce, ciphertext in zip(
                    kids, nonces.to_list(), sealed.to_list(), strict=True
                )
            ]
        except (InvalidTag, KeyError, TypeError, ValueError):
            # Say which value and why; or open a token Polars' stricter base64
            # refused (e.g. with a line break) that Python's accepts.
            opened = [str(self.decrypt(t, field_name)).encode() for t in present]
        plain = pl.Series(tokens.name, opened, dtype=pl.Binary).cast(pl.String)
        if plain.len() == tokens.len():
            return plain
        out = pl.Series(tokens.name, [None] * tokens.len(), dtype=pl.String)
        return out.scatter(tokens.is_not_null().arg_true(), plain)

    def key_of(self, token: str) -> str:
        """The data key id a stored value is encrypted under."""
        return token.partition(":")[0]

    # --- blind indexes ----------------------------------------------------------------

    def identifier_index(self, value: str | None, index: int = 0) -> str | None:
        """The blind index of an identifier value under the active (or ``index``-th) key."""
        if value is None:
            return None
        digest = hmac.digest(self._identifier_keys[index], value.encode("utf-8"), "sha256")
        return digest.hex()[:IDENTIFIER_INDEX_CHARS]

    def identifier_indexes(self, value: str) -> list[str]:
        """The blind indexes of ``value`` under every index key (active first)."""
        return [self.identifier_index(value, i) or "" for i in range(len(self._identifier_keys))]

    def identifier_index_many(self, values: Sequence[str | None]) -> list[str | None]:
        """Blind indexes of a column of identifier values (active key)."""
        key = self._identifier_keys[0]
        digest = hmac.digest
        n = IDENTIFIER_INDEX_CHARS
        return [
            None if v is None else digest(key, v.encode("utf-8"), "sha256").hex()[:n]
            for v in values
        ]

    def token_hashes(self, token: str, index: int = 0) -> str:
        """The blind index of one normalised name token."""
        digest = hmac.digest(self._name_keys[index], token.encode("utf-8"), "sha256")
        return digest.hex()[:NAME_TOKEN_CHARS]

    def name_index(self, *names: str | None) -> str:
        """The blind index of a person's names: `` h1 h2 ... `` (sorted, space-framed).

        Each normalised token of every name is hashed; a search for a token is a
        ``LIKE '% h %'`` on this column.
        """
        cache = self._token_cache
        hashes: set[str] = set()
        for name in names:
            if not name:
                continue
            found = cache.get(name)
            if found is None:
                found = [self.token_hashes(t) for t in name_tokens(name)]
                if len(cache) < 500_000:
                    cache[name] = found
            hashes.update(found)
        return " " + " ".join(sorted(hashes)) + " " if hashes else " "

    def name_index_many(self, *columns: Sequence[str | None]) -> list[str]:
        """Name indexes over parallel columns of names.

        Row by row, but each distinct name is normalised and hashed once (cached):
        cheaper than list operations in Polars, measured (docs/benchmarks.md).
        """
        index = self.name_index
        return [index(*row) for row in zip(*columns, strict=True)]

    def name_token_indexes(self, term: str) -> list[list[str]]:
        """For each token of a search term, its blind indexes under every index key."""
        return [
            [self.token_hashes(tok, i) for i in range(len(self._name_keys))]
            for tok in name_tokens(term)
        ]

    def name_token_patterns(self, term: str) -> list[list[str]]:
        """For each token of a search term, its LIKE patterns under every index key."""
        return [[f"% {h} %" for h in per_key] for per_key in self.name_token_indexes(term)]


@lru_cache(maxsize=200_000)
def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_TOKEN = re.compile(r"[^\W_]+")


def name_tokens(name: str) -> list[str]:
    """Case- and accent-folded word tokens of a name: ``"Zoë d'Arc"`` -> zoe, d, arc."""
    return [_fold(t) for t in _TOKEN.findall(name)]


# --- the process-wide key ring -----------------------------------------------------


def key_file_path(settings: Settings | None = None) -> Path:
    """Where the key ring file is (or would be) under the current settings."""
    settings = settings or get_settings()
    return settings.key_file or settings.key_dir / KEY_FILE_NAME


def load_key_ring(settings: Settings | None = None) -> KeyRing:
    """Read the key ring the settings point at.

    Raises:
        FieldKeyError: No ring is configured, or it does not parse.
    """
    settings = settings or get_settings()
    if settings.field_keys:
        return KeyRing.from_json(settings.field_keys, "SOLIDARITY_FIELD_KEYS")
    path = key_file_path(settings)
    if not path.is_file():
        raise FieldKeyError(
            f"no field encryption keys: {path} does not exist. Create a key ring with "
            "`solidarity keys fields init` (then back it up), or point SOLIDARITY_KEY_FILE "
            "at yours, or put it in SOLIDARITY_FIELD_KEYS"
        )
    return KeyRing.from_json(path.read_text(encoding="utf-8"), str(path))


def write_key_ring(ring: KeyRing, path: Path, *, replace: bool = False) -> None:
    """Write ``ring`` to ``path`` with owner-only permissions (atomically when replacing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not replace:
        raise FieldKeyError(f"{path} already exists: it may hold the only copy of your keys")
    temporary = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(ring.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    reset_key_ring()


def ensure_key_ring() -> Path | None:
    """Create a key ring where the settings look for one, if there is none (demo, benchmarks).

    Returns:
        The file created, or ``None`` when a ring was already configured.
    """
    if get_settings().field_keys:
        return None
    path = key_file_path()
    if path.exists():
        return None
    write_key_ring(KeyRing.generate(str(path)), path)
    return path


_lock = threading.Lock()
_state: dict[str, Any] = {}
#: Seconds between checks that the key file has not changed (another process rotated).
RECHECK_SECONDS = 2.0


def _fingerprint(settings: Settings) -> tuple[Any, ...]:
    if settings.field_keys:
        return ("env", settings.field_keys)
    path = key_file_path(settings)
    try:
        stat = path.stat()
    except OSError:
        return ("file", str(path), None)
    return ("file", str(path), stat.st_mtime_ns, stat.st_size)


def key_ring() -> KeyRing:
    """The current key ring, cached; reloaded when the settings or the key file change.

    Checks at most every :data:`RECHECK_SECONDS`, reading the environment afresh
    rather than through :func:`get_settings`, so that opening a value never fixes
    the process-wide settings cache as a side effect.
    """
    now = time.monotonic()
    cached = _state.get("ring")
    if cached is not None and now - _state.get("checked", 0.0) < RECHECK_SECONDS:
        return cached  # type: ignore[no-any-return]
    with _lock:
        settings = Settings()
        fingerprint = _fingerprint(settings)
        if cached is None or _state.get("fingerprint") != fingerprint:
            cached = load_key_ring(settings)
            _state["ring"] = cached
            _state["fingerprint"] = fingerprint
        _state["checked"] = now
    return cached


def reset_key_ring() -> None:
    """Forget the cached ring (after writing a new one, or in tests)."""
    with _lock:
        _state.clear()


def check_key_ring() -> KeyRing:
    """Load the ring at start-up so that a missing or broken one fails at once, clearly."""
    reset_key_ring()
    return key_ring()
