"""Durable jobs of the programmes domain: bulk enrolment and entitlement computation.

Each runs in one unit of work: a failure leaves nothing half-written, and since a
household is enrolled once per programme (and entitlements of a computed cycle are
replaced), a retried job reaches the same state.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from solidarity.db.engine import unit_of_work
from solidarity.jobs.service import JobContext
from solidarity.programs import eligibility, payments, service

#: Job kind of a bulk enrolment.
ENROL = "programs.enrol"
#: Job kind of a cycle's entitlement computation.
ENTITLEMENTS = "programs.entitlements"


def run_enrolment(ctx: JobContext) -> dict[str, Any]:
    """Enrol the eligible households of ``params.programme`` as of ``params.as_of``."""
    params = ctx.params
    with unit_of_work(ctx.engine) as session:
        programme = service.get_programme(session, params["programme"])
        result = eligibility.enrol_eligible(
            session,
            programme,
            date.fromisoformat(params["as_of"]),
            params.get("actor", "system"),
            household_ids=params.get("household_ids"),
            progress=lambda done, total, message: ctx.progress(done, total, message),
            scope_paths=params.get("scope_paths"),
        )
    return result.model_dump(mode="json")


def run_entitlements(ctx: JobContext) -> dict[str, Any]:
    """Compute the entitlements of cycle ``params.cycle_id``."""
    params = ctx.params
    with unit_of_work(ctx.engine) as session:
        cycle = payments.get_cycle(session, int(params["cycle_id"]))
        ctx.progress(0, 1, "computing entitlements")
        payments.compute_entitlements(session, cycle, params.get("actor", "system"))
        out: dict[str, Any] = {"cycle_id": cycle.id, "entitlements": cycle.entitlement_count}
        out["total_amount"] = cycle.total_amount
    ctx.progress(1, 1, "done")
    return out
