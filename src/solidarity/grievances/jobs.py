"""Durable jobs of grievance redress: escalation of breached service standards.

The worker enqueues ``grievances.escalate`` on its schedule
(:mod:`solidarity.jobs.schedule`); the job escalates in one unit of work, at the
worker's clock, so a failed run changes nothing and the next one starts afresh.
"""

from __future__ import annotations

from typing import Any

from solidarity.db.engine import unit_of_work
from solidarity.grievances import service
from solidarity.jobs.service import JobContext


def run_escalation(ctx: JobContext) -> dict[str, Any]:
    """Escalate every open grievance whose service standard is breached at ``ctx.clock()``."""
    with unit_of_work(ctx.engine) as session:
        result = service.escalate_overdue(session, now=ctx.clock())
    return {"escalated": result.escalated, "at": result.at.isoformat()}
