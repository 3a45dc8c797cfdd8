"""Erasure in linkage: blocking keys dropped, merge snapshots and review notes scrubbed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from solidarity.linkage.repository import LinkageErasureRepository
from solidarity.registry.erasure import (
    ErasureSubject,
    scrub_person_fields,
    scrub_text,
    scrub_values,
)


def erase(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Remove the subject's data from linkage tables; rows changed per table.

    Blocking keys are derived from names and birth dates, so they are deleted (the
    erased person is no longer a duplicate candidate); merge snapshots, kept to undo
    a merge, lose the same fields as the person record.
    """
    repo = LinkageErasureRepository(session)
    counts = {"linkage_person_key": repo.delete_keys(subject.person_ids)}
    merges = 0
    for merge in repo.merges(subject.person_ids):
        survivor, merged = merge.survivor_before, merge.merged_before
        if merge.survivor_id in subject.person_ids:
            survivor = scrub_person_fields(survivor)
        if merge.merged_id in subject.person_ids:
            merged = scrub_person_fields(merged)
        survivor, merged = scrub_values(survivor, subject), scrub_values(merged, subject)
        if (survivor, merged) != (merge.survivor_before, merge.merged_before):
            merge.survivor_before, merge.merged_before = survivor, merged
            merges += 1
    counts["linkage_merge"] = merges
    decisions = 0
    for decision in repo.decisions(subject.person_ids):
        scrubbed = scrub_text(decision.reason, subject)
        if scrubbed != decision.reason:
            decision.reason = scrubbed
            decisions += 1
    counts["linkage_decision"] = decisions
    session.flush()
    return counts
