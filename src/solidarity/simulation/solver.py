"""The budget solver: one parameter searched by bisection over the vectorised evaluation.

The registry is read once; each evaluation re-runs only the compiled rules of the
programme whose parameter moves (the other programmes' transfers are kept), so a
solve costs at most :data:`MAX_EVALUATIONS` population-wide evaluations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from solidarity.simulation import engine
from solidarity.simulation import service as simulation
from solidarity.simulation.errors import InfeasibleTarget, ScenarioInvalid
from solidarity.simulation.schemas import Result, SolveIn

MAX_EVALUATIONS = 20


@dataclasses.dataclass
class _Evaluator:
    population: simulation.Population
    others: pl.DataFrame
    spec: engine.ProgrammeSpec
    kind: str
    parameter: str
    codes: list[str]
    poverty_line: float
    periods: int
    as_of: date
    evaluations: int = 0

    def __post_init__(self) -> None:
        # What does not move with the parameter is computed once.
        households = self.population.households
        self._poor = households.filter(
            (pl.col("consumption_per_capita") < self.poverty_line).fill_null(False)
        ).select("household_id")
        self._others_ids = self.others.select("household_id").unique()
        self._others_cost = float(self.others["amount"].sum())

    def __call__(self, value: float) -> dict[str, Any]:
        self.evaluations += 1
        spec = _with_parameter(self.spec, self.kind, self.parameter, value)
        mine = engine.transfers(
            self.population.households, self.population.persons, [spec], self.as_of
        )
        covered = pl.concat([self._others_ids, mine.select("household_id")]).unique()
        poor = self._poor.height
        covered_poor = self._poor.join(covered, on="household_id", how="semi").height
        coverage = covered_poor / poor if poor else None
        cost = float(mine["amount"].sum())
        return {
            "value": value,
            "programme_cost": round(cost, 2),
            "programme_households": mine.height,
            "total_cost": round(self._others_cost + cost, 2),
            "coverage_of_poor": None if coverage is None else round(coverage, 6),
            "exclusion_error": None if coverage is None else round(1 - coverage, 6),
        }


def _with_parameter(
    spec: engine.ProgrammeSpec, kind: str, name: str, value: float
) -> engine.ProgrammeSpec:
    rule = {"eligibility": spec.eligibility[0], "benefit": spec.benefit, "priority": spec.priority}[
        kind
    ]
    assert rule is not None  # checked when the evaluator is built
    moved = dataclasses.replace(rule, parameters={**rule.parameters, name: value})
    if kind == "eligibility":
        return dataclasses.replace(spec, eligibility=(moved,))
    if kind == "benefit":
        return dataclasses.replace(spec, benefit=moved)
    return dataclasses.replace(spec, priority=moved)


def _evaluator(session: Session, request: SolveIn, scope_paths: Sequence[str] | None) -> _Evaluator:
    scenario = request.scenario
    baseline = simulation.baseline_side(session, scenario.baseline_date)
    side = simulation.apply_changes(baseline, scenario)
    specs = {s.code: s for s in side.specs}
    spec = specs.get(request.programme)
    if spec is None:
        raise ScenarioInvalid(
            f"unknown programme '{request.programme}'",
            [{"field": "programme", "message": f"known: {', '.join(sorted(specs))}"}],
        )
    rule = {"eligibility": spec.eligibility[0], "benefit": spec.benefit, "priority": spec.priority}[
        request.rule
    ]
    if rule is None or request.parameter not in rule.parameters:
        have = ", ".join(sorted(rule.parameters)) if rule is not None else "no such rule"
        raise ScenarioInvalid(
            f"the {request.rule} rule of '{spec.code}' has no parameter '{request.parameter}'",
            [{"field": "parameter", "message": f"it has: {have or 'none'}"}],
        )
    if len(spec.eligibility) > 1 and request.rule == "eligibility":
        raise ScenarioInvalid("a merged programme's combined eligibility has no single parameter")
    if request.budget is None and request.coverage_of_poor is None:
        raise ScenarioInvalid(
            "give a budget or a coverage_of_poor target",
            [{"field": "budget", "message": "one target is required"}],
        )
    if request.low >= request.high:
        raise ScenarioInvalid(
            "low must be below high", [{"field": "low", "message": "low must be below high"}]
        )
    when = request.as_of or scenario.baseline_date
    population = simulation.read_population(session, when, [side], scope_paths=scope_paths)
    others = engine.transfers(
        population.households,
        population.persons,
        [s for s in side.specs if s.code != spec.code],
        when,
    )
    return _Evaluator(
        population,
        others,
        spec,
        request.rule,
        request.parameter,
        [s.code for s in side.specs],
        scenario.poverty_line,
        12 if scenario.consumption_period == "monthly" else 1,
        when,
    )


def solve(session: Session, request: SolveIn, scope_paths: Sequence[str] | None = None) -> Result:
    """Find the parameter value that spends ``budget`` or reaches ``coverage_of_poor``.

    Budget: the value (within ``[low, high]``) at which the programme's annual cost
    comes closest to the budget without exceeding it. Coverage: the value that
    reaches the coverage of the poor (all programmes together) at the lowest cost.
    Both assume the figure moves one way as the parameter moves (checked at both ends).

    Raises:
        ScenarioInvalid: Unknown programme or parameter, no target, or an empty range.
        InfeasibleTarget: No value in the range meets the target (after two evaluations).
    """
    evaluate = _evaluator(session, request, scope_paths)
    low, high = evaluate(request.low), evaluate(request.high)

    if request.budget is not None:
        budget = request.budget
        rising = high["programme_cost"] >= low["programme_cost"]
        cheap, dear = (low, high) if rising else (high, low)
        if cheap["programme_cost"] > budget:
            raise InfeasibleTarget(
                f"even at {request.parameter} = {cheap['value']:g} the programme costs "
                f"{cheap['programme_cost']:,.2f} a year, above the budget of {budget:,.2f}",
                [{"field": "budget", "message": "not reachable in the range"}],
            )
        if dear["programme_cost"] <= budget:
            best = dear
        else:
            best = _bisect(evaluate, cheap, dear, lambda r: r["programme_cost"] <= budget)
        target: dict[str, Any] = {"budget": budget}
    else:
        wanted = float(request.coverage_of_poor or 0.0)

        def cov(r: dict[str, Any]) -> float:
            return float(r["coverage_of_poor"] or 0.0)

        rising = cov(high) >= cov(low)
        weak, strong = (low, high) if rising else (high, low)
        if cov(strong) < wanted:
            raise InfeasibleTarget(
                f"the coverage of the poor reaches at most {cov(strong):.1%} "
                f"(at {request.parameter} = {strong['value']:g}), below the target of {wanted:.1%}",
                [{"field": "coverage_of_poor", "message": "not reachable in the range"}],
            )
        if cov(weak) >= wanted:
            best = weak
        else:
            best = _bisect(evaluate, strong, weak, lambda r: cov(r) >= wanted)
        target = {"coverage_of_poor": wanted}

    solved_evaluations = evaluate.evaluations
    curve = [
        evaluate(request.low + (request.high - request.low) * i / (request.curve_points - 1))
        for i in range(request.curve_points)
    ]
    return {
        "programme": request.programme,
        "rule": request.rule,
        "parameter": request.parameter,
        "target": target,
        "value": best["value"],
        "solution": best,
        "evaluations": solved_evaluations,
        "curve": curve,
    }


def _bisect(
    evaluate: _Evaluator,
    good: dict[str, Any],
    bad: dict[str, Any],
    ok: Any,
) -> dict[str, Any]:
    """Move ``good`` (meets the target) toward ``bad`` until the budget of evaluations."""
    while evaluate.evaluations < MAX_EVALUATIONS:
        middle = evaluate((good["value"] + bad["value"]) / 2)
        if ok(middle):
            good = middle
        else:
            bad = middle
    return good
