"""Pairwise accuracy of a linkage against known true pairs (benchmarks, steward labels)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl


@dataclass(frozen=True)
class Accuracy:
    """Pairwise precision, recall and F1 at one threshold."""

    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float | int]:
        """A JSON-ready view, rounded for reading."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def ordered_pairs(frame: pl.DataFrame, left: str, right: str) -> pl.DataFrame:
    """Pairs as (``id_l``, ``id_r``) with the smaller id first, without repeats."""
    return (
        frame.select(
            pl.min_horizontal(left, right).alias("id_l"),
            pl.max_horizontal(left, right).alias("id_r"),
        )
        .filter(pl.col("id_l") != pl.col("id_r"))
        .unique()
    )


def accuracy_at(
    scored: pl.DataFrame, truth: pl.DataFrame, threshold: float, *, ordered: bool = True
) -> Accuracy:
    """Accuracy of calling every scored pair at or above ``threshold`` a match.

    ``scored`` has ``unique_id_l``, ``unique_id_r``, ``match_probability``; ``truth``
    has ``id_l``, ``id_r`` (ordered with :func:`ordered_pairs` when ``ordered``).
    """
    called = scored.filter(pl.col("match_probability") >= threshold)
    if ordered:
        called = ordered_pairs(called, "unique_id_l", "unique_id_r")
    else:
        called = called.select(
            pl.col("unique_id_l").alias("id_l"), pl.col("unique_id_r").alias("id_r")
        ).unique()
    tp = called.join(truth, on=["id_l", "id_r"], how="inner").height
    fp = called.height - tp
    fn = truth.height - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Accuracy(threshold, tp, fp, fn, precision, recall, f1)


def best_threshold(scored: pl.DataFrame, truth: pl.DataFrame, *, ordered: bool = True) -> Accuracy:
    """The threshold (on a grid of probabilities) with the highest F1."""
    grid = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999]
    results = [accuracy_at(scored, truth, t, ordered=ordered) for t in grid]
    return max(results, key=lambda a: (a.f1, a.threshold))


def blocking_recall(
    candidates: pl.DataFrame, truth: pl.DataFrame, *, ordered: bool = True
) -> float:
    """Share of true pairs that reach comparison (``candidates`` as from ``predict`` at 0)."""
    pairs = candidates.select(
        pl.col("unique_id_l").alias("id_l"), pl.col("unique_id_r").alias("id_r")
    )
    if ordered:
        pairs = ordered_pairs(pairs, "id_l", "id_r")
    found = pairs.unique().join(truth, on=["id_l", "id_r"], how="inner").height
    return found / truth.height if truth.height else 1.0
