"""Bulk imports over HTTP: upload files, follow the job, read the report.

``POST /api/v1/imports`` only stores the uploads and queues a ``registry.import``
job; ``solidarity worker`` runs :func:`run_import`, which calls the intake
(committing per batch, so a re-run after a crash resumes) and records the outcome
as the job's result. A refused import is a *succeeded* job whose result status
is ``refused``: the job ran fine, the data was refused.
"""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, computed_field, field_validator
from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.errors import NotFoundError, SolidarityError, ValidationFailed
from solidarity.governance import audit
from solidarity.governance.principal import Principal
from solidarity.jobs import service as jobs
from solidarity.jobs.schemas import JobAccepted
from solidarity.jobs.service import JobContext
from solidarity.registry.intake.repository import ImportRunRepository
from solidarity.web.deps import get_session, require

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])

Importer = Annotated[Principal, Depends(require("registry.import"))]


def _owner(principal: Principal) -> str | None:
    # Import runs are followed by who started them; job managers see every run.
    return None if principal.has("jobs.manage") else principal.username


#: Job kind run by :func:`run_import` (registered in ``solidarity.jobs.handlers``).
IMPORT_KIND = "registry.import"
DATA_EXTENSIONS = frozenset({".csv", ".xlsx", ".parquet"})
MAPPING_EXTENSIONS = frozenset({".yaml", ".yml"})
#: How many error rows the job result carries (the full list is in the report).
RESULT_ERRORS = 100
_CHUNK = 1024 * 1024


class UnsupportedFileType(SolidarityError):
    """An upload whose extension the import cannot read."""

    status_code = 415
    title = "Unsupported media type"
    exit_code = 3


class UploadTooLarge(SolidarityError):
    """An upload bigger than ``SOLIDARITY_MAX_UPLOAD_BYTES``."""

    status_code = 413
    title = "Content too large"
    exit_code = 3


class ImportRunOut(BaseModel):
    """One import run: what was sent, what happened, and the report."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    files: list[str]
    mode: str
    status: str
    households_in_file: int
    persons_in_file: int
    households_imported: int
    persons_imported: int
    households_skipped: int
    households_rejected: int
    error_count: int
    report: dict[str, Any] | None = None
    created_at: datetime
    created_by: str
    finished_at: datetime | None

    @field_validator("created_at", "finished_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # SQLite returns naive datetimes; every stored time is UTC.
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def errors_url(self) -> str | None:
        """Where the full error report can be downloaded, when there are errors."""
        return f"/api/v1/imports/{self.id}/errors.csv" if self.error_count else None


class ImportRunPage(BaseModel):
    """A page of import runs, newest first."""

    items: list[ImportRunOut]
    total: int
    limit: int
    offset: int


# Reads of import runs. They belong with the intake's queries
# (solidarity.registry.intake.repository); kept here until that module offers them.
def safe_filename(name: str | None, fallback: str = "upload") -> str:
    """A file name safe to store: no directories, no leading dots, plain characters.

    ``../../etc/passwd.csv`` becomes ``passwd.csv`` and ``C:\\x\\hh list.csv``
    becomes ``hh_list.csv``.
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")
    return base[:120] or fallback


def _check_extension(name: str, allowed: frozenset[str], field: str) -> None:
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        raise UnsupportedFileType(
            f"{field} file {name!r} has an unsupported type: use {', '.join(sorted(allowed))}",
            field=field,
            filename=name,
        )


def _store(source: BinaryIO, target: Path, limit: int) -> int:
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadTooLarge(
                    f"{target.name} is larger than the {limit:,} bytes allowed",
                    filename=target.name,
                    max_upload_bytes=limit,
                )
            out.write(chunk)
    return written


def store_uploads(
    files: list[UploadFile], mapping: UploadFile | None
) -> tuple[Path, list[Path], Path | None]:
    """Keep uploaded data files (and a mapping) in a new directory under the upload dir.

    Names are sanitised, extensions and sizes checked (415/413), and nothing is kept
    when any of it fails. Used by the API and the import wizard alike.
    """
    settings = get_settings()
    names = [safe_filename(f.filename, f"file{n}") for n, f in enumerate(files, start=1)]
    for name in names:
        _check_extension(name, DATA_EXTENSIONS, "data")
    mapping_name: str | None = None
    if mapping is not None:
        mapping_name = safe_filename(mapping.filename, "mapping.yaml")
        _check_extension(mapping_name, MAPPING_EXTENSIONS, "mapping")
    for upload in [*files, *([mapping] if mapping is not None else [])]:
        if upload.size is not None and upload.size > settings.max_upload_bytes:
            shown = safe_filename(upload.filename)
            raise UploadTooLarge(
                f"{shown} is larger than the {settings.max_upload_bytes:,} bytes allowed",
                filename=shown,
                max_upload_bytes=settings.max_upload_bytes,
            )
    if len(set(names)) < len(names):  # two files with one name: keep both
        names = [f"{n}-{name}" for n, name in enumerate(names, start=1)]
    directory = settings.upload_dir / uuid.uuid4().hex
    directory.mkdir(parents=True)
    try:
        stored = []
        for upload, name in zip(files, names, strict=True):
            path = directory / name
            _store(upload.file, path, settings.max_upload_bytes)
            stored.append(path)
        mapping_path = None
        if mapping is not None and mapping_name is not None:
            mapping_path = directory / f"mapping-{mapping_name}"
            _store(mapping.file, mapping_path, settings.max_upload_bytes)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory, stored, mapping_path


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses={
        413: {"description": "A file is larger than SOLIDARITY_MAX_UPLOAD_BYTES"},
        415: {"description": "A file is not .csv, .xlsx or .parquet (mapping: .yaml)"},
    },
)
def create_import(
    response: Response,
    files: list[UploadFile] = File(
        ..., description="Households and persons files, or one combined file"
    ),
    mapping: UploadFile | None = File(
        default=None, description="Optional YAML column mapping (see the intake guide)"
    ),
    source: str = Form(default="default", max_length=64, description="Source system name"),
    accept_valid: bool = Form(
        default=False, description="Import the valid households and reject the others"
    ),
    session: Session = Depends(get_session),
    importer: Principal = Depends(require("registry.import")),
) -> JobAccepted:
    """Upload files to import and queue the import; follow it at the returned URL.

    Households of areas outside the importer's own are refused row by row.
    """
    actor = importer.username
    if not 1 <= len(files) <= 2:
        raise ValidationFailed(
            "send one combined file or two files (households and persons)",
            [{"field": "files", "message": f"{len(files)} files sent"}],
        )
    directory, stored, mapping_path = store_uploads(files, mapping)
    job = jobs.enqueue(
        session,
        IMPORT_KIND,
        {
            "directory": str(directory),
            "files": [str(path) for path in stored],
            "mapping_file": str(mapping_path) if mapping_path else None,
            "source": source,
            "accept_valid": accept_valid,
            "actor": actor,
            "area_scope": list(importer.area_paths) if importer.area_paths is not None else None,
        },
        actor=actor,
    )
    audit.record_for(
        session,
        importer,
        "registry.import_queued",
        "job",
        job.id,
        {"files": [path.name for path in stored], "source": source},
    )
    url = f"/api/v1/jobs/{job.id}"
    response.headers["Location"] = url
    return JobAccepted(id=job.id, kind=job.kind, status="queued", url=url)


@router.get("", response_model=ImportRunPage)
def list_imports(
    importer: Importer,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
    session: Session = Depends(get_session),
) -> ImportRunPage:
    """List import runs, newest first, with their counts."""
    runs, total = ImportRunRepository(session).page(limit, offset, _owner(importer))
    return ImportRunPage(
        items=[ImportRunOut.model_validate(run) for run in runs],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{import_id}", response_model=ImportRunOut)
def get_import(
    import_id: int, importer: Importer, session: Session = Depends(get_session)
) -> ImportRunOut:
    """Show one import run with its report (counts and the first errors)."""
    return ImportRunOut.model_validate(
        ImportRunRepository(session).get(import_id, _owner(importer))
    )


@router.get(
    "/{import_id}/errors.csv",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every error, one per row"}},
)
def get_import_errors(
    import_id: int, importer: Importer, session: Session = Depends(get_session)
) -> FileResponse:
    """Download the import's error report: file, row, column, value, rule, message."""
    run = ImportRunRepository(session).get(import_id, _owner(importer))
    report_path = (run.report or {}).get("report_path")
    if not report_path or not Path(report_path).is_file():
        raise NotFoundError(f"import run {import_id} has no error report")
    return FileResponse(
        report_path, media_type="text/csv", filename=f"import-{import_id}-errors.csv"
    )


def run_import(ctx: JobContext) -> dict[str, Any]:
    """Job handler of ``registry.import``: run the intake on the stored uploads.

    The intake commits per batch and is idempotent per source, so a job
    re-queued after a crash or a shutdown resumes instead of duplicating.
    Progress reports double as the safe points where a cancel stops the job.
    """
    from solidarity.linkage.service import review_imported_persons
    from solidarity.registry.intake.service import import_files

    params = ctx.params
    directory = Path(params["directory"])
    mapping_file = params.get("mapping_file")

    def progress(stage: str, done: int, total: int) -> None:
        ctx.progress(done, total, stage)
        ctx.raise_if_cancelled()

    ctx.log(f"importing {', '.join(Path(f).name for f in params['files'])}")
    try:
        outcome = import_files(
            ctx.engine,
            [Path(f) for f in params["files"]],
            mapping_file=Path(mapping_file) if mapping_file else None,
            source=params.get("source", "default"),
            accept_valid=bool(params.get("accept_valid", False)),
            actor=params.get("actor", "system"),
            rejects_dir=directory / "rejects",
            report_dir=directory / "report",
            progress=progress,
            area_scope=params.get("area_scope"),
            on_batch=review_imported_persons(ctx.engine, params.get("actor", "system")),
        )
    except ValidationFailed as exc:  # unreadable files: say why in the job's log
        for error in exc.errors[:RESULT_ERRORS]:
            ctx.log(f"{error.get('file', '')}: {error.get('message', '')}")
        raise
    ctx.log(
        f"import run {outcome.import_run_id}: {outcome.status}, "
        f"{outcome.households_imported} households and {outcome.persons_imported} persons "
        f"imported, {outcome.error_count} error(s)"
    )
    result = outcome.model_dump(mode="json", exclude={"errors"})
    result["errors"] = [error.model_dump(mode="json") for error in outcome.errors[:RESULT_ERRORS]]
    return result
