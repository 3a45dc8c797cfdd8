"""Durable job of the monitoring domain: an indicator snapshot.

A snapshot computes every indicator over the whole registry (national figures)
and stores the values in one unit of work: a failure stores nothing, and a
retried job takes the snapshot again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from solidarity.db.engine import unit_of_work
from solidarity.jobs.service import JobContext
from solidarity.monitoring import service

#: Job kind of an indicator snapshot (``params``: period, as_of, actor).
SNAPSHOT = "monitoring.snapshot"


def run_snapshot(ctx: JobContext) -> dict[str, Any]:
    """Take the snapshot of ``params.period`` as of ``params.as_of``."""
    params = ctx.params
    ctx.progress(0, 1, "computing the indicators")
    with unit_of_work(ctx.engine) as session:
        rows = service.snapshot(
            session,
            str(params["period"]),
            date.fromisoformat(params["as_of"]),
            str(params.get("actor", "system")),
        )
        computed = sum(r.status == "computed" for r in rows)
        out: dict[str, Any] = {
            "period": params["period"],
            "as_of": params["as_of"],
            "indicators": len(rows),
            "computed": computed,
            "not_computable": len(rows) - computed,
            "data_version": rows[0].data_version if rows else None,
        }
    ctx.progress(1, 1, "done")
    return out
