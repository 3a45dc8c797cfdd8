"""The same model on Splink's Spark backend, in local mode, on a tiny data set.

Skipped with the reason when Java or PySpark (the ``[spark]`` extra) is missing;
CI installs a JRE. Kept tiny: a Spark session alone takes seconds to start.
"""

from __future__ import annotations

import os
import shutil

import polars as pl
import pytest

from solidarity.linkage import engine
from solidarity.linkage.config import LinkageConfig
from solidarity.linkage.features import canonical_frame

if shutil.which("java") is None:
    pytest.skip("Java is not installed: the Spark backend cannot start", allow_module_level=True)
pytest.importorskip("pyspark", reason="PySpark is not installed: pip install 'solidarity[spark]'")


def _records() -> pl.DataFrame:
    people = []
    for i in range(60):
        people.append(
            {
                "id": i,
                "given_name": f"Amina{chr(97 + i % 26)}",
                "family_name": f"Okello{chr(97 + (i * 7) % 26)}",
                "birth_date": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
                "sex": "female" if i % 2 else "male",
            }
        )
    for i in range(10):  # ten duplicates with a typo in the given name
        copy = dict(people[i], id=100 + i)
        copy["given_name"] = str(copy["given_name"])[:-1] + "x"
        people.append(copy)
    return canonical_frame(pl.DataFrame(people), "id")


def test_spark_backend_scores_like_duckdb() -> None:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = engine.spark_session(master="local[1]")
    try:
        frame = _records()
        config = LinkageConfig(training={"u_max_pairs": 2000, "em_max_pairs": 2000})
        _model, linker = engine.train(frame, config, db_api=engine.make_db_api("spark", spark))
        scored = engine.predict(linker, 0.5)
    finally:
        spark.stop()
    found = {(min(a, b), max(a, b)) for a, b in scored.select("unique_id_l", "unique_id_r").rows()}
    assert {(i, 100 + i) for i in range(10)} <= found
