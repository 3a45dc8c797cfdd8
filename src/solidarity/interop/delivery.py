"""The delivery worker: POSTs queued callbacks and notifications, with back-off.

Deliveries live in ``dci_outbox`` (committed with the request that caused them),
so they survive a restart. A delivery is claimed with a lease, signed at send
time (signatures expire), POSTed to the partner's URL exactly as given, and:

* acknowledged (HTTP 2xx, body not ``ack_status: ERR``) -> ``sent``;
* refused or unreachable -> tried again after ``base * 2**(attempts-1)`` seconds
  (capped, with jitter) until ``max_attempts``, then ``failed``.

The message id stays the same across attempts, so a receiver that already got
it acknowledges it again without doing the work twice.

It runs inside the ordinary job worker (``solidarity worker``): an
``interop.deliver`` job is queued whenever a delivery is, and drains the outbox;
``solidarity interop deliver`` runs the same loop on its own.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.db.engine import unit_of_work
from solidarity.governance import audit
from solidarity.governance.keys import KeyStore
from solidarity.interop import signatures
from solidarity.interop.models import DciOutbox
from solidarity.interop.repository import OutboxRepository
from solidarity.interop.settings import InteropSettings, interop_settings
from solidarity.registry.history import aware

logger = logging.getLogger(__name__)

JOB_KIND = "interop.deliver"
LEASE_SECONDS = 60


def backoff(attempts: int, settings: InteropSettings, jitter: float | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    delay = min(
        settings.backoff_base_seconds * (2 ** max(attempts - 1, 0)), settings.backoff_max_seconds
    )
    spread = random.uniform(0, 0.1) if jitter is None else jitter
    return float(delay * (1 + spread))


def ensure_delivery_job(session: Session) -> None:
    """Queue an ``interop.deliver`` job unless one is already waiting."""
    from solidarity.jobs import service as jobs

    _rows, waiting = jobs.list_jobs(session, status="queued", kind=JOB_KIND, limit=1)
    if waiting == 0:
        jobs.enqueue(session, JOB_KIND, {}, actor="interop", max_attempts=5)


def stage_delivery_job(session: Session) -> None:
    """Like :func:`ensure_delivery_job`, without flushing (for use inside a flush hook)."""
    from solidarity.jobs import service as jobs
    from solidarity.jobs.models import Job

    _rows, waiting = jobs.list_jobs(session, status="queued", kind=JOB_KIND, limit=1)
    pending = [o for o in session.new if isinstance(o, Job) and o.kind == JOB_KIND]
    if waiting == 0 and not pending:
        # The same row jobs.enqueue writes; enqueue itself flushes, which a hook may not.
        session.add(
            Job(
                kind=JOB_KIND,
                status="queued",
                params={},
                progress=0.0,
                log="",
                attempts=0,
                max_attempts=5,
                cancel_requested=False,
                created_by="interop",
                updated_by="interop",
            )
        )


def _acknowledged(response: httpx.Response) -> tuple[bool, str | None]:
    if not 200 <= response.status_code < 300:
        return False, f"HTTP {response.status_code}: {response.text[:300]}"
    try:
        body = response.json()
    except ValueError:
        return True, None  # a 2xx without JSON: take it as received
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, dict) and message.get("ack_status") == "ERR":
        error = message.get("error") or {}
        return False, f"ERR {error.get('code')}: {error.get('message')}"
    return True, None


class Dispatcher:
    """Sends due deliveries.

    Args:
        engine: The database holding the outbox.
        keys: Our signing keys (callbacks are signed when signing is switched on).
        client: The HTTP client (tests pass their own).
        clock: The time source.
    """

    def __init__(
        self,
        engine: Engine,
        keys: KeyStore | None = None,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.keys = keys or KeyStore()
        self.settings = interop_settings()
        self.client = client or httpx.Client(timeout=self.settings.callback_timeout_seconds)
        self.clock = clock
        self._stop = threading.Event()

    def stop(self) -> None:
        """Stop :meth:`run_forever` after the current round."""
        self._stop.set()

    def _post(self, item: DciOutbox) -> tuple[bool, int | None, str | None]:
        body = dict(item.body)
        if self.settings.sign_responses:
            signatures.sign_outgoing(
                body,
                self.keys,
                sender_id=self.settings.sender_id,
                validity=self.settings.signature_validity_seconds,
            )
        try:
            response = self.client.post(
                item.url, json=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            return False, None, f"{type(exc).__name__}: {exc}"[:500]
        ok, problem = _acknowledged(response)
        return ok, response.status_code, problem

    def deliver_due(self, limit: int = 20) -> tuple[int, int]:
        """One round: claim due deliveries, POST them, record the outcome.

        Returns:
            How many were acknowledged, and how many failed this round.
        """
        now = self.clock()
        with unit_of_work(self.engine) as session:
            ids = OutboxRepository(session).claim_due(
                now, now + timedelta(seconds=LEASE_SECONDS), limit
            )
        sent = failed = 0
        for item_id in ids:
            with unit_of_work(self.engine) as session:
                item = OutboxRepository(session).get(item_id)
                if item is None:  # pragma: no cover - deleted meanwhile
                    continue
                ok, status, problem = self._post(item)
                item.attempts += 1
                item.last_status = status
                item.claimed_until = None
                if ok:
                    item.status, item.sent_at, item.last_error = "sent", self.clock(), None
                    sent += 1
                elif item.attempts >= item.max_attempts:
                    item.status, item.last_error = "failed", problem
                    failed += 1
                    logger.warning("delivery %s to %s given up: %s", item.id, item.url, problem)
                else:
                    item.status, item.last_error = "pending", problem
                    item.next_attempt_at = self.clock() + timedelta(
                        seconds=backoff(item.attempts, self.settings)
                    )
                    failed += 1
                    logger.info(
                        "delivery %s to %s failed (attempt %s): %s",
                        item.id,
                        item.url,
                        item.attempts,
                        problem,
                    )
                audit.record(
                    session,
                    actor="system",
                    action=f"dci.callback.{item.status}",
                    object_type="dci_transaction",
                    object_id=item.correlation_id,
                    details={
                        "kind": item.kind,
                        "receiver": item.client_id,
                        "url": item.url,
                        "attempt": item.attempts,
                        "http_status": status,
                        "error": problem,
                        "message_id": (item.body.get("header") or {}).get("message_id"),
                    },
                )
        return sent, failed

    def fan_out(self) -> int:
        """Turn pending registry events into notifications. Returns how many were queued."""
        from solidarity.interop.notifications import fan_out_events

        with unit_of_work(self.engine) as session:
            return fan_out_events(session)

    def run_round(self) -> tuple[int, int]:
        """Fan out events, then deliver what is due."""
        self.fan_out()
        return self.deliver_due()

    def seconds_to_next(self) -> float | None:
        """Seconds until the next pending delivery is due (``None``: nothing pending)."""
        with unit_of_work(self.engine) as session:
            repo = OutboxRepository(session)
            if repo.pending() == 0:
                return None
            due = repo.next_due()
        if due is None:
            return float(LEASE_SECONDS)
        return max((aware(due) - self.clock()).total_seconds(), 0.0)

    def run_forever(self, poll_interval: float = 1.0) -> None:
        """Deliver until :meth:`stop` is called."""
        while not self._stop.is_set():
            try:
                self.run_round()
            except Exception:  # a busy database, a partner down: keep going
                logger.exception("delivery round failed")
            self._stop.wait(poll_interval)


def run_delivery_job(ctx: Any) -> dict[str, Any]:
    """The ``interop.deliver`` job: drain the outbox, waiting out back-offs for a while.

    When deliveries are still pending after ``max_seconds`` the job queues its
    successor and ends, so it never holds the worker for long.
    """
    dispatcher = Dispatcher(ctx.engine)
    max_seconds = float(ctx.params.get("max_seconds", 20))
    started = ctx.clock()
    sent = failed = 0
    while True:
        fanned = dispatcher.fan_out()
        ok, ko = dispatcher.deliver_due()
        sent, failed = sent + ok, failed + ko
        wait = dispatcher.seconds_to_next()
        if wait is None and not fanned:
            break
        elapsed = (ctx.clock() - started).total_seconds()
        if wait is not None and elapsed + wait > max_seconds:
            with unit_of_work(ctx.engine) as session:
                ensure_delivery_job(session)
            break
        if ctx.cancelled():
            break
        if wait:
            threading.Event().wait(min(wait, 1.0))
    return {"sent": sent, "failed_attempts": failed}
