"""Erasure in the DCI log: message bodies, outbox callbacks, CRVS records, registry events.

Registered in ``governance.erasure.ERASERS``. Statuses, counts, ids and dates stay
(the log still says who asked what, when, and how many records were returned);
the erased person's names, identifiers, phone and birth date leave the bodies
(see :mod:`solidarity.registry.scrub`). Flush, never commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from solidarity.interop.repository import InteropErasureRepository
from solidarity.registry.erasure import ErasureSubject, scrub_text
from solidarity.registry.scrub import needles, scrub_json, scrub_linked_json


def _rewrite(
    row: Any, attributes: tuple[str, ...], subject: ErasureSubject, *, linked: bool = False
) -> bool:
    changed = False
    for name in attributes:
        before = getattr(row, name)
        # A record linked to the person by its id is the person's whatever it quotes.
        after = scrub_linked_json(before, subject) if linked else scrub_json(before, subject)
        if after != before:
            setattr(row, name, after)
            changed = True
    return changed


def erase(session: Session, subject: ErasureSubject) -> dict[str, int]:
    """Scrub the subject from the DCI log; rows changed per table."""
    repo = InteropErasureRepository(session)
    found = needles(subject)
    counts = {
        "dci_message": sum(
            _rewrite(m, ("request", "response"), subject) for m in repo.messages(found)
        ),
        "dci_outbox": sum(_rewrite(o, ("body",), subject) for o in repo.outbox(found)),
    }
    crvs = 0
    for event in repo.crvs_events(subject.person_ids, found):
        linked = event.person_id in subject.person_ids
        changed = _rewrite(event, ("record", "match"), subject, linked=linked)
        note = scrub_text(event.note, subject)
        if note != event.note:
            event.note, changed = note, True
        crvs += changed
    counts["crvs_event"] = crvs
    counts["dci_registry_event"] = sum(
        _rewrite(e, ("details",), subject, linked=e.person_id in subject.person_ids)
        for e in repo.registry_events(subject.person_ids, found)
    )
    session.flush()
    return counts
