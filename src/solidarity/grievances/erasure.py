"""Erasure in grievances, referrals and cases: the subject's data taken out of text and copies."""

from __future__ import annotations

from sqlalchemy.orm import Session

from solidarity.grievances.repository import RedressErasureRepository
from solidarity.registry.erasure import (
    ErasureSubject,
    scrub_person_fields,
    scrub_text,
    scrub_values,
)


def erase(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Remove the subject's data from grievances, referrals and case notes; rows changed.

    A grievance lodged by the person loses the complainant's name and contact; the
    record shared with another agency by a referral loses the person's fields; free
    text (descriptions, resolutions, reasons, notes) loses the subject's names,
    identifiers and phone numbers. Statuses, categories, dates and areas stay, so
    redress indicators do not change.
    """
    repo = RedressErasureRepository(session)
    households = subject.related_household_ids
    counts = {"grievance": 0, "referral": 0, "case_note": 0}
    for grievance in repo.grievances(subject.person_ids, households):
        before = (
            grievance.complainant_name,
            grievance.complainant_contact,
            grievance.description,
            grievance.resolution,
            grievance.decision,
        )
        if grievance.person_id in subject.person_ids:
            grievance.complainant_name = None
            grievance.complainant_contact = None
        grievance.complainant_name = scrub_text(grievance.complainant_name, subject)
        grievance.complainant_contact = scrub_text(grievance.complainant_contact, subject)
        grievance.description = scrub_text(grievance.description, subject) or ""
        grievance.resolution = scrub_text(grievance.resolution, subject)
        grievance.decision = scrub_values(grievance.decision, subject)
        after = (
            grievance.complainant_name,
            grievance.complainant_contact,
            grievance.description,
            grievance.resolution,
            grievance.decision,
        )
        counts["grievance"] += before != after
    for referral in repo.referrals(subject.person_ids, households):
        record = referral.shared_record
        if referral.person_id in subject.person_ids or referral.household_id in (
            subject.household_ids
        ):
            record = scrub_person_fields(record)
        record = scrub_values(record, subject)
        reason = scrub_text(referral.reason, subject)
        outcome = scrub_text(referral.outcome, subject)
        if (record, reason, outcome) != (referral.shared_record, referral.reason, referral.outcome):
            referral.shared_record, referral.reason, referral.outcome = record, reason, outcome
            counts["referral"] += 1
    for note in repo.case_notes(households):
        text = scrub_text(note.text, subject) or ""
        if text != note.text:
            note.text = text
            counts["case_note"] += 1
    session.flush()
    return counts
