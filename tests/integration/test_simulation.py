"""Policy simulation on ten hand-built households; every figure is worked out by hand.

Households h1..h10 have one member each and consumption per capita 100, 200, ...
1000 a month (so quintile Q1 = h1, h2; Q2 = h3, h4; ... Q5 = h9, h10); h1-h5 live in
district D1, h6-h10 in D2. The heads of h1 and h4 are 70, of h8 80, the others 40.
The poverty line is 450 a month: h1-h4 are poor.

Baseline (rules in force on 2025-06-30):
  CG  consumption_per_capita < threshold (250) -> h1, h2; amount 10 a month = 120 a year each.
  OAP elderly >= 1 -> h1, h4, h8; 20 a month = 240 a year each.
  Cost 240 + 720 = 960. Beneficiaries h1, h2, h4, h8: coverage of the poor 3/4,
  exclusion error 1/4, inclusion error 1/4 (h8).

Scenario "reform": CG threshold 450 and amount 40; OAP capped at 500 a year.
  CG -> h1..h4 at 480 a year = 1,920; OAP h1 (240), h4 (480 cumulated), h8 would make
  720 > 500 so waits: 480. Total 2,400; coverage of the poor 4/4, inclusion error 0.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import product
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.programs.models import Programme, ProgrammeRule
from solidarity.registry.models import Area, Household, Person
from solidarity.simulation import service, solver
from solidarity.simulation.errors import InfeasibleTarget, ScenarioInvalid
from solidarity.simulation.schemas import SolveIn

AS_OF = date(2025, 6, 30)
AGES = [70, 40, 40, 70, 40, 40, 40, 80, 40, 40]


def build(session: Session) -> dict[str, int]:
    session.add_all(
        [
            Area(id=1, code="R01", name="Region", level=0, path="/R01/"),
            Area(id=2, code="D1", name="One", level=1, parent_id=1, path="/R01/D1/"),
            Area(id=3, code="D2", name="Two", level=1, parent_id=1, path="/R01/D2/"),
        ]
    )
    session.flush()
    since = datetime(2020, 1, 1, tzinfo=UTC)
    ids = {}
    for i in range(1, 11):
        hh = Household(
            area_id=2 if i <= 5 else 3,
            status="active",
            urban_rural="rural",
            consumption_per_capita=100.0 * i,
            valid_from=since,
        )
        session.add(hh)
        session.flush()
        ids[f"h{i}"] = hh.id
        session.add(
            Person(
                household_id=hh.id,
                area_id=hh.area_id,
                given_name=f"P{i}",
                family_name="Test",
                sex="female" if i % 2 else "male",
                birth_date=date(2025 - AGES[i - 1], 1, 1),
                relationship="head",
                valid_from=since,
            )
        )
    rules = {
        "CG": ("consumption_per_capita < params.threshold", {"threshold": 250}, 10),
        "OAP": ("elderly >= 1", {}, 20),
    }
    for code, (expression, parameters, amount) in rules.items():
        p = Programme(
            code=code,
            name={"CG": "Child grant", "OAP": "Old age pension"}[code],
            instrument="cash_transfer",
            targeting_method="categorical",
        )
        session.add(p)
        session.flush()
        session.add_all(
            [
                ProgrammeRule(
                    programme_id=p.id,
                    kind="eligibility",
                    expression=expression,
                    valid_from=date(2020, 1, 1),
                    parameters=parameters,
                    test_cases=[],
                ),
                ProgrammeRule(
                    programme_id=p.id,
                    kind="benefit",
                    expression="params.amount",
                    valid_from=date(2020, 1, 1),
                    parameters={"amount": amount},
                    test_cases=[],
                ),
            ]
        )
    session.flush()
    return ids


def reform(**extra: Any) -> dict[str, Any]:
    return {
        "name": "reform",
        "baseline_date": "2025-06-30",
        "poverty_line": 450,
        "changes": [
            {
                "kind": "parameters",
                "programme": "CG",
                "rule": "eligibility",
                "set": {"threshold": 450},
            },
            {"kind": "parameters", "programme": "CG", "rule": "benefit", "set": {"amount": 40}},
            {"kind": "budget_cap", "programme": "OAP", "cap": 500},
        ],
        **extra,
    }


def gini_by_hand(values: list[float]) -> float:
    n, mean = len(values), sum(values) / len(values)
    return sum(abs(a - b) for a, b in product(values, values)) / (2 * n * n * mean)


def test_run_reports_baseline_and_scenario_side_by_side(session: Session) -> None:
    ids = build(session)
    result = service.run(session, service.parse_scenario(reform()), with_households=True)
    base, scen = result["baseline"], result["scenario_figures"]

    assert base["total_cost"] == 960
    assert {p["programme"]: p["cost"] for p in base["programmes"]} == {"CG": 240, "OAP": 720}
    assert scen["total_cost"] == 2400
    assert {p["programme"]: p["cost"] for p in scen["programmes"]} == {"CG": 1920, "OAP": 480}
    assert {p["programme"]: p["households"] for p in scen["programmes"]} == {"CG": 4, "OAP": 2}

    assert base["targeting"] == {
        "poor_households": 4,
        "beneficiary_households": 4,
        "coverage_of_poor": 0.75,
        "exclusion_error": 0.25,
        "inclusion_error": 0.25,
    }
    assert scen["targeting"]["coverage_of_poor"] == 1.0
    assert scen["targeting"]["exclusion_error"] == 0.0
    assert scen["targeting"]["inclusion_error"] == 0.0
    # Elderly households h1, h4, h8: all covered before; h8 waits under the cap after.
    assert base["life_cycle"]["elderly"] == {"households": 3, "covered": 3, "coverage": 1.0}
    assert scen["life_cycle"]["elderly"]["coverage"] == pytest.approx(2 / 3, abs=1e-6)
    assert base["life_cycle"]["children"]["coverage"] is None

    # Poverty: h1..h4 below 450 before transfers (headcount 4/10), gap
    # (350 + 250 + 150 + 50) / 450 / 10. Baseline after: 130, 210, 300, 420 -> still 4.
    assert base["poverty_before"]["headcount"] == 0.4
    assert base["poverty_before"]["gap"] == pytest.approx(800 / 4500, abs=1e-6)
    assert base["poverty_after"]["headcount"] == 0.4
    assert base["poverty_after"]["gap"] == pytest.approx(740 / 4500, abs=1e-6)
    # Reform after: 100 + 720/12 = 160, 240, 340, 400 + 720/12 = 460 (out of poverty).
    assert scen["poverty_after"]["headcount"] == 0.3
    assert scen["poverty_after"]["gap"] == pytest.approx(610 / 4500, abs=1e-6)
    before = [100.0 * i for i in range(1, 11)]
    after = [160, 240, 340, 460, 500, 600, 700, 800, 900, 1000]
    assert base["poverty_before"]["gini"] == pytest.approx(0.3, abs=1e-6)
    assert gini_by_hand(before) == pytest.approx(0.3)
    assert scen["poverty_after"]["gini"] == pytest.approx(gini_by_hand(after), abs=1e-6)

    # Incidence: Q1 = h1, h2 get 480 of 960 before and 1,200 of 2,400 after.
    assert [q["share"] for q in base["incidence"]] == [0.5, 0.25, 0.0, 0.25, 0.0]
    assert [q["share"] for q in scen["incidence"]] == [0.5, 0.5, 0.0, 0.0, 0.0]
    assert base["overlaps"] == [
        {"programme_a": "CG", "programme_b": "OAP", "households_both": 1, "jaccard": 0.25}
    ]

    by_area = {(r["group"], r["programme"]): r["households"] for r in scen["breakdowns"]["area"]}
    assert by_area[("R01", "ALL")] == 4
    by_quintile = {(r["group"], r["programme"]): r["cost"] for r in scen["breakdowns"]["quintile"]}
    assert by_quintile[("Q1", "CG")] == 960

    wl = result["winners_and_losers"]
    assert (wl["winners"], wl["losers"]) == (4, 1)
    assert (wl["total_gain"], wl["total_loss"]) == (1680, 240)
    changed = {r["household_id"]: r["change"] for r in result["households_changed"]}
    assert changed == {
        ids["h1"]: 360,
        ids["h2"]: 360,
        ids["h3"]: 480,
        ids["h4"]: 480,
        ids["h8"]: -240,
    }
    first, second = result["explanations"]
    assert first == (
        "Child grant (CG) reaches 2 more households (4 instead of 2) and costs 1,680 more "
        "a year (1,920 instead of 240), because its eligibility parameter threshold from "
        "250 to 450, and its benefit parameter amount from 10 to 40."
    )
    assert second.startswith("Old age pension (OAP) reaches 1 fewer households")
    assert "costs 240 less a year" in second and "a cap of 500 a year" in second
    # The web page writes the same sentences from the changes kept as data, translated.
    assert [_sentence(c, "en") for c in result["largest_changes"]] == result["explanations"]
    assert _sentence(result["largest_changes"][0], "fr") == (
        "Child grant (CG) atteint 2 ménages de plus (4 au lieu de 2) et coûte 1\u202f680 de "
        "plus par an (1\u202f920 au lieu de 240), parce que son paramètre de règle "
        "« éligibilité » : threshold passe de 250 à 450, et son paramètre de règle "
        "« prestation » : amount passe de 10 à 40."
    )


def _sentence(change: dict[str, Any], language: str) -> str:
    from solidarity.web.i18n import Locale
    from solidarity.web.pages.common import templates

    locale = Locale(language)
    template = templates.env.from_string(
        '{% from "simulation/_change.html" import change_sentence with context %}'
        "{{ change_sentence(c) }}"
    )
    return template.render(c=change, locale=locale, **locale.template_functions())


def test_merge_pays_each_unique_beneficiary_once(session: Session) -> None:
    build(session)
    scenario = service.parse_scenario(
        {
            "name": "merge",
            "baseline_date": "2025-06-30",
            "poverty_line": 450,
            "changes": [
                {
                    "kind": "merge_programmes",
                    "programmes": ["CG", "OAP"],
                    "into": "UNI",
                    "benefit": "params.amount",
                    "parameters": {"amount": 10},
                }
            ],
        }
    )
    result = service.run(session, scenario)
    figures = result["scenario_figures"]
    # CG h1, h2 and OAP h1, h4, h8: four unique households at 120 a year.
    assert figures["programmes"] == [
        {
            "programme": "UNI",
            "households": 4,
            "persons": 4,
            "cost": 480.0,
            "coverage_of_poor": 0.75,
            "inclusion_error": 0.25,
        }
    ]
    assert figures["total_cost"] == 4 * 10 * 12


def test_bad_scenarios_are_refused_before_any_work(session: Session) -> None:
    build(session)
    bad = reform(
        changes=[
            {"kind": "parameters", "programme": "XX", "set": {"threshold": 1}},
            {"kind": "parameters", "programme": "CG", "set": {"treshold": 1}},
        ]
    )
    with pytest.raises(ScenarioInvalid) as caught:
        service.run(session, service.parse_scenario(bad))
    messages = [e["message"] for e in caught.value.errors]
    assert "unknown programme 'XX'" in messages[0]
    assert "no parameter 'treshold'" in messages[1] and "threshold" in messages[1]
    with pytest.raises(ScenarioInvalid):
        service.parse_scenario({"name": "x", "baseline_date": "2025-06-30", "poverty_line": 0})
    typo = reform(
        changes=[{"kind": "rule", "programme": "CG", "rule": "benefit", "expression": "sizee * 10"}]
    )
    with pytest.raises(ScenarioInvalid) as caught:
        service.run(session, service.parse_scenario(typo))
    assert "sizee" in caught.value.detail


def test_stored_scenarios_are_versioned_and_results_cached(session: Session) -> None:
    build(session)
    first = service.save_scenario(session, service.parse_scenario(reform()), "analyst")
    second = service.save_scenario(session, service.parse_scenario(reform()), "analyst")
    assert (first.version, second.version) == (1, 2)
    assert first.base_rules["CG"]["eligibility"] is not None
    cold = service.run_stored(session, "reform")
    warm = service.run_stored(session, "reform")
    assert (cold["cached"], warm["cached"]) == (False, True)
    assert warm["scenario_figures"]["total_cost"] == 2400
    # A changed programme (a new cap on CG) is a new snapshot: the baseline is recomputed.
    session.query(Programme).filter(Programme.code == "CG").one().budget_cap = 120.0
    session.flush()
    fresh = service.run_stored(session, "reform")
    assert fresh["cached"] is False
    assert fresh["baseline"]["total_cost"] == 120 + 720
    rows = service.compare([cold])
    assert [r["scenario"] for r in rows] == ["baseline", "reform"]
    assert [r["total_cost"] for r in rows] == [960, 2400]


def _solve(**kw: Any) -> SolveIn:
    scenario = service.parse_scenario(
        {"name": "s", "baseline_date": "2025-06-30", "poverty_line": 450}
    )
    return SolveIn.model_validate({"scenario": scenario, "programme": "CG", **kw})


def test_solver_finds_the_threshold_that_spends_a_budget(session: Session) -> None:
    build(session)
    # 120 a year each: a budget of 500 pays 4 households (480), i.e. threshold up to 500.
    out = solver.solve(session, _solve(parameter="threshold", low=0, high=1100, budget=500))
    assert out["evaluations"] <= 20
    assert 499.99 <= out["value"] <= 500
    assert out["solution"]["programme_cost"] == 480
    assert out["solution"]["programme_households"] == 4
    assert len(out["curve"]) == 8
    # Coverage of the poor 3/4 needs h2 in CG (OAP has h1, h4): threshold just above 200.
    out = solver.solve(
        session, _solve(parameter="threshold", low=0, high=1100, coverage_of_poor=0.75)
    )
    assert 200 < out["value"] <= 200.01
    assert out["solution"]["coverage_of_poor"] == 0.75
    # The benefit amount that spends 900 on CG's 2 households: 900 / 24 = 37.5.
    out = solver.solve(
        session, _solve(rule="benefit", parameter="amount", low=0, high=100, budget=900)
    )
    assert out["value"] == pytest.approx(37.5, abs=0.001)


def test_solver_refuses_an_infeasible_target(session: Session) -> None:
    build(session)
    with pytest.raises(InfeasibleTarget, match="above the budget"):
        solver.solve(
            session, _solve(rule="benefit", parameter="amount", low=50, high=100, budget=100)
        )
    with pytest.raises(InfeasibleTarget, match=r"at most 75\.0%"):
        solver.solve(session, _solve(parameter="threshold", low=0, high=300, coverage_of_poor=1.0))
    with pytest.raises(ScenarioInvalid, match="no parameter 'limit'"):
        solver.solve(session, _solve(parameter="limit", low=0, high=1, budget=1))


def test_run_and_solve_jobs_keep_the_results_the_pages_show(engine: Engine) -> None:
    from solidarity.db.engine import unit_of_work
    from solidarity.jobs import service as jobs
    from solidarity.jobs.worker import Worker
    from solidarity.simulation.jobs import RUN, SOLVE

    with unit_of_work(engine) as s:
        build(s)
        service.save_scenario(s, service.parse_scenario(reform()), "analyst")
        merged = reform(name="merged", changes=[])
        service.save_scenario(s, service.parse_scenario(merged), "analyst")
        run = jobs.enqueue(s, RUN, {"names": ["reform", "merged"], "as_of": None}, actor="a")
        request = _solve(parameter="threshold", low=0, high=1100, budget=500)
        solve = jobs.enqueue(s, SOLVE, {"request": request.model_dump(mode="json")}, actor="a")
        run_id, solve_id = run.id, solve.id
    worker = Worker(engine, "w")
    assert worker.run_once() is True and worker.run_once() is True
    with unit_of_work(engine) as s:
        ran, solved = jobs.get_job(s, run_id), jobs.get_job(s, solve_id)
        assert ran.status == "succeeded", ran.error
        assert solved.status == "succeeded", solved.error
        results = (ran.result or {})["results"]
        # The worked example: baseline 960, the reform 2,400; an empty scenario changes nothing.
        assert [r["scenario_figures"]["total_cost"] for r in results] == [2400, 960]
        assert [row["scenario"] for row in (ran.result or {})["table"]] == [
            "baseline",
            "reform",
            "merged",
        ]
        assert (solved.result or {})["solution"]["programme_cost"] == 480
        assert (solved.result or {})["evaluations"] <= 20
