"""Privacy over HTTP: pseudonymised releases for analysis and erasure requests."""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.governance import releases
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.schemas import PseudonymisedExportIn, ReleasePage
from solidarity.registry.pseudonymised import export_pseudonymised
from solidarity.web.deps import get_engine_from_app, get_keys, get_session, require

router = APIRouter(tags=["privacy"])

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
EngineDep = Annotated[Engine, Depends(get_engine_from_app)]
Exporter = Annotated[Principal, Depends(require("registry.export_pseudonymised"))]
Auditor = Annotated[Principal, Depends(require("audit.read"))]


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
