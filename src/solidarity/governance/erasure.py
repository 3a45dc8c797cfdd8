"""Erasure requests: a person's (or household's) data anonymised after a second approval.

Flush, never commit. A request and its decision are entries of the audit trail
(``erasure.requested``, then ``erasure.applied`` or ``erasure.rejected``, all with
``object_type = "erasure_request"``), so the workflow needs no table of its own,
its history is tamper-evident, and the trail itself is never rewritten: it holds
ids, not names, and stays verifiable after the erasure. Whoever files a request
cannot decide it (maker-checker), and both must hold ``privacy.erase`` over the
person's area.

The registry anonymises its tables (:mod:`solidarity.registry.erasure`); the
governance tables drop the consent evidence; every other domain that keeps a
copy of person data registers an eraser in :data:`ERASERS`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib import import_module
from typing import Any

from sqlalchemy.orm import Session

from solidarity.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from solidarity.governance import audit
from solidarity.governance.principal import Principal
from solidarity.governance.repository import AgreementRepository, AuditFilter, AuditRepository
from solidarity.governance.schemas import ErasureRequestOut
from solidarity.registry import erasure as registry_erasure
from solidarity.registry import service as registry
from solidarity.registry.erasure import ErasureSubject

KIND = "erasure_request"
#: Other domains' erasers, ``module:function`` taking (session, subject) and
#: returning counts of rows rewritten per table. Imported lazily.
ERASERS: tuple[str, ...] = (
    "solidarity.linkage.erasure:erase",
    "solidarity.grievances.erasure:erase",
    "solidarity.interop.erasure:erase",
    "solidarity.jobs.erasure:erase",
    "solidarity.registry.intake.erasure:erase",
    "solidarity.programs.erasure:erase",
)


def _erasers() -> list[Callable[[Session, ErasureSubject], dict[str, int]]]:
    found = []
    for spec in ERASERS:
        module, _, name = spec.partition(":")
        try:
            found.append(getattr(import_module(module), name))
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real import error inside the eraser
                raise
    return found


def erase(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Anonymise the subject everywhere it is kept; rows rewritten per table."""
    counts = registry_erasure.anonymise(session, subject)
    repo = AgreementRepository(session)
    consents = 0
    for person_id in subject.person_ids:
        for consent in repo.consents(person_id):
            if consent.evidence is not None:
                consent.evidence = None
                consents += 1
    counts["consent"] = consents
    for eraser in _erasers():
        counts |= eraser(session, subject)
    session.flush()
    return counts


def _subject(
    session: Session, principal: Principal, person_id: int | None, household_id: int | None
) -> ErasureSubject:
    if (person_id is None) == (household_id is None):
        raise ValidationFailed(
            "name either a person or a household",
            [{"field": "person_id", "message": "give person_id or household_id, not both"}],
        )
    scope = principal.area_paths
    if household_id is not None:
        registry.require_household_in_scope(session, household_id, scope)
    else:
        registry.get_person(session, person_id or 0, scope=scope)
    return registry_erasure.subject_of(session, person_id=person_id, household_id=household_id)


def _entries(session: Session, request_id: str | None = None) -> list[Any]:
    rows, _total = AuditRepository(session).search(
        AuditFilter(object_type=KIND, object_id=request_id), limit=100_000, offset=0
    )
    return sorted(rows, key=lambda e: e.id)


def _fold(entries: list[Any]) -> dict[str, ErasureRequestOut]:
    requests: dict[str, ErasureRequestOut] = {}
    for entry in entries:
        details = entry.details or {}
        key = entry.object_id or ""
        if entry.action == "erasure.requested":
            requests[key] = ErasureRequestOut(
                request_id=key,
                status="submitted",
                person_id=details.get("person_id"),
                household_id=details.get("household_id"),
                area_id=details.get("area_id"),
                reason=entry.purpose or "",
                requested_by=entry.actor,
                requested_at=entry.at,
            )
        elif key in requests:
            status = "applied" if entry.action == "erasure.applied" else "rejected"
            requests[key] = requests[key].model_copy(
                update={
                    "status": status,
                    "decided_by": entry.actor,
                    "decided_at": entry.at,
                    "decision_reason": details.get("reason"),
                    "counts": details.get("counts"),
                }
            )
    return requests


def request_erasure(
    session: Session,
    principal: Principal,
    *,
    person_id: int | None = None,
    household_id: int | None = None,
    reason: str,
) -> ErasureRequestOut:
    """File an erasure request for a person or a whole household.

    The reason is kept in the audit trail with the subject's names and identifiers
    taken out of it.

    Raises:
        NotFoundError: The person or household does not exist or is outside the caller's areas.
        ValidationFailed: Neither or both named, or no reason.
    """
    if not reason.strip():
        raise ValidationFailed(
            "an erasure request needs a reason (the legal ground)",
            [{"field": "reason", "message": "is required"}],
        )
    subject = _subject(session, principal, person_id, household_id)
    request_id = f"ER-{secrets.token_hex(5)}"
    entry = audit.record_for(
        session,
        principal,
        "erasure.requested",
        KIND,
        request_id,
        {"person_id": person_id, "household_id": household_id, "area_id": subject.area_id},
        purpose=(registry_erasure.scrub_text(reason.strip(), subject) or "")[:200],
    )
    return _fold([entry])[request_id]


def list_erasure_requests(
    session: Session, principal: Principal, status: str | None = None
) -> list[ErasureRequestOut]:
    """Erasure requests about the caller's areas, newest first."""
    requests = list(_fold(_entries(session)).values())
    if principal.area_paths is not None:
        from solidarity.registry.repository import AreaRepository

        areas = AreaRepository(session)
        requests = [
            r
            for r in requests
            if r.area_id is not None and principal.covers_path(areas.path_of(r.area_id))
        ]
    if status is not None:
        requests = [r for r in requests if r.status == status]
    return sorted(requests, key=lambda r: r.requested_at, reverse=True)


def get_erasure_request(
    session: Session, principal: Principal, request_id: str
) -> ErasureRequestOut:
    """One erasure request in the caller's areas.

    Raises:
        NotFoundError: No such request, or it is outside the caller's areas.
    """
    found = _fold(_entries(session, request_id)).get(request_id)
    if found is not None and principal.area_paths is not None:
        from solidarity.registry.repository import AreaRepository

        path = AreaRepository(session).path_of(found.area_id) if found.area_id else None
        if not principal.covers_path(path):
            found = None
    if found is None:
        raise NotFoundError(f"erasure request {request_id} not found")
    return found


def decide_erasure(
    session: Session,
    principal: Principal,
    request_id: str,
    *,
    approve: bool,
    reason: str | None = None,
) -> ErasureRequestOut:
    """Approve (and apply at once) or reject a submitted erasure request.

    Raises:
        NotFoundError: No such request in the caller's areas.
        ConflictError: It was already decided.
        PermissionDenied: The caller filed it (maker-checker).
        ValidationFailed: A rejection without a reason.
    """
    request = get_erasure_request(session, principal, request_id)
    if request.status != "submitted":
        raise ConflictError(f"erasure request {request_id} is already {request.status}")
    if request.requested_by == principal.username:
        raise PermissionDenied(
            f"{principal.username} filed erasure request {request_id} and cannot also decide it "
            "(maker-checker)"
        )
    if not approve and not (reason and reason.strip()):
        raise ValidationFailed(
            "a rejection needs a reason", [{"field": "reason", "message": "is required"}]
        )
    details: dict[str, Any] = {"reason": reason.strip() if reason else None}
    if approve:
        subject = registry_erasure.subject_of(
            session, person_id=request.person_id, household_id=request.household_id
        )
        details["reason"] = registry_erasure.scrub_text(details["reason"], subject)
        details["counts"] = erase(session, subject)
        details["person_ids"] = subject.person_ids
    entry = audit.record_for(
        session,
        principal,
        "erasure.applied" if approve else "erasure.rejected",
        KIND,
        request_id,
        details,
    )
    # The entry is chained (and written) at commit: fold it in from memory.
    return _fold([*_entries(session, request_id), entry])[request_id]
