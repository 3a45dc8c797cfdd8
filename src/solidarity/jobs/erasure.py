"""Erasure in background jobs: parameters, results, messages, logs and errors.

Registered in ``governance.erasure.ERASERS``. Kind, status, progress, attempts and
timestamps stay; the erased person's names, identifiers, phone and birth date
leave the JSON and the text (see :mod:`solidarity.registry.scrub`). Flush, never commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from solidarity.jobs.repository import JobErasureRepository
from solidarity.registry.erasure import ErasureSubject, scrub_text
from solidarity.registry.scrub import needles, scrub_json


def erase(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Scrub the subject from job rows; ``{"job": rows changed}``."""
    changed = 0
    for job in JobErasureRepository(session).mentioning(needles(subject)):
        params, result = scrub_json(job.params, subject), scrub_json(job.result, subject)
        texts = [scrub_text(t, subject) for t in (job.message, job.log, job.error)]
        before = (job.params, job.result, job.message, job.log, job.error)
        if (params, result, *texts) == before:
            continue
        job.params, job.result = params, result
        job.message, job.log, job.error = texts[0], texts[1] or "", texts[2]
        changed += 1
    session.flush()
    return {"job": changed}
