"""Key rotation of field encryption: re-encrypt values, recompute blind indexes.

Both walk every encrypted table in primary-key batches, each batch its own
transaction (like bulk intake), so a rotation interrupted half-way keeps what it
did and a re-run carries on: a value says which key sealed it, and only values
not under the active key are rewritten. Reads use the raw stored text (no column
type), so values are decrypted and sealed once per batch, in bulk. Encrypted JSON
documents (change-request payloads, merge snapshots, shared referral records) are
sealed text like the others and are re-sealed without being parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, text

from solidarity.db.base import Base
from solidarity.db.encrypted import encrypted_columns
from solidarity.governance.encryption import (
    FieldKeyError,
    KeyRing,
    key_file_path,
    key_ring,
    load_key_ring,
    new_key_id,
    write_key_ring,
)

#: Called with (table, rows done, rows in table) after each batch.
Progress = Callable[[str, int, int], None]
NAME_COLUMNS = ("given_name", "family_name", "other_names")
BATCH = 5_000


def encrypted_tables() -> list[tuple[Table, str, dict[str, str]]]:
    """Every table with encrypted columns: (table, primary key column, {column: field})."""
    from solidarity.db import models  # noqa: F401  (registers every table)

    found = []
    for table in Base.metadata.sorted_tables:
        columns = encrypted_columns(table)
        if columns:
            key = next(iter(table.primary_key.columns)).name
            found.append((table, key, columns))
    return found


def _batches(engine: Engine, table: Table, key: str, columns: list[str]) -> Iterator[Any]:
    listed = ", ".join([key, *columns])
    query = text(f"SELECT {listed} FROM {table.name} WHERE {key} > :last ORDER BY {key} LIMIT :n")
    last: Any = None
    while True:
        with engine.begin() as conn:
            params = {"last": -1 if last is None else last, "n": BATCH}
            rows = [dict(r._mapping) for r in conn.execute(query, params)]
            if not rows:
                return
            last = rows[-1][key]
            yield conn, rows


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table.name}")).scalar_one())


def _update(conn: Any, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    targets = [c for c in rows[0] if c != key]
    assignments = ", ".join(f"{c} = :{c}" for c in targets)
    conn.execute(text(f"UPDATE {table.name} SET {assignments} WHERE {key} = :{key}"), rows)


@dataclass
class RotationReport:
    """What a rotation rewrote, per table."""

    key_id: str
    rewritten: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows rewritten over all tables."""
        return sum(self.rewritten.values())


def reencrypt(
    engine: Engine, ring: KeyRing | None = None, progress: Progress | None = None
) -> RotationReport:
    """Re-seal every value that is not under the active data key (resumable)."""
    ring = ring or key_ring()
    active = ring.active_data
    report = RotationReport(active)
    for table, key, columns in encrypted_tables():
        total = _count(engine, table)
        done = rewritten = 0
        for conn, rows in _batches(engine, table, key, list(columns)):
            stale = [
                r
                for r in rows
                if any(r[c] is not None and ring.key_of(r[c]) != active for c in columns)
            ]
            updates = [{key: r[key]} for r in stale]
            for column, field_name in columns.items():
                plain = ring.decrypt_many([r[column] for r in stale], field_name)
                for row, value in zip(updates, ring.encrypt_many(plain, field_name), strict=True):
                    row[column] = value
            _update(conn, table, key, updates)
            rewritten += len(updates)
            done += len(rows)
            if progress:
                progress(table.name, done, total)
        report.rewritten[table.name] = rewritten
    return report


def reindex(
    engine: Engine, ring: KeyRing | None = None, progress: Progress | None = None
) -> RotationReport:
    """Recompute every blind index under the active blind-index key (idempotent)."""
    ring = ring or key_ring()
    report = RotationReport(ring.active_index)
    for table, key, columns in encrypted_tables():
        if "name_index" in table.columns:
            names = [c for c in NAME_COLUMNS if c in columns]
            target = "name_index"
        elif "value_index" in table.columns:
            names, target = ["value"], "value_index"
        else:
            continue
        total = _count(engine, table)
        done = 0
        for conn, rows in _batches(engine, table, key, names):
            plain = {c: ring.decrypt_many([r[c] for r in rows], columns[c]) for c in names}
            if target == "name_index":
                indexes: list[str | None] = list(
                    ring.name_index_many(*[plain[c] for c in NAME_COLUMNS])
                )
            else:
                indexes = ring.identifier_index_many(plain["value"])
            _update(
                conn,
                table,
                key,
                [{key: r[key], target: i} for r, i in zip(rows, indexes, strict=True)],
            )
            done += len(rows)
            if progress:
                progress(table.name, done, total)
        report.rewritten[table.name] = done
    return report


def key_usage(engine: Engine) -> dict[str, dict[str, int]]:
    """How many stored values each data key seals: ``{key id: {table.column: count}}``."""
    usage: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for table, _key, columns in encrypted_tables():
            for column in columns:
                # The key id is everything before the first ':' of the stored value.
                prefix = (
                    f"split_part({column}, ':', 1)"
                    if engine.dialect.name == "postgresql"
                    else f"substr({column}, 1, instr({column}, ':') - 1)"
                )
                rows = conn.execute(
                    text(
                        f"SELECT {prefix} AS kid, COUNT(*) FROM {table.name} "
                        f"WHERE {column} IS NOT NULL GROUP BY 1"
                    )
                )
                for kid, count in rows:
                    usage.setdefault(str(kid), {})[f"{table.name}.{column}"] = int(count)
    return usage


def _file_ring() -> KeyRing:
    ring = load_key_ring()
    if ring.source == "SOLIDARITY_FIELD_KEYS":
        raise FieldKeyError(
            "the field keys come from SOLIDARITY_FIELD_KEYS: rotate them with a key file "
            "(SOLIDARITY_KEY_FILE), or edit the variable and run with --resume"
        )
    return ring


def add_data_key() -> KeyRing:
    """Add a fresh data key to the key file and make it the active one."""
    ring = _file_ring()
    kid = new_key_id("e")
    data_keys = {**ring.data_keys, kid: _fresh()}
    new = _replace(ring, data_keys=data_keys, active_data=kid)
    write_key_ring(new, key_file_path(), replace=True)
    return new


def add_index_key() -> KeyRing:
    """Add a fresh blind-index key and make it the active one (searches use both)."""
    ring = _file_ring()
    kid = new_key_id("b")
    new = _replace(ring, index_keys={**ring.index_keys, kid: _fresh()}, active_index=kid)
    write_key_ring(new, key_file_path(), replace=True)
    return new


def drop_inactive_index_keys() -> KeyRing:
    """Remove the blind-index keys other than the active one (after :func:`reindex`)."""
    ring = _file_ring()
    new = _replace(ring, index_keys={ring.active_index: ring.index_keys[ring.active_index]})
    write_key_ring(new, key_file_path(), replace=True)
    return new


def retire_data_key(engine: Engine, kid: str) -> KeyRing:
    """Remove data key ``kid`` from the key file once no stored value uses it.

    Raises:
        FieldKeyError: ``kid`` is unknown, active, or still seals values.
    """
    ring = _file_ring()
    if kid not in ring.data_keys:
        raise FieldKeyError(f"no data key {kid!r} in {ring.source}")
    if kid == ring.active_data:
        raise FieldKeyError(f"{kid!r} is the active data key: rotate first")
    used = key_usage(engine).get(kid)
    if used:
        where = ", ".join(f"{n} {c:,}" for n, c in sorted(used.items()))
        raise FieldKeyError(
            f"key {kid!r} still seals values ({where}): run `solidarity keys fields rotate "
            "--resume` first"
        )
    data_keys = {k: v for k, v in ring.data_keys.items() if k != kid}
    new = _replace(ring, data_keys=data_keys)
    write_key_ring(new, key_file_path(), replace=True)
    return new


def _fresh() -> bytes:
    import os

    return os.urandom(32)


def _replace(ring: KeyRing, **changes: Any) -> KeyRing:
    from datetime import UTC, datetime

    created = dict(ring.created)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for name in ("active_data", "active_index"):
        if name in changes:
            created.setdefault(changes[name], now)
    values = {
        "data_keys": ring.data_keys,
        "active_data": ring.active_data,
        "index_keys": ring.index_keys,
        "active_index": ring.active_index,
        **changes,
    }
    return KeyRing(
        values["data_keys"],
        values["active_data"],
        values["index_keys"],
        values["active_index"],
        source=ring.source,
        created=created,
    )
