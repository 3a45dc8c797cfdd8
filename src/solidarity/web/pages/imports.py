"""The import wizard: upload, map columns, preview, validate and import, follow progress.

The wizard keeps its files where the API keeps uploads (one directory per upload,
owned by who uploaded), writes the column mapping the person confirmed as the
intake's mapping YAML, and queues the same ``registry.import`` job as
``POST /api/v1/imports``. Validation is the import's own: by default any error
refuses the whole file and nothing is written; the person can then import only
the valid households, or fix the file and upload it again.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.errors import NotFoundError, SolidarityError
from solidarity.governance import audit
from solidarity.governance.principal import Principal
from solidarity.jobs import service as jobs
from solidarity.jobs.schemas import FINISHED, JobOut
from solidarity.registry.fields import (
    HOUSEHOLD_FIELDS,
    HOUSEHOLD_KEY,
    IDENTIFIER_PREFIX,
    PERSON_FIELDS,
    PERSON_KEY,
    codelists,
)
from solidarity.registry.imports_router import IMPORT_KIND, store_uploads
from solidarity.registry.intake.reader import scan_tables
from solidarity.registry.intake.repository import ImportRunRepository
from solidarity.web.deps import get_session, require
from solidarity.web.pages.common import form_fields, locale_of, redirect, render
from solidarity.web.pages.messages import translate, translate_errors

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
Importer = Annotated[Principal, Depends(require("registry.import"))]
FormData = Annotated[dict[str, str], Depends(form_fields)]
PREVIEW_ROWS = 5
STATE_FILE = "wizard.json"
MAPPING_FILE = "mapping-wizard.yaml"
IGNORE = ""

#: Common names of other systems' columns (ODK/Kobo forms, ministries' lists).
SYNONYMS: dict[str, str] = {
    "hh_id": HOUSEHOLD_KEY,
    "hhid": HOUSEHOLD_KEY,
    "household_id": HOUSEHOLD_KEY,
    "household": HOUSEHOLD_KEY,
    "menage": HOUSEHOLD_KEY,
    "person_id": PERSON_KEY,
    "member_id": PERSON_KEY,
    "pid": PERSON_KEY,
    "first_name": "given_name",
    "firstname": "given_name",
    "prenom": "given_name",
    "forename": "given_name",
    "last_name": "family_name",
    "lastname": "family_name",
    "surname": "family_name",
    "nom": "family_name",
    "gender": "sex",
    "sexe": "sex",
    "dob": "birth_date",
    "date_of_birth": "birth_date",
    "birthdate": "birth_date",
    "date_naissance": "birth_date",
    "relation": "relationship",
    "relation_to_head": "relationship",
    "lien": "relationship",
    "district": "area_code",
    "area": "area_code",
    "location": "area_code",
    "nid": f"{IDENTIFIER_PREFIX}national_id",
    "national_id": f"{IDENTIFIER_PREFIX}national_id",
    "id_number": f"{IDENTIFIER_PREFIX}national_id",
    "phone_number": "phone",
    "telephone": "phone",
    "mobile": "phone",
}


def target_fields() -> list[str]:
    """Every column name the intake understands."""
    identifiers = [f"{IDENTIFIER_PREFIX}{t}" for t in codelists().get("identifier_type", [])]
    return [
        HOUSEHOLD_KEY,
        PERSON_KEY,
        *(f.name for f in HOUSEHOLD_FIELDS),
        *(f.name for f in PERSON_FIELDS),
        *identifiers,
    ]


def _normalised(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]  # ODK/Kobo group prefixes
    return re.sub(r"[^a-z0-9]+", "_", base.strip().lower()).strip("_")


def suggest_field(column: str, targets: list[str] | None = None) -> str:
    """The field a source column most likely holds (empty when nothing fits well).

    Exact names first, then common synonyms, then labels of the field catalogue,
    then close spellings.
    """
    targets = targets or target_fields()
    key = _normalised(column)
    if key in targets:
        return key
    if key in SYNONYMS:
        return SYNONYMS[key]
    labels = {_normalised(f.label): f.name for f in (*HOUSEHOLD_FIELDS, *PERSON_FIELDS)}
    if key in labels:
        return labels[key]
    close = difflib.get_close_matches(key, targets, n=1, cutoff=0.8)
    return close[0] if close else IGNORE


# --- the wizard's state: one upload directory per wizard, owned by who uploaded ----------


def _upload_dir(token: str, principal: Principal) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", token or ""):
        raise NotFoundError("no such upload")
    directory = get_settings().upload_dir / token
    state = directory / STATE_FILE
    if not state.is_file():
        raise NotFoundError("no such upload")
    owner = json.loads(state.read_text(encoding="utf-8")).get("owner")
    if owner != principal.username and not principal.has("jobs.manage"):
        raise NotFoundError("no such upload")
    return directory


def _state(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    return loaded


def _tables(directory: Path, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Each table of the uploaded files: its columns and first rows, as strings."""
    tables = []
    for name in state["files"]:
        path = directory / name
        for table, frame in scan_tables(path):
            head = frame.head(PREVIEW_ROWS).collect()
            tables.append(
                {
                    "file": name,
                    "table": table,
                    "columns": head.columns,
                    "rows": [list(r) for r in head.iter_rows()],
                }
            )
    return tables


def _mapping_from_form(form: dict[str, str], tables: list[dict[str, Any]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    known = set(target_fields())
    for index, table in enumerate(tables):
        for position, column in enumerate(table["columns"]):
            chosen = form.get(f"map-{index}-{position}", IGNORE)
            if chosen in known:
                mapping[column] = chosen
    return mapping


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, session: SessionDep, importer: Importer) -> HTMLResponse:
    """Start an import (upload) and see the latest import runs."""
    owner = None if importer.has("jobs.manage") else importer.username
    runs, total = ImportRunRepository(session).page(10, 0, owner)
    return render(request, "imports/start.html", importer, runs=runs, total=total, problem=None)


@router.post("/imports/upload", response_class=HTMLResponse)
def upload_files(
    request: Request,
    session: SessionDep,
    importer: Importer,
    files: list[UploadFile] = File(...),
    source: str = Form(default="web", max_length=64),
) -> Response:
    """Store one or two files and go to the column mapping."""
    files = [f for f in files if f.filename]
    try:
        if not 1 <= len(files) <= 2:
            raise SolidarityError("choose one combined file, or a household and a person file")
        directory, stored, _mapping = store_uploads(files, None)
        state = {"owner": importer.username, "files": [p.name for p in stored], "source": source}
        (directory / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        _tables(directory, state)  # refuse unreadable files now, not in the job
    except SolidarityError as exc:
        owner = None if importer.has("jobs.manage") else importer.username
        runs, total = ImportRunRepository(session).page(10, 0, owner)
        return render(
            request,
            "imports/start.html",
            importer,
            status_code=exc.status_code,
            runs=runs,
            total=total,
            problem=translate(exc.detail, locale_of(request)),
        )
    return redirect(request, f"/imports/wizard?upload={directory.name}")


@router.get("/imports/wizard", response_class=HTMLResponse)
def mapping_page(request: Request, importer: Importer, upload: str = "") -> Response:
    """Map each column to a field (suggested from its name) and preview the first rows."""
    if not upload:
        return redirect(request, "/imports")
    directory = _upload_dir(upload, importer)
    state = _state(directory)
    tables = _tables(directory, state)
    targets = target_fields()
    for table in tables:
        table["suggested"] = [suggest_field(c, targets) for c in table["columns"]]
    return render(
        request,
        "imports/mapping.html",
        importer,
        upload=upload,
        state=state,
        tables=tables,
        targets=targets,
    )


@router.post("/imports/wizard/preview", response_class=HTMLResponse)
def mapped_preview(request: Request, importer: Importer, form: FormData) -> HTMLResponse:
    """The first rows under the fields they are mapped to (updated as the mapping changes)."""
    directory = _upload_dir(form.get("upload", ""), importer)
    tables = _tables(directory, _state(directory))
    mapping = _mapping_from_form(form, tables)
    return render(request, "imports/_preview.html", importer, tables=tables, mapping=mapping)


@router.post("/imports/wizard/start", response_class=HTMLResponse)
def start_import(
    request: Request, session: SessionDep, importer: Importer, form: FormData
) -> Response:
    """Write the mapping and queue the import job, then follow its progress."""
    directory = _upload_dir(form.get("upload", ""), importer)
    state = _state(directory)
    if "mapping" in state and "map-0-0" not in form:
        mapping = state["mapping"]  # a re-run (e.g. "import the valid households only")
    else:
        mapping = _mapping_from_form(form, _tables(directory, state))
    state["mapping"] = mapping
    (directory / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    mapping_path = directory / MAPPING_FILE
    renamed = {source: field for source, field in mapping.items() if source != field}
    mapping_path.write_text(yaml.safe_dump({"columns": renamed}), encoding="utf-8")
    accept_valid = form.get("accept_valid") == "true"
    job = jobs.enqueue(
        session,
        IMPORT_KIND,
        {
            "directory": str(directory),
            "files": [str(directory / name) for name in state["files"]],
            "mapping_file": str(mapping_path),
            "source": state.get("source") or "web",
            "accept_valid": accept_valid,
            "actor": importer.username,
            "area_scope": list(importer.area_paths) if importer.area_paths is not None else None,
            "upload": directory.name,
        },
        actor=importer.username,
    )
    audit.record_for(
        session,
        importer,
        "registry.import_queued",
        "job",
        job.id,
        {"files": state["files"], "source": state.get("source"), "accept_valid": accept_valid},
    )
    return redirect(request, f"/imports/jobs/{job.id}")


@router.get("/imports/jobs/{job_id}", response_class=HTMLResponse)
def import_progress(
    request: Request,
    session: SessionDep,
    importer: Importer,
    job_id: Annotated[int, PathParam(ge=1)],
) -> HTMLResponse:
    """Progress of an import job; when done, its outcome with the errors per row and field."""
    owner = None if importer.has("jobs.manage") else importer.username
    job = JobOut.model_validate(jobs.get_job(session, job_id, owner))
    if job.kind != IMPORT_KIND:
        raise NotFoundError(f"job {job_id} is not an import")
    result = dict(job.result or {})
    if isinstance(result.get("errors"), list):
        result["errors"] = translate_errors(result["errors"], locale_of(request))
    finished = job.status in FINISHED
    upload = job.params.get("upload")
    context: dict[str, Any] = {
        "job": job,
        "finished": finished,
        "result": result,
        "upload": upload if upload and not job.params.get("accept_valid") else None,
        "errors_url": (
            f"/api/v1/imports/{result['import_run_id']}/errors.csv"
            if result.get("error_count") and result.get("import_run_id")
            else None
        ),
    }
    template = (
        "imports/_progress.html"
        if request.headers.get("hx-request") == "true"
        else "imports/progress.html"
    )
    return render(request, template, importer, **context)
