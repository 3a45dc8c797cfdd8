"""Backups: create with a manifest, restore into an empty database, verify, refuse what is wrong."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from solidarity.backup import service
from solidarity.db.engine import make_engine, unit_of_work
from solidarity.errors import ConflictError
from tests.conftest import PG_URL
from tests.integration.test_registry_builders import build_registry


@pytest.fixture
def target(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the same kind as ``engine``."""
    if engine.dialect.name == "sqlite":
        scratch = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
        yield scratch
        scratch.dispose()
        return
    name = f"solidarity_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    yield scratch
    scratch.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_restore_verify_round_trip(engine: Engine, target: Engine, tmp_path: Path) -> None:
    with unit_of_work(engine) as session:
        build_registry(session)
    backup = tmp_path / "backup"
    manifest = service.create_backup(engine, backup)
    assert manifest["tables"]["household"]["rows"] == 3
    assert manifest["tables"]["person"]["rows"] == 6
    assert (backup / "manifest.json").exists()

    service.restore_backup(target, backup)
    restored = make_engine(target.url.render_as_string(hide_password=False))
    assert service.table_fingerprints(restored) == service.table_fingerprints(engine)
    restored.dispose()

    # Restoring twice is refused: the target is no longer empty.
    with pytest.raises(ConflictError, match="not empty"):
        service.restore_backup(
            make_engine(target.url.render_as_string(hide_password=False)), backup
        )

    admin = None if engine.dialect.name == "sqlite" else PG_URL
    assert service.verify_backup(backup, admin) == []


def test_tampered_or_newer_backups_are_refused(
    engine: Engine, target: Engine, tmp_path: Path
) -> None:
    with unit_of_work(engine) as session:
        build_registry(session)
    backup = tmp_path / "backup"
    service.create_backup(engine, backup)
    manifest = json.loads((backup / "manifest.json").read_text())

    newer = {**manifest, "schema_revision": "9999"}
    (backup / "manifest.json").write_text(json.dumps(newer))
    with pytest.raises(service.BackupError, match="newer"):
        service.restore_backup(target, backup)

    counted = {**manifest, "tables": {**manifest["tables"], "person": {"rows": 7, "sha256": "x"}}}
    (backup / "manifest.json").write_text(json.dumps(counted))
    admin = None if engine.dialect.name == "sqlite" else PG_URL
    problems = service.verify_backup(backup, admin)
    assert problems == ["table person: 6 rows (manifest 7), checksum differs"]

    (backup / manifest["file"]).write_bytes(b"not a database")
    with pytest.raises(service.BackupError, match="does not match"):
        service.verify_backup(backup, admin)
