"""The tamper-evident audit trail: append entries, verify the chain.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and a canonical
JSON form of the entry (time, actor, address, action, object, purpose, details).
Sequence numbers are contiguous, so a deleted row leaves a gap; an edited row no
longer matches its hash; a re-ordered or rewritten stretch no longer chains.
Deleting the newest entries leaves no trace in the table itself: publish the head
(``solidarity audit verify`` prints it) somewhere else to anchor it.

Entries are written in the caller's unit of work without their chain fields
and chained shortly after, in batches, by :func:`chain` (the server's and the
worker's sequencer, and before the trail is read for verification or export):
a request never waits on the chain's lock (decision 0005).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.db.engine import unit_of_work
from solidarity.governance.models import AuditEntry
from solidarity.governance.principal import Principal
from solidarity.governance.repository import AuditRepository

GENESIS = "0" * 64

logger = logging.getLogger(__name__)


def _utc_text(moment: datetime) -> str:
    # SQLite hands back naive UTC, PostgreSQL aware times: one canonical text for both.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def _plain(details: dict[str, Any] | None) -> dict[str, Any]:
    # What JSON storage gives back: dates become text, tuples lists.
    return dict(json.loads(json.dumps(details or {}, default=str)))


def canonical(entry: AuditEntry) -> bytes:
    """The bytes the hash covers (the sequence is not among them: the chain orders)."""
    body = {
        "at": _utc_text(entry.at),
        "actor": entry.actor,
        "client_address": entry.client_address,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "purpose": entry.purpose,
        "details": entry.details or {},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry, previous_hash: str) -> str:
    """SHA-256 over ``previous_hash`` and the canonical entry, in hex."""
    return hashlib.sha256(previous_hash.encode("ascii") + canonical(entry)).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    purpose: str | None = None,
    details: dict[str, Any] | None = None,
    client_address: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append an entry to the trail in the caller's unit of work.

    The entry is kept if the unit of work commits and dropped if it rolls back;
    it is chained (sequence, previous hash, hash) by :func:`chain_pending` soon after.

    Args:
        session: The unit of work; the entry is kept only if it commits.
        actor: Who acted (a username, a client id, ``system``).
        action: What happened, e.g. ``auth.login``, ``person.read``.
        object_type: The kind of record concerned.
        object_id: The record concerned.
        purpose: Why (a programme, an agreement), when the caller says.
        details: Anything else worth keeping; never passwords or secrets.
        client_address: Where the request came from.
        at: When (default: now, UTC).
    """
    entry = AuditEntry(
        at=(at or utcnow()).astimezone(UTC),
        actor=actor[:128],
        client_address=client_address,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        purpose=purpose,
        details=_plain(details),
    )
    session.add(entry)
    return entry


#: Entries chained per statement batch.
CHAIN_BATCH = 2000


def chain_pending(session: Session) -> int:
    """Chain every entry written but not chained yet, oldest first, in ``session``.

    Chaining is serialised (an advisory lock on PostgreSQL, the single writer on
    SQLite) from reading the head to the caller's commit; a request only writes
    its entry and never waits for that lock.

    Returns:
        How many entries were chained.
    """
    repo = AuditRepository(session)
    if not repo.has_unchained():
        return 0
    repo.lock_head()
    head = repo.head()
    sequence, previous = (head[0] + 1, head[1]) if head else (1, GENESIS)
    chained = 0
    while entries := repo.unchained(CHAIN_BATCH):
        for entry in entries:
            entry.sequence = sequence
            entry.previous_hash = previous
            entry.hash = entry_hash(entry, previous)
            sequence, previous = sequence + 1, entry.hash
        session.flush()
        chained += len(entries)
    return chained


def chain(engine: Engine) -> int:
    """Chain the waiting entries in a unit of work of their own (see :func:`chain_pending`)."""
    with unit_of_work(engine) as session:
        return chain_pending(session)


class Sequencer:
    """A daemon thread chaining the trail every ``interval`` seconds (server and worker)."""

    def __init__(self, engine: Engine, interval: float) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)

    def start(self) -> None:
        """Start chaining in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Chain what is left, then stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.interval)
            try:
                chain(self.engine)
            except Exception:  # the database may be briefly unreachable: next tick
                logger.exception("audit sequencer: chaining failed")
            if stopping:
                return


def record_for(
    session: Session,
    principal: Principal,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    purpose: str | None = None,
) -> AuditEntry:
    """Append an entry for what ``principal`` did (actor and address taken from it)."""
    return record(
        session,
        actor=principal.username,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details,
        purpose=purpose,
        client_address=principal.client_address,
    )


@dataclass
class AuditProblem:
    """The first place the chain is broken."""

    sequence: int
    kind: str  # missing | edited | out_of_order
    message: str


@dataclass
class VerifyReport:
    """What ``verify`` found."""

    checked: int
    head_sequence: int | None
    head_hash: str | None
    problem: AuditProblem | None

    @property
    def ok(self) -> bool:
        """Whether the whole chain is intact."""
        return self.problem is None


def verify(session: Session) -> VerifyReport:
    """Recompute the chain and report the first deleted, edited or re-ordered entry.

    Only chained entries are checked: call :func:`chain` first to include the newest.
    """
    expected = 1
    previous = GENESIS
    checked = 0
    last: tuple[int, str] | None = None
    for entry in AuditRepository(session).in_order():
        sequence, stored = entry.sequence or 0, entry.hash or ""  # in_order: chained only
        problem = None
        if sequence != expected:
            problem = AuditProblem(
                expected,
                "missing",
                f"entry {expected} is missing: it was deleted"
                + (f" (entries {expected}-{sequence - 1})" if sequence > expected + 1 else ""),
            )
        elif entry_hash(entry, entry.previous_hash or "") != stored:
            problem = AuditProblem(
                sequence,
                "edited",
                f"entry {sequence} was edited: its content no longer matches its hash",
            )
        elif entry.previous_hash != previous:
            problem = AuditProblem(
                sequence,
                "out_of_order",
                f"entry {sequence} does not follow entry {sequence - 1}: entries "
                f"were re-ordered, or entry {sequence - 1} was rewritten",
            )
        if problem is not None:
            return VerifyReport(
                checked, last[0] if last else None, last[1] if last else None, problem
            )
        checked += 1
        previous = stored
        last = (sequence, stored)
        expected += 1
    return VerifyReport(checked, last[0] if last else None, last[1] if last else None, None)
