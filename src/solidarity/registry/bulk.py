"""Bulk, column-wise reads of registry state for population-wide work.

Programmes, coherence diagnostics and exports read households and persons "as
of" a date through here, into Polars frames, never object by object. Every read
can be limited to an area scope (materialised path prefixes), so the callers'
permissions hold for aggregates too.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from contextlib import closing
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    Float,
    Integer,
    Select,
    SmallInteger,
    String,
    and_,
    or_,
    select,
    type_coerce,
    union_all,
)

from solidarity.analytics.frames import iter_raw_frames, read_frame, read_raw_frame
from solidarity.db.encrypted import EncryptedText
from solidarity.governance.encryption import key_ring
from solidarity.registry.models import Household, HouseholdHistory, Person, PersonHistory
from solidarity.registry.repository import in_scope


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` (UTC): states valid before it are "as of" that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _state(current: Any, past: Any, key: str, columns: Sequence[str], as_of: date | None) -> Any:
    cur = select(current.id.label(key), *[getattr(current, c) for c in columns])
    if as_of is None:
        return cur
    moment = end_of_day(as_of)
    cur = cur.where(current.valid_from < moment)
    old = select(getattr(past, key), *[getattr(past, c) for c in columns]).where(
        past.valid_from < moment, past.valid_to >= moment
    )
    return union_all(cur, old).subquery().select()


def _typed_nulls(frame: pl.DataFrame, model: Any) -> pl.DataFrame:
    """Give all-null columns the type of their table column (an empty read has none)."""
    kinds = {
        Integer: pl.Int64,
        SmallInteger: pl.Int64,
        Float: pl.Float64,
        Boolean: pl.Boolean,
        Date: pl.Date,
    }
    casts = []
    for name, dtype in frame.schema.items():
        if dtype in (pl.Null, pl.String) and name in model.__table__.columns:
            column_type = type(model.__table__.columns[name].type)
            target = kinds.get(column_type)
            if target is not None and (
                dtype == pl.Null or frame[name].null_count() == frame.height
            ):
                casts.append(pl.col(name).cast(pl.Null).cast(target))
    return frame.with_columns(casts) if casts else frame


def _driver_types(frame: pl.DataFrame, model: Any) -> pl.DataFrame:
    """Type the values a driver returns raw: dates as text and booleans as 0/1 (SQLite)."""
    casts = []
    for name, dtype in frame.schema.items():
        column = model.__table__.columns.get(name)
        if column is None:
            continue
        if isinstance(column.type, Date) and dtype == pl.String:
            casts.append(pl.col(name).str.slice(0, 10).str.to_date())
        elif isinstance(column.type, Boolean) and dtype.is_integer():
            casts.append(pl.col(name).cast(pl.Boolean))
    return frame.with_columns(casts) if casts else frame


_PLAIN = (Integer, SmallInteger, Float, Boolean, Date, String)


def _sealed(model: Any, columns: Iterable[str]) -> dict[str, str]:
    """The encrypted columns among ``columns``, with the field name they are sealed under."""
    table = model.__table__.columns
    return {
        c: table[c].type.field
        for c in columns
        if c in table and isinstance(table[c].type, EncryptedText)
    }


def open_sealed(frame: pl.DataFrame, model: Any) -> pl.DataFrame:
    """``frame`` with its encrypted columns of ``model`` decrypted, a column at a time."""
    sealed = _sealed(model, frame.columns)
    if not sealed:
        return frame
    ring = key_ring()
    return frame.with_columns(
        ring.decrypt_series(frame[c], field).alias(c) for c, field in sealed.items()
    )


def _read(
    conn: Connection, query: Any, model: Any, columns: Sequence[str], *, opened: bool = True
) -> pl.DataFrame:
    """Read ``query``; scalar columns straight from the driver, typed here.

    Columns the driver cannot give as plain values (JSON, timestamps) go through
    SQLAlchemy's result processing instead, which is several times slower.
    Encrypted columns are decrypted unless ``opened`` is false (then they come
    as stored, for :func:`open_sealed` to open later, e.g. a slice at a time).
    """
    table = model.__table__.columns
    sealed = _sealed(model, columns)
    if all(isinstance(table[c].type, _PLAIN) or c in sealed for c in columns if c in table):
        frame = _driver_types(_typed_nulls(read_raw_frame(conn, query), model), model)
        return open_sealed(frame, model) if opened else frame
    return _typed_nulls(read_frame(conn, query), model)


def _dates(frame: pl.DataFrame, names: Iterable[str]) -> pl.DataFrame:
    casts = [
        pl.col(n).str.slice(0, 10).str.to_date()
        for n in names
        if n in frame.columns and frame.schema[n] == pl.String
    ]
    return frame.with_columns(casts) if casts else frame


def _booleans(frame: pl.DataFrame, names: Iterable[str]) -> pl.DataFrame:
    casts = [
        pl.col(n).cast(pl.Boolean)
        for n in names
        if n in frame.columns and frame.schema[n] in (pl.Int64, pl.Int32, pl.Int8)
    ]
    return frame.with_columns(casts) if casts else frame


HOUSEHOLD_BOOLEANS = (
    "electricity",
    "asset_radio",
    "asset_television",
    "asset_refrigerator",
    "asset_bicycle",
    "asset_motorcycle",
    "asset_mobile_phone",
)
PERSON_BOOLEANS = ("birth_date_estimated", "school_enrolled", "pregnant", "chronic_illness")


def read_state(
    conn: Connection,
    household_columns: Sequence[str],
    person_columns: Sequence[str],
    as_of: date | None,
    household_ids: Sequence[int] | None = None,
    scope_paths: Sequence[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Active households and their persons as of a date, only the columns asked for.

    ``scope_paths`` keeps households (and their persons) in those area subtrees;
    ``None`` means national.

    Returns:
        ``(households, persons)``; households carry ``household_id``, ``area_id`` and
        the columns; persons carry ``person_id``, ``household_id``, ``status`` and the columns.
    """
    hh_cols = ["area_id", "status", *[c for c in household_columns if c not in ("area_id",)]]
    hh_cols = list(dict.fromkeys(hh_cols))
    p_cols = list(dict.fromkeys(["household_id", "status", *person_columns]))
    if scope_paths is not None and "area_id" not in p_cols:
        p_cols.append("area_id")
    hq = _state(Household, HouseholdHistory, "household_id", hh_cols, as_of)
    pq = _state(Person, PersonHistory, "person_id", p_cols, as_of)
    if household_ids is not None:
        hsub = hq.subquery()
        hq = select(hsub).where(hsub.c.household_id.in_(household_ids))
        sub = pq.subquery()
        pq = select(sub).where(sub.c.household_id.in_(household_ids))
    if scope_paths is not None:
        hsub = hq.subquery()
        hq = select(hsub).where(in_scope(hsub.c.area_id, scope_paths))
        sub = pq.subquery()
        pq = select(sub).where(in_scope(sub.c.area_id, scope_paths))
    households = _read(conn, hq, Household, hh_cols)
    households = households.filter(pl.col("status") == "active").drop("status")
    persons = _read(conn, pq, Person, p_cols)
    households = _booleans(_dates(households, ["registration_date"]), HOUSEHOLD_BOOLEANS)
    persons = _booleans(_dates(persons, ["birth_date"]), PERSON_BOOLEANS)
    return households.sort("household_id"), persons


def iter_with_heads(
    conn: Connection,
    rows: Select[*tuple[Any, ...]],
    key: str,
    person_columns: Sequence[str],
    batch: int,
    schema: dict[str, Any] | None = None,
) -> Generator[pl.DataFrame]:
    """``rows`` with the current active head of each row's household, in frames.

    Payrolls need a payee for each row of a selection that can be a million
    long (a cycle's entitlements): the database joins the heads and the result
    is streamed, so a caller writes out each frame while the rest is still read.

    Args:
        rows: A select with a unique ``key`` column and ``household_id``.
        key: The name of the unique column.
        person_columns: The head's columns wanted (``Person`` attributes).
        batch: At most this many rows per frame.
        schema: Types for ``rows``' columns the driver may give loosely.

    Yields:
        Frames of ``rows`` in household order (then ``key``), each row once,
        with the head's columns: those of the first head (lowest person id)
        when a household has several, nulls when it has none. Encrypted columns
        come as stored (see :func:`open_sealed`). A background thread reads
        ahead on ``conn``: do not use it until the generator is exhausted or
        closed (``contextlib.closing``).
    """
    sub = rows.subquery()
    head = and_(
        Person.household_id == sub.c.household_id,
        Person.relationship == "head",
        or_(Person.status.is_(None), Person.status == "active"),
    )
    sealed = _sealed(Person, person_columns)
    wanted = [
        type_coerce(getattr(Person, c), String).label(c) if c in sealed else getattr(Person, c)
        for c in person_columns
    ]
    query = (
        select(sub, *wanted)
        .select_from(sub.outerjoin(Person, head))
        .order_by(sub.c.household_id, sub.c[key], Person.id)
    )
    last = None
    with closing(iter_raw_frames(conn, query, batch, schema, ahead=1)) as frames:
        for frame in frames:
            # Rows come ordered by key, so a key's extra heads are next to it (or
            # at the start of the next frame): keep its first row only.
            if last is not None:
                frame = frame.filter(pl.col(key) != last)
            frame = _typed_nulls(frame.unique(key, keep="first", maintain_order=True), Person)
            if frame.height:
                last = frame[key][-1]
                yield frame
