"""The Splink engine: comparisons, self-training, scoring and clustering.

Backends: DuckDB by default (frames handed over as Arrow, nothing installed at
run time) and Spark (the ``[spark]`` extra) for registries that outgrow one
machine. The same settings serve both: every level is built from Splink's
comparison-level library, or from plain SQL both dialects read.

Household-structured registries break a textbook model: members share a family
name and an address, so scoring them as independent pieces of evidence makes
every pair of relatives look like a duplicate. This model therefore scores the
family name *jointly with the place* (one comparison), leaves pairs from the
same household out of blocking and training (a duplicate registration is a
second household record), and trains m probabilities on blocks where the
non-matching pairs are strangers, not relatives.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from solidarity.linkage.blocking import (
    DETERMINISTIC_RULES,
    RuleCheck,
    choose_rules,
    rule_name,
    rule_sql,
    usable_training_rules,
)
from solidarity.linkage.config import LinkageConfig
from solidarity.linkage.errors import LinkageError, MissingExtraError

LinkType = Literal["dedupe_only", "link_only"]
Progress = Callable[[str], None]

#: The comparisons the model may use, by output name, with the columns each needs.
COMPARISON_COLUMNS: dict[str, tuple[str, ...]] = {
    "given_name": ("given_first",),
    "family_place": ("family_name",),
    "birth_date": ("birth_year",),
    "sex": ("sex",),
    "national_id": ("national_id",),
    "phone": ("phone",),
}

for _name in ("splink", "splink.internals"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def _splink() -> Any:
    try:
        import splink
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingExtraError("linkage needs Splink: pip install 'solidarity[linkage]'") from exc
    return splink


def make_db_api(backend: str = "duckdb", spark: Any = None) -> Any:
    """A Splink database API for ``backend`` (``duckdb`` or ``spark``).

    Raises:
        MissingExtraError: The backend's packages are not installed.
    """
    _splink()
    if backend == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI()
    if backend == "spark":
        try:
            import pyspark  # noqa: F401
            from splink import SparkAPI
        except ImportError as exc:
            raise MissingExtraError(
                "the Spark backend needs PySpark: pip install 'solidarity[spark]'"
            ) from exc
        session = spark if spark is not None else spark_session()
        return SparkAPI(spark_session=session)  # type: ignore[no-untyped-call]
    raise LinkageError(f"unknown linkage backend {backend!r}; use duckdb or spark")


def spark_session(
    app_name: str = "solidarity-linkage",
    master: str = "local[2]",
    checkpoint_dir: str | None = None,
) -> Any:
    """A Spark session with Splink's similarity functions registered (local mode by default).

    Raises:
        MissingExtraError: PySpark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingExtraError(
            "the Spark backend needs PySpark: pip install 'solidarity[spark]'"
        ) from exc
    import tempfile

    from splink.backends.spark import similarity_jar_location

    session = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    # Splink checkpoints intermediate tables; on a cluster, point this at shared storage.
    session.sparkContext.setCheckpointDir(checkpoint_dir or tempfile.mkdtemp(prefix="splink-"))
    return session


def register(db_api: Any, frame: pl.DataFrame, name: str) -> Any:
    """Hand ``frame`` to the backend (Arrow for DuckDB, a Spark frame for Spark)."""
    if type(db_api).__name__ == "SparkAPI":
        spark = db_api.spark
        return db_api.register(spark.createDataFrame(frame.to_pandas()), dataset_display_name=name)
    return db_api.register(frame.to_arrow(), dataset_display_name=name)


def to_polars(splink_frame: Any) -> pl.DataFrame:
    """A Splink result table as a Polars frame (Arrow from DuckDB, pandas from Spark)."""
    db_api = splink_frame.db_api
    if type(db_api).__name__ == "DuckDBAPI":
        return pl.from_arrow(  # type: ignore[return-value]
            db_api.duckdb_con.sql(f"SELECT * FROM {splink_frame.physical_name}").to_arrow_table()
        )
    return pl.from_pandas(splink_frame.as_pandas_dataframe())


# --- Comparisons -------------------------------------------------------------


def _given_name(fill: dict[str, float]) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels: list[Any] = [
        cll.NullLevel("given_first"),
        cll.ExactMatchLevel("given_name").configure(label_for_charts="all given names equal"),
        cll.ExactMatchLevel("given_first").configure(label_for_charts="first given name equal"),
    ]
    if fill.get("family_name", 0) > 0:
        levels.append(
            cll.CustomLevel(
                "given_first_l = family_name_r AND family_name_l = given_first_r",
                "given and family names swapped",
            )
        )
    levels += [
        cll.JaroWinklerLevel("given_first", 0.92).configure(label_for_charts="typo (JW >= 0.92)"),
        cll.ExactMatchLevel("given_key").configure(label_for_charts="sounds alike"),
        cll.DamerauLevenshteinLevel("given_first", 2).configure(
            label_for_charts="two edits or fewer"
        ),
        cll.JaroWinklerLevel("given_first", 0.8).configure(label_for_charts="similar (JW >= 0.8)"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name="given_name")


def _family_place(fill: dict[str, float], min_fill: float) -> Any:
    """Family name scored jointly with the place: relatives share both."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    exact = cll.ExactMatchLevel("family_name")
    fuzzy = cll.Or(cll.JaroWinklerLevel("family_name", 0.92), cll.ExactMatchLevel("family_key"))
    places: list[tuple[str, Any]] = []
    if fill.get("address", 0) >= min_fill:
        places.append(("address", cll.ExactMatchLevel("address")))
    if fill.get("locality", 0) >= min_fill:
        places.append(("locality", cll.ExactMatchLevel("locality")))
    if fill.get("district", 0) >= min_fill:
        places.append(("district", cll.ExactMatchLevel("district")))
    levels: list[Any] = [cll.NullLevel("family_name")]
    for place, condition in places:
        levels.append(
            cll.And(exact, condition).configure(label_for_charts=f"family name equal, same {place}")
        )
        levels.append(
            cll.And(fuzzy, condition).configure(
                label_for_charts=f"family name similar, same {place}"
            )
        )
    levels.append(exact.configure(label_for_charts="family name equal, elsewhere"))
    levels.append(
        cll.Or(
            cll.JaroWinklerLevel("family_name", 0.92), cll.ExactMatchLevel("family_key")
        ).configure(label_for_charts="family name similar, elsewhere")
    )
    if fill.get("given_first", 0) > 0:
        levels.append(
            cll.CustomLevel("family_name_l = given_first_r", "family name given as given name")
        )
    if places:
        place, condition = places[0]
        levels.append(
            cll.Or(*(c for _, c in places)).configure(
                label_for_charts="other family name, same place"
            )
        )
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name="family_place")


def _birth_date() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels: list[Any] = [
        cll.NullLevel("birth_year"),
        cll.ExactMatchLevel("birth_date").configure(label_for_charts="exact"),
        cll.CustomLevel(
            "birth_year_l = birth_year_r AND birth_month_l = birth_day_r "
            "AND birth_day_l = birth_month_r",
            "day and month swapped",
        ),
        cll.DamerauLevenshteinLevel("birth_date", 1).configure(label_for_charts="one typo"),
        cll.CustomLevel(
            "(birth_estimated_l OR birth_estimated_r) AND abs(birth_year_l - birth_year_r) <= 1",
            "estimated or year-only date, years within 1",
        ),
        cll.CustomLevel(
            "birth_year_l = birth_year_r AND birth_month_l = birth_month_r",
            "same year and month",
        ),
        cll.ExactMatchLevel("birth_year").configure(label_for_charts="same year"),
        cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 1", "years within 1"),
        cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 5", "years within 5"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name="birth_date")


def _identifier(column: str) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        [
            cll.NullLevel(column),
            cll.ExactMatchLevel(column).configure(label_for_charts="exact"),
            cll.DamerauLevenshteinLevel(column, 1).configure(label_for_charts="one character off"),
            cll.ElseLevel(),
        ],
        output_column_name=column,
    )


def _sex() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        [cll.NullLevel("sex"), cll.ExactMatchLevel("sex"), cll.ElseLevel()],
        output_column_name="sex",
    )


def comparisons(fill: dict[str, float], min_fill: float) -> list[Any]:
    """The comparisons the data can support: those whose columns are filled enough."""
    chosen: list[Any] = []
    if fill.get("given_first", 0) >= min_fill:
        chosen.append(_given_name(fill))
    if fill.get("family_name", 0) >= min_fill:
        chosen.append(_family_place(fill, min_fill))
    if fill.get("birth_year", 0) >= min_fill:
        chosen.append(_birth_date())
    if fill.get("sex", 0) >= min_fill:
        chosen.append(_sex())
    for column in ("national_id", "phone"):
        if fill.get(column, 0) >= min_fill:
            chosen.append(_identifier(column))
    if len(chosen) < 2:
        raise LinkageError(
            "the data supports fewer than two comparisons: map at least names and a birth date"
        )
    return chosen


# --- Training ----------------------------------------------------------------


@dataclass
class FittedModel:
    """A trained model: the Splink settings with parameters, and how it was made."""

    settings: dict[str, Any]
    rules: list[tuple[str, ...]]
    link_type: LinkType
    exclude_same_household: bool
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def comparison_names(self) -> list[str]:
        """Output names of the model's comparisons."""
        return [c["output_column_name"] for c in self.settings["comparisons"]]


def _fill_of(frames: Sequence[pl.DataFrame]) -> dict[str, float]:
    from solidarity.linkage.features import filled_share

    shares = [filled_share(f) for f in frames]
    return {k: min(s[k] for s in shares) for k in shares[0]}


def _settings(
    fill: dict[str, float],
    link_type: LinkType,
    rules: Sequence[Sequence[str]],
    exclude_same_household: bool,
    min_fill: float,
) -> Any:
    splink = _splink()
    return splink.SettingsCreator(
        link_type=link_type,
        comparisons=comparisons(fill, min_fill),
        blocking_rules_to_generate_predictions=[
            rule_sql(r, exclude_same_household=exclude_same_household) for r in rules
        ],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
    )


#: Smallest m probability a level keeps: a level never seen among the matches of
#: the training blocks (a sex typo, say) is rare, not impossible.
M_FLOOR = 0.001


def _floor_m(settings: dict[str, Any]) -> None:
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        raw = [lv.get("m_probability") for lv in levels]
        if any(m is None for m in raw):
            continue
        floored = [max(float(m), M_FLOOR) for m in raw if m is not None]
        total = sum(floored)
        for level, m in zip(levels, floored, strict=True):
            level["m_probability"] = m / total


def _apply_fixed_m(settings: dict[str, Any], fixed: dict[str, dict[str, float]]) -> None:
    for comparison in settings["comparisons"]:
        wanted = fixed.get(comparison["output_column_name"], {})
        for level in comparison["comparison_levels"]:
            label = level.get("label_for_charts")
            if label in wanted:
                level["m_probability"] = wanted[label]


def train(
    left: pl.DataFrame,
    config: LinkageConfig,
    *,
    right: pl.DataFrame | None = None,
    db_api: Any = None,
    progress: Progress | None = None,
) -> tuple[FittedModel, Any]:
    """Choose blocking rules from the data and train a model on it, without hand tuning.

    Steps: check candidate rules (refusing explosive ones), estimate the chance two
    random records match from exact agreement, u probabilities by random sampling,
    and m probabilities by expectation maximisation on training blocks.

    Returns:
        The fitted model and the Splink linker (ready to predict on the same data).

    Raises:
        BlockingRuleRefused: A steward's rule would exceed the configured limit.
        LinkageInputRefused: No rule is usable on this data.
    """
    splink = _splink()
    say = progress or (lambda _m: None)
    link_type: LinkType = "dedupe_only" if right is None else "link_only"
    frames = [left] if right is None else [left, right]
    fill = _fill_of(frames)
    exclude = (
        link_type == "dedupe_only"
        and not config.compare_within_household
        and fill.get("household_id", 0) > 0
    )
    timings: dict[str, float] = {}
    start = time.perf_counter()
    checks: list[RuleCheck] = choose_rules(left, fill, config.blocking, right)
    rules = [c.columns for c in checks if c.accepted]
    timings["blocking_check"] = time.perf_counter() - start
    planned = sum(c.comparisons for c in checks if c.accepted)
    say(f"blocking: {len(rules)} rule(s), {planned:,} comparisons")

    db_api = db_api or make_db_api(config.backend)
    inputs = [register(db_api, f, f"records_{i}") for i, f in enumerate(frames)]
    settings = _settings(fill, link_type, rules, exclude, config.blocking.min_fill)
    linker = splink.Linker(inputs if right is not None else inputs[0], settings, log_level=None)

    start = time.perf_counter()
    n_left, n_right = left.height, (right.height if right is not None else left.height)
    possible = n_left * n_right if right is not None else n_left * (n_left - 1) // 2
    deterministic = [
        rule_sql(r, exclude_same_household=exclude)
        for r in DETERMINISTIC_RULES
        if all(fill.get(c, 0) >= config.blocking.min_fill for c in r)
    ]
    prior = None
    try:
        if deterministic:
            linker.training.estimate_probability_two_random_records_match(
                deterministic, recall=config.training.deterministic_recall
            )
            prior = linker._settings_obj._probability_two_random_records_match
    except Exception:
        prior = None
    if not prior or prior <= 0 or prior >= 1 or not math.isfinite(prior):
        prior = min(0.5, max(1.0 / max(possible, 1), 1e-12) * min(n_left, n_right) * 0.05)
        linker._settings_obj._probability_two_random_records_match = prior
    timings["prior"] = time.perf_counter() - start

    start = time.perf_counter()
    u_pairs = float(
        max(
            1_000, min(config.training.u_max_pairs, possible, max(500_000, 10 * (n_left + n_right)))
        )
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=config.training.seed)
    timings["u_sampling"] = time.perf_counter() - start
    say("trained u probabilities by random sampling")

    start = time.perf_counter()
    sessions: list[dict[str, Any]] = []
    for rule in usable_training_rules(
        left, fill, config.blocking.min_fill, config.training.em_max_pairs
    ):
        sql = rule_sql(rule, exclude_same_household=exclude)
        # A session that fails (an empty block, an m underflowing to zero) can leave
        # the linker half-updated: keep the state before it and return to it.
        before = linker.misc.save_model_to_json()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                sql,
                estimate_without_term_frequencies=True,
                max_pairs=float(config.training.em_max_pairs),
            )
            sessions.append({"rule": rule_name(rule), "ok": True})
        except Exception as exc:  # a block may hold no pairs, an m may underflow
            sessions.append({"rule": rule_name(rule), "ok": False, "error": str(exc)[:300]})
            linker = splink.Linker(
                inputs if right is not None else inputs[0], before, log_level=None
            )
        if _all_m_trained(linker) and len([s for s in sessions if s["ok"]]) >= 2:
            break
    timings["em"] = time.perf_counter() - start
    say(f"trained m probabilities by EM on {len(sessions)} block(s)")

    model_settings: dict[str, Any] = linker.misc.save_model_to_json()
    kept = [c["output_column_name"] for c in model_settings["comparisons"]]
    if len(kept) != len(settings.comparisons):  # pragma: no cover - guard against a surprise
        raise LinkageError(f"training kept only the comparisons {kept}")
    _fill_unobserved(model_settings, u_pairs)
    _floor_m(model_settings)
    _apply_fixed_m(model_settings, config.fixed_m)
    linker = splink.Linker(
        inputs if right is not None else inputs[0], model_settings, log_level=None
    )
    report = {
        "records": [f.height for f in frames],
        "fill": {k: round(v, 4) for k, v in fill.items()},
        "blocking": [c.as_dict() for c in checks],
        "probability_two_random_records_match": prior,
        "em_sessions": sessions,
        "untrained_m": _untrained(linker),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "exclude_same_household": exclude,
    }
    fitted = FittedModel(
        settings=model_settings,
        rules=rules,
        link_type=link_type,
        exclude_same_household=exclude,
        report=report,
    )
    return fitted, linker


def _fill_unobserved(settings: dict[str, Any], u_pairs: float) -> None:
    """Levels no training pair reached: m at the floor; u as if seen once in the u sample."""
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            if level.get("m_probability") is None:
                level["m_probability"] = M_FLOOR
            if level.get("u_probability") is None:
                level["u_probability"] = 1.0 / u_pairs


def _untrained(linker: Any) -> list[str]:
    out = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            if not level._has_estimated_m_values:
                out.append(f"{comparison.output_column_name}: {level.label_for_charts}")
    return out


def _all_m_trained(linker: Any) -> bool:
    return not any(
        not level._has_estimated_m_values
        for comparison in linker._settings_obj.comparisons
        for level in comparison.comparison_levels
        if not level.is_null_level
    )


def load_linker(
    model: FittedModel,
    left: pl.DataFrame,
    right: pl.DataFrame | None = None,
    *,
    backend: str = "duckdb",
    db_api: Any = None,
) -> Any:
    """A Splink linker with a saved model's parameters over new data."""
    splink = _splink()
    db_api = db_api or make_db_api(backend)
    frames = [left] if right is None else [left, right]
    inputs = [register(db_api, f, f"records_{i}") for i, f in enumerate(frames)]
    settings = dict(model.settings)
    settings["link_type"] = "dedupe_only" if right is None else "link_only"
    return splink.Linker(inputs if right is not None else inputs[0], settings, log_level=None)


def predict(linker: Any, min_probability: float) -> pl.DataFrame:
    """Score every candidate pair, keeping those at or above ``min_probability``.

    Returns:
        ``unique_id_l``, ``unique_id_r``, ``match_weight``, ``match_probability``,
        ``match_key`` (the blocking rule that found the pair) and per comparison its
        ``gamma_*`` level and ``mw_*`` match weight (log2 Bayes factor).
    """
    result = linker.inference.predict(threshold_match_probability=min_probability)
    frame = to_polars(result)
    keep = [
        c
        for c in frame.columns
        if c in {"unique_id_l", "unique_id_r", "match_weight", "match_probability", "match_key"}
        or c.startswith(("gamma_", "mw_"))
    ]
    keep = [c for c in keep if not c.startswith("mw_tf_")]
    return frame.select(keep)


def scored_pair_count(linker: Any) -> int:
    """How many candidate pairs the model's blocking rules generate (before scoring)."""
    counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(
        record_sample_proportion=1.0
    )
    return int(counts[-1]["cumulative_comparison_count"]) if counts else 0


def level_labels(settings: dict[str, Any]) -> dict[str, dict[int, str]]:
    """For each comparison, the label of each gamma value."""
    out: dict[str, dict[int, str]] = {}
    for comparison in settings["comparisons"]:
        levels = comparison["comparison_levels"]
        labels: dict[int, str] = {}
        gamma = len([lv for lv in levels if not lv.get("is_null_level")]) - 1
        for level in levels:
            if level.get("is_null_level"):
                labels[-1] = "missing"
            else:
                labels[gamma] = str(level.get("label_for_charts") or level["sql_condition"])
                gamma -= 1
        out[comparison["output_column_name"]] = labels
    return out


def parameters(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """m, u, Bayes factor and match weight of every level: what a steward reviews."""
    rows = []
    for comparison in settings["comparisons"]:
        levels = comparison["comparison_levels"]
        gamma = len([lv for lv in levels if not lv.get("is_null_level")]) - 1
        for level in levels:
            if level.get("is_null_level"):
                continue
            m = level.get("m_probability")
            u = level.get("u_probability")
            bf = (m / u) if m and u else None
            rows.append(
                {
                    "comparison": comparison["output_column_name"],
                    "gamma": gamma,
                    "level": str(level.get("label_for_charts") or level["sql_condition"]),
                    "m_probability": m,
                    "u_probability": u,
                    "bayes_factor": bf,
                    "match_weight": math.log2(bf) if bf else None,
                }
            )
            gamma -= 1
    return rows


def cluster(pairs: pl.DataFrame, threshold: float, ids: pl.Series | None = None) -> pl.DataFrame:
    """Connected components of pairs at or above ``threshold`` (``unique_id``, ``cluster_id``).

    Only records in at least one such pair are returned; ``cluster_id`` is the smallest
    ``unique_id`` of the component. Iterative label propagation in Polars: every round
    each record takes the smallest label among its neighbours.
    """
    edges = pairs.filter(pl.col("match_probability") >= threshold).select(
        pl.col("unique_id_l").alias("a"), pl.col("unique_id_r").alias("b")
    )
    if edges.height == 0:
        return pl.DataFrame(schema={"unique_id": pl.Int64, "cluster_id": pl.Int64})
    both = pl.concat([edges, edges.select(pl.col("b").alias("a"), pl.col("a").alias("b"))])
    labels = (
        both.select(pl.col("a").alias("unique_id"))
        .unique()
        .with_columns(pl.col("unique_id").alias("cluster_id"))
    )
    for _ in range(100):
        neighbour = (
            both.join(labels, left_on="b", right_on="unique_id")
            .group_by("a")
            .agg(pl.col("cluster_id").min().alias("n"))
        )
        updated = labels.join(neighbour, left_on="unique_id", right_on="a", how="left").select(
            "unique_id", pl.min_horizontal("cluster_id", "n").alias("cluster_id")
        )
        changed = updated.join(labels, on="unique_id").filter(
            pl.col("cluster_id") != pl.col("cluster_id_right")
        )
        labels = updated
        if changed.height == 0:
            break
    return labels.sort("unique_id")
