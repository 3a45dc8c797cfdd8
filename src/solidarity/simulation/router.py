"""``/api/v1/simulations``: reform scenarios, runs, the budget solver, comparisons.

Routes are thin. Everything needs ``simulation.run``; a caller whose grant covers
some areas only simulates over the households of those areas (and nothing is cached).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from solidarity.governance.principal import Principal
from solidarity.simulation import service, solver
from solidarity.simulation.errors import ScenarioInvalid
from solidarity.simulation.schemas import CompareIn, RunIn, ScenarioIn, ScenarioOut, SolveIn
from solidarity.web.deps import get_session, require

RUN = "simulation.run"

router = APIRouter(prefix="/api/v1/simulations", tags=["simulation"])


def _out(row: Any) -> ScenarioOut:
    return ScenarioOut(
        id=row.id,
        name=row.name,
        version=row.version,
        baseline_date=row.baseline_date,
        definition=row.definition,
        base_rules=row.base_rules,
    )


@router.get("/scenarios")
def list_simulation_scenarios(
    session: Session = Depends(get_session), _p: Principal = Depends(require(RUN))
) -> list[ScenarioOut]:
    """Every stored scenario version."""
    return [_out(r) for r in service.list_scenarios(session)]


@router.post("/scenarios", status_code=201)
def save_simulation_scenario(
    body: ScenarioIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(RUN)),
) -> ScenarioOut:
    """Store a new version of a scenario (checked against the rules in force)."""
    return _out(service.save_scenario(session, body, principal.username))


@router.post("/runs")
def run_simulation(
    body: RunIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(RUN)),
) -> dict[str, Any]:
    """Baseline and scenario side by side (stored runs are cached per registry snapshot)."""
    if body.scenario is None and body.name is None:
        raise ScenarioInvalid("give a scenario or the name of a stored one")
    scope = principal.area_paths
    if body.scenario is None and scope is None:
        return service.run_stored(session, str(body.name), body.version, body.as_of)
    scenario = body.scenario or service.parse_scenario(
        service.stored_scenario(session, str(body.name), body.version).definition
    )
    return service.run(session, scenario, body.as_of, scope_paths=scope)


@router.post("/solve")
def solve_simulation_parameter(
    body: SolveIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(RUN)),
) -> dict[str, Any]:
    """The parameter value that spends a budget or reaches a coverage of the poor."""
    return solver.solve(session, body, principal.area_paths)


@router.post("/compare")
def compare_simulations(
    body: CompareIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(RUN)),
) -> dict[str, Any]:
    """Stored scenarios in one table."""
    scope = principal.area_paths
    results = [
        service.run_stored(session, name, None, body.as_of)
        if scope is None
        else service.run(
            session,
            service.parse_scenario(service.stored_scenario(session, name).definition),
            body.as_of,
            scope_paths=scope,
        )
        for name in body.names
    ]
    return {"table": service.compare(results)}
