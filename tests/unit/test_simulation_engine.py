"""Pure measures of the simulation engine, worked by hand."""

from __future__ import annotations

import polars as pl
import pytest

from solidarity.simulation.engine import gini, ntile


def test_gini_of_two_people_and_weights_as_repeated_people() -> None:
    # y = 1, 3: mean absolute difference 1 over all 4 ordered pairs, / (2 * mean 2) = 0.25.
    assert gini(pl.Series([1.0, 3.0]), pl.Series([1, 1])) == pytest.approx(0.25)
    # A household of two at 1 is two people at 1: Gini of (1, 1, 3) = 8 / (2 * 9 * 5/3).
    weighted = gini(pl.Series([1.0, 3.0]), pl.Series([2, 1]))
    assert weighted == pytest.approx(gini(pl.Series([1.0, 1.0, 3.0]), pl.Series([1, 1, 1])))
    assert weighted == pytest.approx(8 / 30)
    assert gini(pl.Series([5.0, 5.0]), pl.Series([1, 3])) == pytest.approx(0.0)
    assert gini(pl.Series([], dtype=pl.Float64), pl.Series([], dtype=pl.Int64)) is None


def test_ntile_is_person_weighted_and_skips_missing_consumption() -> None:
    households = pl.DataFrame(
        {
            "household_id": [1, 2, 3, 4],
            "size": [1, 1, 2, None],
            "consumption_per_capita": [300.0, 100.0, 200.0, None],
        }
    ).with_columns(pl.col("size").fill_null(1))
    # Ranked 2 (1 person), 3 (2), 1 (1): cumulative 1, 3, 4 of 4 -> halves 1, 2, 2.
    assert ntile(households, 2).to_list() == [2, 1, 2, None]
