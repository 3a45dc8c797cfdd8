"""Message signatures: the ``signature`` member of the envelope (digest section 9).

Two formats, chosen per partner:

* ``spdci`` (OpenSPP's reading, our default): SHA-256 over the compact, key-sorted
  JSON of ``{"header", "message"}``, base64; the signing string
  ``"(created): C\\n(expires): E\\ndigest: D"`` is signed (Ed25519 or RSA
  PKCS#1 v1.5 SHA-256) and written as
  ``Signature: namespace="dci", kidId="<sender>|<kid>|<alg>", algorithm="<alg>",
  created="C", expires="E", headers="(created) (expires) digest", signature="B64"``.
* ``jws`` (OpenCRVS's reading): a compact JWS (RS256 or EdDSA) whose payload is
  the JSON of the envelope without ``signature``.

Solidarity signs what it sends with its current token signing key (RSA), already
published at ``/.well-known/jwks.json``, so partners fetch one key set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from solidarity.governance.keys import KeyStore
from solidarity.interop.errors import SignatureInvalid

_PARAM = re.compile(r'(\w+)="([^"]*)"')
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def digest(envelope: dict[str, Any]) -> str:
    """Base64 SHA-256 of the compact, key-sorted JSON of header and message."""
    body = {"header": envelope.get("header"), "message": envelope.get("message")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _signing_string(created: int, expires: int, digest_b64: str) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: {digest_b64}".encode()


def sign_spdci(
    envelope: dict[str, Any],
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    *,
    sender_id: str,
    kid: str,
    validity: int = 300,
    now: float | None = None,
) -> str:
    """The ``spdci`` signature of ``envelope``."""
    created = int(now if now is not None else time.time())
    expires = created + validity
    message = _signing_string(created, expires, digest(envelope))
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        algorithm, raw = "ed25519", private_key.sign(message)
    else:
        algorithm = "rsa-sha256"
        raw = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    signature = base64.b64encode(raw).decode("ascii")
    return (
        f'Signature: namespace="dci", kidId="{sender_id}|{kid}|{algorithm}", '
        f'algorithm="{algorithm}", created="{created}", expires="{expires}", '
        f'headers="(created) (expires) digest", signature="{signature}"'
    )


def sign_jws(
    envelope: dict[str, Any],
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    *,
    kid: str,
) -> str:
    """A compact JWS over the envelope without its signature."""
    payload = {k: v for k, v in envelope.items() if k != "signature"}
    algorithm = "EdDSA" if isinstance(private_key, ed25519.Ed25519PrivateKey) else "RS256"
    return jwt.api_jws.encode(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode(),
        private_key,
        algorithm=algorithm,
        headers={"kid": kid},
    )


def public_key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """The public key of a JWK (RSA or OKP/Ed25519).

    Raises:
        SignatureInvalid: The JWK is not a usable RSA or Ed25519 key.
    """
    key: Any
    try:
        if jwk.get("kty") == "RSA":
            key = RSAAlgorithm.from_jwk(json.dumps(jwk))
        elif jwk.get("kty") == "OKP":
            key = OKPAlgorithm.from_jwk(json.dumps(jwk))
        else:
            raise ValueError(jwk.get("kty"))
    except Exception:
        raise SignatureInvalid("the partner's key is not a usable RSA or Ed25519 JWK") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        return key
    raise SignatureInvalid("the partner's key is not an RSA or Ed25519 key")


def verify_spdci(
    envelope: dict[str, Any], key: PublicKey, *, skew: int = 60, now: float | None = None
) -> None:
    """Check an ``spdci`` signature.

    Raises:
        SignatureInvalid: Malformed, expired, not yet valid, or not matching.
    """
    signature = envelope.get("signature")
    if not isinstance(signature, str):
        raise SignatureInvalid("the signature must be a string")
    params = dict(_PARAM.findall(signature))
    try:
        created, expires = int(params["created"]), int(params["expires"])
        raw = base64.b64decode(params["signature"], validate=True)
    except (KeyError, ValueError):
        raise SignatureInvalid(
            'the signature is not in the expected format (created="…", expires="…", signature="…")'
        ) from None
    moment = now if now is not None else time.time()
    if created > moment + skew:
        raise SignatureInvalid("the signature was created in the future")
    if expires < moment - skew:
        raise SignatureInvalid("the signature has expired")
    message = _signing_string(created, expires, digest(envelope))
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(raw, message)
        else:
            key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureInvalid("the signature does not match the message") from None


def verify_jws(envelope: dict[str, Any], key: PublicKey) -> None:
    """Check a compact JWS signature over the envelope.

    Raises:
        SignatureInvalid: Malformed, wrongly signed, or over another content.
    """
    signature = envelope.get("signature")
    try:
        payload = jwt.api_jws.decode(
            str(signature).encode(),
            key,
            algorithms=["RS256", "EdDSA"],  # type: ignore[arg-type]
        )
        signed = json.loads(payload)
    except (jwt.PyJWTError, ValueError):
        raise SignatureInvalid("the JWS signature does not verify") from None
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    if signed != unsigned:
        raise SignatureInvalid("the JWS signature covers another message")


def signature_kid(envelope: dict[str, Any], signature_format: str) -> str | None:
    """The key id a signature names, read without verifying it.

    ``spdci``: the middle part of ``kidId="{sender_id}|{key id}|{algorithm}"``;
    ``jws``: the ``kid`` of the JWS header.
    """
    signature = str(envelope.get("signature") or "")
    if signature_format == "jws":
        try:
            head = signature.split(".", 1)[0]
            header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        except (ValueError, IndexError):
            return None
        kid = header.get("kid") if isinstance(header, dict) else None
        return str(kid) if kid else None
    parts = dict(_PARAM.findall(signature)).get("kidId", "").split("|")
    return parts[1] if len(parts) == 3 and parts[1] else None


def sign_outgoing(
    envelope: dict[str, Any], keys: KeyStore, *, sender_id: str, validity: int
) -> dict[str, Any]:
    """``envelope`` with our ``spdci`` signature (RSA key of the key store)."""
    key = keys.signing_key()
    envelope["signature"] = sign_spdci(
        envelope, key.private_key, sender_id=sender_id, kid=key.kid, validity=validity
    )
    return envelope


def verify_ours(envelope: dict[str, Any], keys: KeyStore) -> None:
    """Check a signature we made (used by the mock CRVS server and tests).

    Raises:
        SignatureInvalid: It does not verify with any published key.
    """
    params = dict(_PARAM.findall(str(envelope.get("signature") or "")))
    kid = params.get("kidId", "||").split("|")[1]
    public = keys.public_key(kid)
    if public is None:
        raise SignatureInvalid(f"no published key {kid!r}")
    verify_spdci(envelope, public)
