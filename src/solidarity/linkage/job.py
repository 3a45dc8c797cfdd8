"""Job handler of ``linkage.dedupe``: a deduplication run queued from the API."""

from __future__ import annotations

from typing import Any

from solidarity.db.engine import unit_of_work
from solidarity.jobs.service import JobContext
from solidarity.linkage.config import config_from_dict


def run_dedupe(ctx: JobContext) -> dict[str, Any]:
    """Train, score, cluster and queue pairs in one unit of work; the result is the run's stats."""
    from solidarity.linkage import service

    params = ctx.params
    config = config_from_dict(params["config"]) if params.get("config") else None
    ctx.log("deduplicating the registry")
    with unit_of_work(ctx.engine) as session:
        result = service.dedupe(
            session,
            config,
            actor=params.get("actor", "system"),
            retrain=bool(params.get("retrain", True)),
            progress=ctx.log,
        )
    ctx.log(f"run {result.run_id} finished with model version {result.model_version}")
    return {"run_id": result.run_id, "model_id": result.model_id, **result.stats}
