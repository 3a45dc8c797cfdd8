"""Proxy means test (PMT) calibration.

Weights are fitted by ordinary least squares (numpy) of log consumption per capita
on household characteristics, over the households whose consumption was observed,
with a seeded train/test split. Each characteristic is itself a rule-language
expression compiled to Polars, so the fitted score is a rule (``params.w_*`` weights)
that evaluates exactly as it was fitted.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import yaml
from sqlalchemy import Connection

from solidarity.errors import ValidationFailed
from solidarity.programs.rules import check_rule, fields_read
from solidarity.programs.schemas import CalibrationOut
from solidarity.registry.bulk import read_state
from solidarity.rules import to_polars_all

#: Household characteristics of the PMT: weight name -> rule-language feature.
FEATURES: dict[str, str] = {
    "w_size": "size",
    "w_electricity": "(electricity ? 1 : 0)",
    "w_roof": "(roof in ['metal_sheet', 'tiles', 'concrete'] ? 1 : 0)",
    "w_floor": "(floor in ['cement', 'tiles'] ? 1 : 0)",
    "w_water": (
        "(water_source in ['piped_dwelling', 'piped_public', 'borehole', 'protected_well'] ? 1 : 0)"
    ),
    "w_urban": "(urban_rural == 'urban' ? 1 : 0)",
    "w_cattle": "coalesce(livestock_cattle, 0)",
    "w_land": "coalesce(land_hectares, 0)",
    "w_television": "(asset_television ? 1 : 0)",
    "w_refrigerator": "(asset_refrigerator ? 1 : 0)",
    "w_motorcycle": "(asset_motorcycle ? 1 : 0)",
    "w_mobile_phone": "(asset_mobile_phone ? 1 : 0)",
}


def score_expression() -> str:
    """The PMT score as a rule: intercept plus each weight times its feature."""
    terms = [f"params.{name} * {feature}" for name, feature in FEATURES.items()]
    return "params.intercept\n  + " + "\n  + ".join(terms)


def _errors(selected: np.ndarray, poor: np.ndarray) -> tuple[float, float]:
    """Inclusion error (selected but not poor) and exclusion error (poor not selected)."""
    inclusion = float((selected & ~poor).sum() / max(selected.sum(), 1))
    exclusion = float((poor & ~selected).sum() / max(poor.sum(), 1))
    return inclusion, exclusion


def _r2(y: np.ndarray, fitted: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - fitted) ** 2).sum()) / total if total > 0 else 0.0


def features(households: pl.DataFrame, persons: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The feature columns (named like their weights) for every household."""
    rules = {name: check_rule(feature, {}, as_of) for name, feature in FEATURES.items()}
    return to_polars_all(rules, as_of=as_of).apply(households, members=persons).collect()


def calibrate(
    conn: Connection,
    *,
    as_of: date | None = None,
    cutoff_quantile: float = 0.3,
    test_share: float = 0.3,
    seed: int = 1,
) -> CalibrationOut:
    """Fit PMT weights and report in- and out-of-sample targeting errors at a cut-off.

    A household is selected when its predicted log consumption is at or below the
    ``cutoff_quantile`` quantile of the training predictions, and counted poor when
    its observed log consumption is at or below the same quantile of observed values.

    Raises:
        ValidationFailed: Too few households with observed consumption.
    """
    if not 0 < cutoff_quantile < 1 or not 0 < test_share < 1:
        raise ValidationFailed("cutoff-quantile and test share must be between 0 and 1")
    when = as_of or date.today()
    hh_cols: set[str] = {"consumption_per_capita"}
    person_cols: set[str] = set()
    for feature in FEATURES.values():
        h, p = fields_read(check_rule(feature, {}, when).tree)
        hh_cols |= h
        person_cols |= p
    households, persons = read_state(conn, sorted(hh_cols), sorted(person_cols), as_of)
    observed = households.filter(pl.col("consumption_per_capita") > 0)
    if observed.height < 2 * (len(FEATURES) + 1):
        raise ValidationFailed(
            f"only {observed.height} household(s) have observed consumption; "
            f"at least {2 * (len(FEATURES) + 1)} are needed"
        )
    frame = features(observed, persons, when)
    x = np.column_stack(
        [np.ones(frame.height)]
        + [frame[name].cast(pl.Float64).fill_null(0).to_numpy() for name in FEATURES]
    )
    y = np.log(frame["consumption_per_capita"].to_numpy())
    order = np.random.default_rng(seed).permutation(frame.height)
    cut = round(frame.height * (1 - test_share))
    train, test = order[:cut], order[cut:]
    beta, *_ = np.linalg.lstsq(x[train], y[train], rcond=None)
    fitted = x @ beta
    cutoff = float(np.quantile(fitted[train], cutoff_quantile))
    poor_line = float(np.quantile(y[train], cutoff_quantile))
    selected, poor = fitted <= cutoff, y <= poor_line
    inc_train, exc_train = _errors(selected[train], poor[train])
    inc_test, exc_test = _errors(selected[test], poor[test])
    weights = {"intercept": float(beta[0])}
    weights |= {name: float(b) for name, b in zip(FEATURES, beta[1:], strict=True)}
    return CalibrationOut(
        as_of=as_of,
        households=frame.height,
        train=len(train),
        test=len(test),
        cutoff_quantile=cutoff_quantile,
        cutoff=cutoff,
        r2_train=_r2(y[train], fitted[train]),
        r2_test=_r2(y[test], fitted[test]) if len(test) else 0.0,
        inclusion_error_train=inc_train,
        exclusion_error_train=exc_train,
        inclusion_error_test=inc_test,
        exclusion_error_test=exc_test,
        weights={k: round(v, 6) for k, v in weights.items()},
        expression=score_expression(),
    )


def rule_version_yaml(result: CalibrationOut, valid_from: date, kind: str = "eligibility") -> str:
    """A rule version file: eligibility ``score <= params.cutoff`` (or the score as priority)."""
    score = score_expression()
    expression = f"({score}) <= params.cutoff" if kind == "eligibility" else score
    parameters: dict[str, float] = dict(result.weights)
    if kind == "eligibility":
        parameters["cutoff"] = round(result.cutoff, 6)
    return yaml.safe_dump(
        {
            "kind": kind,
            "valid_from": valid_from.isoformat(),
            "legal_reference": f"PMT calibrated on {result.households} households "
            f"(cut-off quantile {result.cutoff_quantile})",
            "expression": expression,
            "parameters": parameters,
        },
        sort_keys=False,
    )
