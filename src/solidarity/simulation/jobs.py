"""Durable jobs of the simulation domain: runs (one or several scenarios) and solves.

Runs and solves write nothing but the cache of stored scenarios' results; the
job's result holds what the pages show and the PDF brief is drawn from.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from solidarity.db.engine import unit_of_work
from solidarity.jobs.service import JobContext
from solidarity.simulation import service, solver
from solidarity.simulation.schemas import SolveIn

#: Job kind of a run of stored scenarios (``params``: names, as_of, scope_paths).
RUN = "simulation.run"
#: Job kind of a budget solve (``params``: request, a :class:`SolveIn` as JSON; scope_paths).
SOLVE = "simulation.solve"


def run_scenarios(ctx: JobContext) -> dict[str, Any]:
    """Run each stored scenario of ``params.names`` (cached when national)."""
    params = ctx.params
    names = [str(n) for n in params["names"]]
    as_of = date.fromisoformat(params["as_of"]) if params.get("as_of") else None
    scope = params.get("scope_paths")
    results = []
    for done, name in enumerate(names):
        ctx.raise_if_cancelled()
        ctx.progress(done, len(names), f"running {name}")
        with unit_of_work(ctx.engine) as session:
            if scope is None:
                result = service.run_stored(session, name, None, as_of)
            else:
                row = service.stored_scenario(session, name)
                result = {
                    **service.run(
                        session, service.parse_scenario(row.definition), as_of, scope_paths=scope
                    ),
                    "version": row.version,
                }
        results.append(result)
    ctx.progress(len(names), len(names), "done")
    return {"results": results, "table": service.compare(results)}


def run_solve(ctx: JobContext) -> dict[str, Any]:
    """Solve ``params.request`` over the caller's areas."""
    request = SolveIn.model_validate(ctx.params["request"])
    ctx.progress(0, 1, "searching")
    with unit_of_work(ctx.engine) as session:
        result = solver.solve(session, request, ctx.params.get("scope_paths"))
    ctx.progress(1, 1, "done")
    return {**result, "scenario": request.scenario.name}
