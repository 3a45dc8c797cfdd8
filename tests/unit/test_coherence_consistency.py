"""Disagreement rates from linkage's per-comparison agreement, worked by hand."""

from __future__ import annotations

import polars as pl

from solidarity.coherence.consistency import linked_disagreement


def test_disagreement_counts_links_below_the_exact_level_among_compared_ones() -> None:
    levels = pl.DataFrame(
        {
            "source": ["OAP"] * 6 + ["CSP"] * 2,
            "person_id": [1, 2, 3, 1, 2, 3, 1, 9],
            "comparison": ["birth_date"] * 3 + ["sex"] * 3 + ["birth_date"] * 2,
            # birth_date: exact (4), typo level (2), empty (-1); sex: exact, exact, differs.
            "gamma": [4, 2, -1, 1, 1, 0, 3, 0],
            "top": [4, 4, 4, 1, 1, 1, 4, 4],
        }
    )
    persons = pl.DataFrame({"person_id": [1, 2, 3]})  # person 9 is outside the scope
    out = linked_disagreement(levels, persons).to_dicts()
    assert out == [
        {"source": "CSP", "field": "birth_date", "compared": 1, "differ": 1, "disagreement": 1.0},
        {"source": "OAP", "field": "birth_date", "compared": 2, "differ": 1, "disagreement": 0.5},
        {"source": "OAP", "field": "sex", "compared": 3, "differ": 1, "disagreement": 1 / 3},
    ]
