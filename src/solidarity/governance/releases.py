"""Records of data released outside the registry: what, to whom, why. Flush, never commit.

A release is an entry of the audit trail (action ``data.released``), so it is
hash-chained like every other entry and cannot be edited or deleted unnoticed.
It names the recipient and its agency, the purpose, the files with their row
counts, columns and SHA-256, and how the data was generalised; an auditor lists
releases with ``solidarity audit releases`` or ``GET /api/v1/audit/releases``.
The checksum lets anyone later prove which file left the registry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy.orm import Session

from solidarity.errors import ValidationFailed
from solidarity.governance import audit
from solidarity.governance.keys import KeyStore
from solidarity.governance.models import AuditEntry
from solidarity.governance.repository import AgreementRepository, AuditFilter, AuditRepository
from solidarity.governance.schemas import ReleasedFileOut, ReleaseOut
from solidarity.registry.pseudonymised import PseudonymisedExtract

RELEASED = "data.released"


def export_key(keys: KeyStore) -> bytes:
    """The pseudonym key of exports, derived from the deployment secret.

    It differs from the key of on-screen pseudonyms, so a released file cannot be
    joined to what analysts see in the application.
    """
    return hmac.new(keys.secret(), b"export-pseudonym", hashlib.sha256).digest()


def check_recipient(
    session: Session, recipient: str, purpose: str, agency_code: str | None
) -> None:
    """Refuse a release without a recipient or purpose, or naming an unknown agency.

    Raises:
        ValidationFailed: Naming the field and the reason.
    """
    errors = []
    if not recipient.strip():
        errors.append({"field": "recipient", "message": "say who receives the data"})
    if not purpose.strip():
        errors.append({"field": "purpose", "message": "say why the data is released"})
    if agency_code is not None and AgreementRepository(session).agency(agency_code) is None:
        errors.append({"field": "agency_code", "value": agency_code, "message": "unknown agency"})
    if errors:
        raise ValidationFailed("the release is not valid", errors)


def record_release(
    session: Session,
    extract: PseudonymisedExtract,
    *,
    actor: str,
    recipient: str,
    purpose: str,
    agency_code: str | None = None,
    client_address: str | None = None,
    package_sha256: str | None = None,
) -> ReleaseOut:
    """Write the audit entry of a pseudonymised release and return it.

    Raises:
        ValidationFailed: No recipient or purpose, or an unknown agency.
    """
    check_recipient(session, recipient, purpose, agency_code)
    release_id = f"REL-{secrets.token_hex(6)}"
    details: dict[str, Any] = {
        "kind": "pseudonymised",
        "recipient": recipient.strip(),
        "agency_code": agency_code,
        "format": extract.file_format,
        "area_code": extract.area_code,
        "area_level": extract.area_level,
        "birth": extract.birth,
        "as_of": extract.as_of.isoformat() if extract.as_of else None,
        "rows": extract.rows,
        "files": [
            {"name": f.path.name, "rows": f.rows, "sha256": f.sha256, "columns": list(f.columns)}
            for f in extract.files
        ],
        "package_sha256": package_sha256,
    }
    entry = audit.record(
        session,
        actor=actor,
        action=RELEASED,
        object_type="release",
        object_id=release_id,
        purpose=purpose.strip(),
        details=details,
        client_address=client_address,
    )
    return release_out(entry)


def release_out(entry: AuditEntry) -> ReleaseOut:
    """A release as read back from its audit entry."""
    details = entry.details or {}
    return ReleaseOut(
        release_id=entry.object_id or "",
        sequence=entry.sequence,
        at=entry.at,
        released_by=entry.actor,
        recipient=details.get("recipient", ""),
        agency_code=details.get("agency_code"),
        purpose=entry.purpose or "",
        kind=details.get("kind", ""),
        rows=int(details.get("rows", 0)),
        area_code=details.get("area_code"),
        area_level=details.get("area_level"),
        birth=details.get("birth"),
        as_of=details.get("as_of"),
        package_sha256=details.get("package_sha256"),
        files=[ReleasedFileOut(**f) for f in details.get("files", [])],
    )


def list_releases(
    session: Session, limit: int = 100, offset: int = 0
) -> tuple[list[ReleaseOut], int]:
    """Releases, newest first, and how many there are."""
    rows, total = AuditRepository(session).search(AuditFilter(action=RELEASED), limit, offset)
    return [release_out(r) for r in rows], total
