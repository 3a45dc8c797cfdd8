"""Create, restore and verify backups.

A backup is a directory: the database itself (SQLite's online backup API, or
``pg_dump`` custom format for PostgreSQL) and ``manifest.json`` with the schema
revision, the row count and a checksum of every table. Restoring refuses a
non-empty target and a backup made by a newer schema than this code knows;
verifying restores into a scratch database and compares counts and checksums.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, select, table, text
from sqlalchemy.engine import make_url

import solidarity
from solidarity.db import migrate
from solidarity.db.engine import make_engine
from solidarity.errors import ConflictError, SolidarityError, ValidationFailed

MANIFEST = "manifest.json"
SQLITE_FILE = "solidarity.sqlite"
PG_FILE = "solidarity.dump"


class BackupError(SolidarityError):
    """A backup could not be made, restored or verified."""

    exit_code = 9


def table_fingerprints(engine: Engine) -> dict[str, dict[str, Any]]:
    """Row count and a SHA-256 over every row (in primary-key order) of each table."""
    out: dict[str, dict[str, Any]] = {}
    inspector = inspect(engine)
    with engine.connect() as conn:
        for name in sorted(inspector.get_table_names()):
            keys = inspector.get_pk_constraint(name).get("constrained_columns") or []
            columns = [c["name"] for c in inspector.get_columns(name)]
            query = select(*[text(f'"{c}"') for c in columns]).select_from(table(name))
            if keys:
                query = query.order_by(*[text(f'"{k}"') for k in keys])
            digest = hashlib.sha256()
            count = 0
            for row in conn.execute(query):
                digest.update(json.dumps(list(row), default=str).encode())
                digest.update(b"\n")
                count += 1
            out[name] = {"rows": count, "sha256": digest.hexdigest()}
    return out


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_command(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        raise BackupError(f"{name} is needed to back up PostgreSQL; install postgresql-client")
    return found


def _libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_backup(engine: Engine, directory: Path) -> dict[str, Any]:
    """Write a backup of ``engine``'s database into the empty or new ``directory``.

    Returns:
        The manifest written.
    """
    if directory.exists() and any(directory.iterdir()):
        raise ConflictError(f"{directory} is not empty; give a new directory for the backup")
    directory.mkdir(parents=True, exist_ok=True)
    revision = migrate.current_revision(engine)
    if revision is None:
        raise BackupError("the database was never migrated: nothing to back up")
    if engine.dialect.name == "sqlite":
        file = directory / SQLITE_FILE
        source = engine.raw_connection()
        try:
            target = sqlite3.connect(file)
            with target:
                source.driver_connection.backup(target)  # type: ignore[union-attr]
            target.close()
        finally:
            source.close()
    else:
        file = directory / PG_FILE
        result = subprocess.run(
            [
                _pg_command("pg_dump"),
                "--format=custom",
                "--no-owner",
                "-f",
                str(file),
                _libpq_url(engine),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    manifest = {
        "format": 1,
        "created_at": datetime.now(UTC).isoformat(),
        "solidarity_version": solidarity.__version__,
        "database": engine.dialect.name,
        "schema_revision": revision,
        "file": file.name,
        "file_sha256": _file_sha256(file),
        "tables": table_fingerprints(engine),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a backup, checked against its file."""
    path = directory / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{path}: not a Solidarity backup ({exc})") from exc
    file = directory / manifest["file"]
    if not file.exists() or _file_sha256(file) != manifest["file_sha256"]:
        raise BackupError(f"{file} is missing or does not match the manifest's checksum")
    return manifest


def restore_backup(engine: Engine, directory: Path) -> dict[str, Any]:
    """Restore the backup in ``directory`` into ``engine``'s database, which must be empty.

    Raises:
        ConflictError: The target database already holds tables.
        BackupError: The backup comes from a newer schema, or from the other kind
            of database, or the restore tool failed.
    """
    manifest = read_manifest(directory)
    known = migrate.known_revisions(engine)
    if manifest["schema_revision"] not in known:
        raise BackupError(
            f"the backup's schema revision {manifest['schema_revision']} is newer than this "
            "version of Solidarity knows; restore it with the version that made it"
        )
    if manifest["database"] != engine.dialect.name:
        raise BackupError(
            f"this is a {manifest['database']} backup; restore it into a {manifest['database']} "
            "database"
        )
    existing = inspect(engine).get_table_names()
    if existing:
        raise ConflictError(
            f"the target database is not empty ({len(existing)} tables); restore into an empty one"
        )
    file = directory / manifest["file"]
    if engine.dialect.name == "sqlite":
        target_path = make_url(engine.url).database
        engine.dispose()
        source = sqlite3.connect(file)
        target = sqlite3.connect(str(target_path))
        with target:
            source.backup(target)
        source.close()
        target.close()
    else:
        result = subprocess.run(
            [
                _pg_command("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "-d",
                _libpq_url(engine),
                str(file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
    return manifest


def verify_backup(directory: Path, scratch_url: str | None = None) -> list[str]:
    """Restore into a scratch database and compare every table with the manifest.

    ``scratch_url`` names an admin connection for PostgreSQL (a database is created
    and dropped there); SQLite backups use a temporary file.

    Returns:
        The differences found (empty when the backup is sound).
    """
    manifest = read_manifest(directory)
    if manifest["database"] == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            scratch = make_engine(f"sqlite:///{Path(tmp) / 'verify.db'}")
            restore_backup(scratch, directory)
            scratch = make_engine(f"sqlite:///{Path(tmp) / 'verify.db'}")
            found = table_fingerprints(scratch)
            scratch.dispose()
    else:
        if scratch_url is None:
            raise ValidationFailed("verifying a PostgreSQL backup needs a server to restore into")
        admin = create_engine(scratch_url, isolation_level="AUTOCOMMIT")
        name = f"solidarity_verify_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        scratch = make_engine(
            make_url(scratch_url).set(database=name).render_as_string(hide_password=False)
        )
        try:
            restore_backup(scratch, directory)
            found = table_fingerprints(scratch)
        finally:
            scratch.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    problems = []
    for name, expected in manifest["tables"].items():
        got = found.get(name)
        if got is None:
            problems.append(f"table {name} is missing")
        elif got != expected:
            problems.append(
                f"table {name}: {got['rows']} rows (manifest {expected['rows']}), "
                f"checksum {'matches' if got['sha256'] == expected['sha256'] else 'differs'}"
            )
    problems += [
        f"table {n} is not in the manifest" for n in sorted(set(found) - set(manifest["tables"]))
    ]
    return problems
