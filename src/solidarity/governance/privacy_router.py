"""Privacy over HTTP: pseudonymised releases for analysis and erasure requests."""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as PathParam
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.governance import erasure, releases
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.schemas import (
    ErasureDecisionIn,
    ErasureRequestIn,
    ErasureRequestOut,
    PseudonymisedExportIn,
    ReleasePage,
)
from solidarity.registry.pseudonymised import export_pseudonymised
from solidarity.web.deps import get_engine_from_app, get_keys, get_session, require

router = APIRouter(tags=["privacy"])

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
EngineDep = Annotated[Engine, Depends(get_engine_from_app)]
Exporter = Annotated[Principal, Depends(require("registry.export_pseudonymised"))]
Auditor = Annotated[Principal, Depends(require("audit.read"))]
Eraser = Annotated[Principal, Depends(require("privacy.erase"))]
RequestId = Annotated[str, PathParam(min_length=3, max_length=64, pattern=r"^ER-[0-9a-f]+$")]


@router.post(
    "/api/v1/exports/pseudonymised",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "households and persons files in a ZIP; X-Release-Id names the release",
        },
        422: {"description": "Unknown agency, area or option (problem details)"},
    },
)
def export_pseudonymised_extract(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    keys: KeysDep,
    exporter: Exporter,
    body: PseudonymisedExportIn,
) -> Response:
    """Release a pseudonymised extract of the caller's areas, recorded in the audit trail.

    Ids and identifiers are keyed hashes, birth dates a year or a five-year band,
    areas their ancestor at ``area_level``; names, contacts and health answers are
    left out. The release (recipient, purpose, files, rows, SHA-256) is an audit entry.
    """
    releases.check_recipient(session, body.recipient, body.purpose, body.agency_code)
    with tempfile.TemporaryDirectory(prefix="solidarity-release-") as tmp:
        extract = export_pseudonymised(
            engine,
            Path(tmp),
            key=releases.export_key(keys),
            file_format=body.format,
            area_code=body.area_code,
            scope_paths=None if exporter.area_paths is None else list(exporter.area_paths),
            area_level=body.area_level,
            birth=body.birth,
            as_of=body.as_of,
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for written in extract.files:
                archive.write(written.path, written.path.name)
    package = buffer.getvalue()
    digest = hashlib.sha256(package).hexdigest()
    release = releases.record_release(
        session,
        extract,
        actor=exporter.username,
        recipient=body.recipient,
        purpose=body.purpose,
        agency_code=body.agency_code,
        client_address=exporter.client_address,
        package_sha256=digest,
    )
    return Response(
        package,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{release.release_id}.zip"',
            "X-Release-Id": release.release_id,
            "X-Content-SHA256": digest,
            "Cache-Control": "no-store",
        },
    )


@router.get("/api/v1/audit/releases", response_model=ReleasePage, tags=["audit"])
def list_releases(
    session: SessionDep,
    _auditor: Auditor,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReleasePage:
    """Data released outside the registry, newest first: to whom, why, rows, checksums."""
    items, total = releases.list_releases(session, limit, offset)
    return ReleasePage(items=items, total=total)


@router.get("/api/v1/erasure-requests", response_model=list[ErasureRequestOut], tags=["erasure"])
def list_erasure_requests(
    session: SessionDep,
    eraser: Eraser,
    status_: Annotated[str | None, Query(alias="status")] = None,
) -> list[ErasureRequestOut]:
    """Erasure requests about the caller's areas, newest first."""
    return erasure.list_erasure_requests(session, eraser, status_)


@router.post(
    "/api/v1/erasure-requests",
    response_model=ErasureRequestOut,
    status_code=status.HTTP_201_CREATED,
    tags=["erasure"],
)
def request_erasure(
    session: SessionDep, eraser: Eraser, body: ErasureRequestIn
) -> ErasureRequestOut:
    """File an erasure request for a person or a whole household; another steward decides."""
    return erasure.request_erasure(
        session,
        eraser,
        person_id=body.person_id,
        household_id=body.household_id,
        reason=body.reason,
    )


@router.post(
    "/api/v1/erasure-requests/{request_id}/approve",
    response_model=ErasureRequestOut,
    tags=["erasure"],
)
def approve_erasure(
    session: SessionDep,
    eraser: Eraser,
    request_id: RequestId,
    body: ErasureDecisionIn | None = None,
) -> ErasureRequestOut:
    """Approve an erasure request and anonymise the data at once (not by its requester)."""
    return erasure.decide_erasure(
        session, eraser, request_id, approve=True, reason=body.reason if body else None
    )


@router.post(
    "/api/v1/erasure-requests/{request_id}/reject",
    response_model=ErasureRequestOut,
    tags=["erasure"],
)
def reject_erasure(
    session: SessionDep, eraser: Eraser, request_id: RequestId, body: ErasureDecisionIn
) -> ErasureRequestOut:
    """Reject an erasure request with a reason; nothing is changed."""
    return erasure.decide_erasure(session, eraser, request_id, approve=False, reason=body.reason)
