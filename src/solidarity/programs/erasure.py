"""Erasure in programmes: payroll files and reconciliation imports.

Registered in ``governance.erasure.ERASERS``. Entitlements, payments, amounts,
references and statuses stay, so programme and payment figures do not move.
Payroll files (``<SOLIDARITY_REPORT_DIR>/payroll``: CSV and pain.001 XML) lose
the erased person's name and phone wherever they appear (rows of the person have
their personal columns blanked, other rows are kept); a reconciliation file is
not stored, only its matched rows and discrepancies, which are scrubbed. A
payroll already sent to a payment provider is the provider's copy and is not
reached. Flush, never commit.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.programs.repository import ProgrammeErasureRepository
from solidarity.registry.erasure import ErasureSubject
from solidarity.registry.scrub import files_under, needles, scrub_file, scrub_json

PAYROLL_FOLDER = "payroll"


def erase(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Scrub the subject from reconciliation imports and payroll files."""
    repo = ProgrammeErasureRepository(session)
    imports = 0
    for record in repo.reconciliations_mentioning(needles(subject)):
        discrepancies = scrub_json(record.discrepancies, subject)
        matched = scrub_json(record.matched_rows, subject)
        if (discrepancies, matched) != (record.discrepancies, record.matched_rows):
            record.discrepancies, record.matched_rows = discrepancies, matched
            imports += 1
    folder = Path(get_settings().report_dir) / PAYROLL_FOLDER
    rows = sum(scrub_file(path, subject) for path in files_under([folder]))
    session.flush()
    return {"reconciliation_import": imports, "payroll_file_rows": rows}
