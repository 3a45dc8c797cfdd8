"""The set-up half of ``solidarity demo``: generate, migrate, load areas, import."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from solidarity.cli.serve import prepare_demo
from solidarity.db.engine import make_engine


def test_demo_setup_generates_and_imports_a_small_country(tmp_path: Path) -> None:
    # A fresh, unmigrated database: the demo migrates it itself.
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    lines: list[str] = []

    setup = prepare_demo(engine, tmp_path / "demo", households=50, seed=1, say=lines.append)

    assert setup.generated and setup.imported
    assert (setup.country_dir / "households.csv").exists()
    assert setup.areas > 0 and setup.areas_created == setup.areas
    assert 0 < setup.households <= 50
    assert setup.persons >= setup.households

    again = prepare_demo(engine, tmp_path / "demo", households=50, seed=1, say=lines.append)
    assert not again.generated and not again.imported
    assert (again.households, again.persons) == (setup.households, setup.persons)
    assert any("import skipped" in line for line in lines)
    engine.dispose()
