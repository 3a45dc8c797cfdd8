"""Features, blocking checks, configuration and clustering without a database."""

from __future__ import annotations

import polars as pl
import pytest

from solidarity.linkage import engine
from solidarity.linkage.blocking import blocking_keys, choose_rules, count_comparisons
from solidarity.linkage.config import BlockingConfig, config_from_dict
from solidarity.linkage.errors import BlockingRuleRefused, LinkageInputRefused
from solidarity.linkage.features import canonical_frame, filled_share, fold_text, phonetic_key


def test_phonetic_key_folds_transliterations() -> None:
    names = pl.DataFrame({"a": ["Tchaka", "Kwame", "Nganga", "Shipo", "Émile"]})
    other = pl.DataFrame({"a": ["Chaka", "Quame", "Nanga", "Schipo", "EMILE"]})
    key = phonetic_key(fold_text(pl.col("a")))
    assert names.select(key).to_series().to_list() == other.select(key).to_series().to_list()


def test_canonical_frame_reads_year_only_and_swapped_names() -> None:
    frame = canonical_frame(
        pl.DataFrame(
            {
                "id": [1, 2],
                "given_name": ["Amina Joy", "Okello"],
                "family_name": ["Okello", "Amina"],
                "birth_date": ["19800203", "1980"],
                "sex": ["F", "female"],
            }
        ),
        "id",
    )
    rows = frame.to_dicts()
    assert rows[0]["birth_date"] == "1980-02-03" and rows[0]["given_first"] == "amina"
    assert rows[1]["birth_date"] is None and rows[1]["birth_year"] == 1980
    assert rows[1]["birth_estimated"] is True
    assert rows[0]["name_set_key"] == rows[1]["name_set_key"]
    assert rows[0]["sex"] == rows[1]["sex"] == "female"


def _people(n: int) -> pl.DataFrame:
    return canonical_frame(
        pl.DataFrame(
            {
                "id": list(range(n)),
                "given_name": [f"name{i % 7}" for i in range(n)],
                "family_name": ["same"] * n,
                "birth_date": [f"2000-01-{i % 28 + 1:02d}" for i in range(n)],
                "sex": ["male", "female"] * (n // 2),
            }
        ),
        "id",
    )


def test_comparison_counts_are_exact() -> None:
    frame = _people(100)
    assert count_comparisons(frame, ["sex"]) == 2 * (50 * 49 // 2)
    assert count_comparisons(frame, ["sex"], frame) == 2 * 50 * 50


def test_steward_rule_that_explodes_is_refused_with_counts() -> None:
    frame = _people(100)
    config = BlockingConfig(rules=[["sex"]], max_comparisons_per_rule=1000)
    with pytest.raises(BlockingRuleRefused) as caught:
        choose_rules(frame, filled_share(frame), config)
    assert caught.value.extra == {"rule": "sex", "comparisons": 2450, "limit": 1000}
    with pytest.raises(LinkageInputRefused, match="unknown column"):
        choose_rules(frame, filled_share(frame), BlockingConfig(rules=[["shoe_size"]]))


def test_automatic_rules_drop_explosive_and_empty_candidates() -> None:
    frame = _people(100)
    checks = choose_rules(frame, filled_share(frame), BlockingConfig(max_comparisons_per_rule=500))
    refused = {c.columns: c.reason for c in checks if not c.accepted}
    assert "filled" in refused[("national_id",)]
    assert "would generate" in refused[("name_set_key", "birth_year")]
    assert any(c.accepted for c in checks)
    keys = blocking_keys(frame, [c.columns for c in checks if c.accepted])
    assert keys.height > 0 and keys["unique_id"].n_unique() == 100


def test_configuration_refuses_unknown_settings() -> None:
    with pytest.raises(LinkageInputRefused, match="invalid setting"):
        config_from_dict({"blocking": {"max_comparison": 5}})


def test_clusters_are_connected_components() -> None:
    pairs = pl.DataFrame(
        {
            "unique_id_l": [1, 2, 10, 20],
            "unique_id_r": [2, 3, 11, 21],
            "match_probability": [0.99, 0.99, 0.99, 0.1],
        }
    )
    clusters = engine.cluster(pairs, 0.9)
    assert dict(clusters.iter_rows()) == {1: 1, 2: 1, 3: 1, 10: 10, 11: 10}
