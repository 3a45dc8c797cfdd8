"""PMT calibration on households with observed consumption."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from solidarity.programs import pmt, service
from solidarity.programs.schemas import ProgrammeIn
from solidarity.registry.intake.service import import_files
from tests.registry_files import load_test_areas, registry_files


def _with_consumption(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    for i, row in enumerate(rows):
        electricity = i % 2 == 0
        cattle = i % 5
        row["electricity"] = "true" if electricity else "false"
        row["livestock_cattle"] = str(cattle)
        noise = ((i * 37) % 11 - 5) / 50
        row["consumption_per_capita"] = (
            f"{math.exp(4 + 0.5 * electricity + 0.1 * cattle + noise):.2f}"
        )
    return rows


def test_calibration_fits_weights_and_saves_them_as_a_rule(engine: Engine, tmp_path: Path) -> None:
    load_test_areas(engine)
    files = registry_files(tmp_path, 60, households=_with_consumption)
    import_files(engine, list(files), today=date(2025, 1, 1))
    with engine.connect() as conn:
        result = pmt.calibrate(conn, cutoff_quantile=0.3, seed=3)
    assert result.households == 60 and result.train + result.test == 60
    assert abs(result.weights["w_electricity"] - 0.5) < 0.1
    assert 0 <= result.exclusion_error_test <= 1 and result.r2_train > 0.8
    path = tmp_path / "weights.yaml"
    path.write_text(pmt.rule_version_yaml(result, date(2025, 1, 1)))
    with unit_of_work(engine) as session:
        service.create_programme(
            session, ProgrammeIn(code="PMT", name="Poverty grant", targeting_method="pmt"), "a"
        )
        for version in service.load_rule_file(path):
            stored = service.add_rule_version(session, "PMT", version, "a")
            assert stored.parameters["cutoff"] == round(result.cutoff, 6)
