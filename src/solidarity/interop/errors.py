"""Typed errors of the DCI servers; each carries its DCI ``error.code`` and HTTP status.

These are transport and envelope errors (section 5 of the DCI digest): they are
answered before any processing with an ``ack_status: ERR`` body. Business
outcomes (an unknown identifier type, a bad sort attribute) are not errors: they
become a ``rjct`` item inside the response.
"""

from __future__ import annotations

from solidarity.errors import SolidarityError

#: Every ``error.code`` the standard defines.
ERROR_CODES = (
    "err.request.bad",
    "err.request.unauthorized",
    "err.request.forbidden",
    "err.request.not_found",
    "err.request.timeout",
    "err.version.not_supported",
    "err.request.too_many_requests",
    "err.sender_id.invalid",
    "err.sender_uri.invalid",
    "err.receiver_id.invalid",
    "err.signature.missing",
    "err.signature.invalid",
    "err.encryption.invalid",
    "err.service.unavailable",
)


class DciError(SolidarityError):
    """A DCI request refused before it was acknowledged.

    Attributes:
        code: The DCI ``error.code``.
        status_code: The HTTP status of the answer.
    """

    code = "err.request.bad"
    status_code = 400
    title = "DCI request refused"
    exit_code = 3

    def __init__(self, detail: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(detail[:999])
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class BadRequest(DciError):
    """Invalid JSON, a schema-invalid envelope or message, a malformed query."""


class VersionNotSupported(DciError):
    """``header.version`` is not one this server speaks."""

    code = "err.version.not_supported"


class Unauthorized(DciError):
    """No bearer token, or an expired, malformed or wrongly signed one."""

    code = "err.request.unauthorized"
    status_code = 401


class Forbidden(DciError):
    """The client may not do this (scope, agreement, sender id not its own)."""

    code = "err.request.forbidden"
    status_code = 403


class NotFound(DciError):
    """The requested path or object does not exist."""

    code = "err.request.not_found"
    status_code = 404


class TooManyRequests(DciError):
    """The client sent too many requests."""

    code = "err.request.too_many_requests"
    status_code = 429


class SenderIdInvalid(DciError):
    """``header.sender_id`` is not the client the token was issued to."""

    code = "err.sender_id.invalid"
    status_code = 403


class SenderUriInvalid(DciError):
    """``header.sender_uri`` is missing on an async call or not an allowed callback URL."""

    code = "err.sender_uri.invalid"


class ReceiverIdInvalid(DciError):
    """``header.receiver_id`` names another system."""

    code = "err.receiver_id.invalid"


class SignatureMissing(DciError):
    """The partner must sign its messages and this one is not signed."""

    code = "err.signature.missing"
    status_code = 401


class SignatureInvalid(DciError):
    """The signature does not verify with the partner's key (or has expired)."""

    code = "err.signature.invalid"
    status_code = 401


class EncryptionInvalid(DciError):
    """An encrypted message: this server does not accept encrypted messages yet."""

    code = "err.encryption.invalid"


class DuplicateMessage(DciError):
    """A ``message_id`` already received from this sender (a replay)."""

    status_code = 409


class ServiceUnavailable(DciError):
    """The server cannot process the request now."""

    code = "err.service.unavailable"
    status_code = 503


class InteropError(SolidarityError):
    """An interoperability operation that failed (CRVS sync, a partner setting)."""

    title = "Interoperability error"
    exit_code = 9
