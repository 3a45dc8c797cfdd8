"""Erasure in bulk intake: import reports and the upload, report and rejects files.

Registered in ``governance.erasure.ERASERS``. Files rewritten: every CSV,
Parquet, JSON, XML or text file under ``SOLIDARITY_UPLOAD_DIR`` and
``SOLIDARITY_REPORT_DIR`` (the payroll folder is the programmes' eraser's), plus
the reports and rejected-row files a run recorded elsewhere. Rows of the person
lose their personal columns; other rows are kept (see
:mod:`solidarity.registry.scrub`). Source files given to the command line
outside those directories are not the system's copy and are left alone.
Counts and statuses of import runs stay. Flush, never commit.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.registry.erasure import ErasureSubject
from solidarity.registry.intake.repository import ImportErasureRepository
from solidarity.registry.scrub import files_under, needles, scrub_file, scrub_json

#: Sub-folder of the report directory owned by programmes (payroll files).
PAYROLL_FOLDER = "payroll"


def _import_files(repo: ImportErasureRepository) -> list[Path]:
    settings = get_settings()
    roots = [Path(settings.upload_dir), Path(settings.report_dir)]
    found = set(files_under(roots, skip=[Path(settings.report_dir) / PAYROLL_FOLDER]))
    for recorded in repo.written_paths():
        path = Path(recorded)
        inside = any(path.resolve().is_relative_to(r.resolve()) for r in roots)
        written = ".rejected-" in path.name or path.name.startswith("import-")
        if path.is_file() and (inside or written):
            found.add(path.resolve())
    return sorted(found)


def erase(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Scrub the subject from import runs and intake files; rows or files changed."""
    repo = ImportErasureRepository(session)
    runs = 0
    for run in repo.runs_mentioning(needles(subject)):
        report = scrub_json(run.report, subject)
        if report != run.report:
            run.report = report
            runs += 1
    rows = sum(scrub_file(path, subject) for path in _import_files(repo))
    session.flush()
    return {"import_run": runs, "import_file_rows": rows}
