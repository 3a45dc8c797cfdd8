"""Encrypted DCI messages: JWE with RSA-OAEP-256 key wrapping and AES-256-GCM.

When ``header.is_msg_encrypted`` is true, ``message`` is a flattened JWE
(digest section 9): ``{header: {alg, enc, kid}, encrypted_key, iv, ciphertext,
tag}``, the four strings base64url without padding, as OpenCRVS sends them. The
sender encrypts with the receiver's key published with ``use: "enc"`` in its
JWKS; Solidarity publishes one such RSA key beside its signing keys
(``dci-enc-<kid>.pem`` in the key directory, created on first use).

The additional authenticated data follows RFC 7516: the ASCII of the
``protected`` member when the sender sends one, else empty (the ``header``
object is an unprotected header). A message that does not decrypt is refused
with ``err.encryption.invalid``; the signature, when required, covers the
envelope as sent (ciphertext), so it is checked on the sent form.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import RSAAlgorithm

from solidarity.interop.errors import EncryptionInvalid

ALG = "RSA-OAEP-256"
ENC = "A256GCM"
_OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)
_lock = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(value: Any, member: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise EncryptionInvalid(f"the encrypted message needs {member} (base64url)")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise EncryptionInvalid(f"{member} is not base64url") from None


class MessageKey:
    """Solidarity's key for messages encrypted to it, kept in the key directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys: dict[str, rsa.RSAPrivateKey] | None = None

    def _load(self) -> dict[str, rsa.RSAPrivateKey]:
        if self._keys is not None:
            return self._keys
        with _lock:
            keys: dict[str, rsa.RSAPrivateKey] = {}
            for pem in sorted(self.directory.glob("dci-enc-*.pem")):
                key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
                if isinstance(key, rsa.RSAPrivateKey):
                    keys[pem.stem.removeprefix("dci-enc-")] = key
            if not keys:
                kid = f"enc-{secrets.token_hex(6)}"
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(
                    self.directory / f"dci-enc-{kid}.pem",
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                    0o600,
                )
                with os.fdopen(fd, "wb") as handle:
                    handle.write(
                        key.private_bytes(
                            serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption(),
                        )
                    )
                keys[kid] = key
            self._keys = keys
            return keys

    def jwks(self) -> list[dict[str, Any]]:
        """The public halves, as JWKs with ``use: "enc"``."""
        out = []
        for kid, key in self._load().items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            out.append({**jwk, "kid": kid, "use": "enc", "alg": ALG})
        return out

    def decrypt(self, message: Any) -> dict[str, Any]:
        """The plaintext message of a JWE addressed to one of our keys.

        Raises:
            EncryptionInvalid: Not a JWE, another algorithm, an unknown key id, or
                a ciphertext that does not authenticate.
        """
        if not isinstance(message, dict) or not isinstance(message.get("header"), dict):
            raise EncryptionInvalid(
                "an encrypted message must be {header: {alg, enc, kid}, encrypted_key, iv, "
                "ciphertext, tag}"
            )
        header = message["header"]
        if header.get("alg") != ALG or header.get("enc") != ENC:
            used = f"{header.get('alg')}/{header.get('enc')}"
            raise EncryptionInvalid(f"encryption {used} is not supported: use {ALG}/{ENC}")
        keys = self._load()
        kid = header.get("kid")
        if kid not in keys:
            raise EncryptionInvalid(f"the message is encrypted to key {kid!r}, which is not ours")
        encrypted_key = _unb64(message.get("encrypted_key"), "encrypted_key")
        iv = _unb64(message.get("iv"), "iv")
        ciphertext = _unb64(message.get("ciphertext"), "ciphertext")
        tag = _unb64(message.get("tag"), "tag")
        protected = message.get("protected")
        aad = protected.encode("ascii") if isinstance(protected, str) else b""
        try:
            cek = keys[kid].decrypt(encrypted_key, _OAEP)
            plaintext = AESGCM(cek).decrypt(iv, ciphertext + tag, aad)
        except (ValueError, InvalidTag):
            raise EncryptionInvalid("the encrypted message does not decrypt with our key") from None
        try:
            decoded = json.loads(plaintext)
        except ValueError:
            raise EncryptionInvalid("the decrypted message is not JSON") from None
        if not isinstance(decoded, dict):
            raise EncryptionInvalid("the decrypted message is not a JSON object")
        return decoded


def encrypt(message: dict[str, Any], jwk: dict[str, Any]) -> dict[str, Any]:
    """``message`` as a JWE for the holder of ``jwk`` (an RSA key with ``use: "enc"``).

    Raises:
        EncryptionInvalid: The key is not an RSA public key.
    """
    try:
        public = RSAAlgorithm.from_jwk(json.dumps(jwk))
    except Exception:
        raise EncryptionInvalid("the receiver's encryption key is not an RSA JWK") from None
    if isinstance(public, rsa.RSAPrivateKey):
        public = public.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise EncryptionInvalid("the receiver's encryption key is not an RSA public key")
    cek = AESGCM.generate_key(bit_length=256)
    iv = secrets.token_bytes(12)
    sealed = AESGCM(cek).encrypt(iv, json.dumps(message, separators=(",", ":")).encode(), b"")
    return {
        "header": {"alg": ALG, "enc": ENC, "kid": jwk.get("kid")},
        "encrypted_key": _b64(public.encrypt(cek, _OAEP)),
        "iv": _b64(iv),
        "ciphertext": _b64(sealed[:-16]),
        "tag": _b64(sealed[-16:]),
    }
