"""Bulk intake of households and persons.

Reading, mapping and validation run over whole columns in Polars. The default
mode is all-or-nothing: one error and nothing reaches the registry. With
``accept_valid`` the valid households are imported and the rejected rows are
written, with their errors, to files that can be corrected and re-imported.

Writing goes in batches of whole households, each batch in its own transaction
together with the import run's counters: a crash leaves whole committed batches,
and a re-run resumes because households already imported from the same source
(by their source key) are skipped. This is the one place where a service commits:
a bulk job owns its batch transactions by design (docs/decisions/0001).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import polars.selectors as cs
from sqlalchemy import Connection, Engine, Table, update

from solidarity.config import get_settings
from solidarity.db.base import utcnow
from solidarity.db.engine import session_factory
from solidarity.errors import ValidationFailed
from solidarity.governance.encryption import key_ring
from solidarity.registry.fields import (
    HOUSEHOLD_KEY,
    IDENTIFIER_PREFIX,
    PERSON_KEY,
    Catalogue,
    FieldSpec,
    catalogue,
)
from solidarity.registry.intake import repository, validation, writer
from solidarity.registry.intake.reader import (
    ERRORS_COLUMN,
    ROW,
    MappedTable,
    SourceTable,
    file_refusal,
    load_mapping,
    map_table,
    read_original,
    scan_tables,
)
from solidarity.registry.intake.schemas import ImportErrorRow, ImportOutcome
from solidarity.registry.models import Household, Identifier, ImportRun, Person
from solidarity.registry.repository import AreaRepository

Progress = Callable[[str, int, int], None]
#: Called after each committed batch with the ids of the persons it wrote.
BatchHook = Callable[[list[int]], None]
#: Called inside the transaction that records a finished import (run id, outcome), so
#: other domains can react to new households without the registry knowing them
#: (interoperability queues its "new household" notifications this way).
ImportListener = Callable[[Connection, int, ImportOutcome], None]
IMPORT_LISTENERS: list[ImportListener] = []
HOUSEHOLD_TABLE: Table = Household.__table__  # type: ignore[assignment]
PERSON_TABLE: Table = Person.__table__  # type: ignore[assignment]
IDENTIFIER_TABLE: Table = Identifier.__table__  # type: ignore[assignment]
MAX_ERRORS_RETURNED = 1_000


@dataclass
class _Input:
    households: MappedTable | None  # None: one combined file
    persons: MappedTable
    tables: list[MappedTable]


def _identify(tables: list[MappedTable], cat: Catalogue) -> _Input:
    person_names = {f.name for f in cat.person} | {PERSON_KEY}

    def is_persons(t: MappedTable) -> bool:
        return bool(person_names & set(t.columns))

    if len(tables) == 1:
        if not is_persons(tables[0]):
            raise file_refusal(tables[0].file, "no person columns found: give a persons file too")
        return _Input(None, tables[0], tables)
    if len(tables) == 2:
        persons = [t for t in tables if is_persons(t)]
        households = [t for t in tables if not is_persons(t)]
        if len(persons) == 1 and len(households) == 1:
            return _Input(households[0], persons[0], tables)
    names = ", ".join(t.file.name for t in tables)
    raise ValidationFailed(
        f"expected one combined file or a household file and a person file, got: {names}",
        [
            {
                "file": names,
                "row": None,
                "column": None,
                "value": None,
                "rule": "file",
                "message": "give one combined file, or one household file and one person file",
            }
        ],
    )


def _split_combined(table: SourceTable, household_fields: set[str]) -> SourceTable:
    """Household rows of a combined file: the first row of each household key."""
    if HOUSEHOLD_KEY not in table.frame.columns:
        return SourceTable(table.file, table.name, table.frame.head(0), table.source_columns)
    columns = [c for c in table.frame.columns if c in household_fields]
    frame = (
        table.frame.filter(pl.col(HOUSEHOLD_KEY).is_not_null())
        .group_by(HOUSEHOLD_KEY, maintain_order=True)
        .agg(
            pl.col(ROW).first(),
            *[pl.col(c).first() for c in columns],
            *[pl.col(c).n_unique().alias(f"{c}__n") for c in columns],
        )
    )
    return SourceTable(table.file, table.name, frame, table.source_columns)


def _combined_consistency(households: SourceTable) -> list[pl.LazyFrame]:
    checks = []
    frame = households.frame
    for name in [c.removesuffix("__n") for c in frame.columns if c.endswith("__n")]:
        checks.append(
            validation._error_rows(
                households,
                frame,
                pl.col(f"{name}__n") > 1,
                name,
                "household_consistency",
                "rows of the same household disagree on this household field",
            )
        )
    return checks


def _pack_extra(frame: pl.DataFrame, specs: Sequence[FieldSpec]) -> pl.DataFrame:
    extra = [s.name for s in specs if s.extra and s.name in frame.columns]
    if not extra:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("extra"))
    encoded = pl.struct(
        [pl.col(c).cast(pl.String) if frame.schema[c] == pl.Date else pl.col(c) for c in extra]
    ).struct.json_encode()
    return frame.with_columns(encoded.alias("extra")).drop(extra)


def _model_columns(model: type[Household] | type[Person]) -> set[str]:
    return set(model.__table__.columns.keys())


def import_files(
    engine: Engine,
    files: Sequence[Path],
    *,
    mapping_file: Path | None = None,
    source: str = "default",
    accept_valid: bool = False,
    actor: str = "system",
    rejects_dir: Path | None = None,
    report_dir: Path | None = None,
    progress: Progress | None = None,
    today: date | None = None,
    batch_households: int | None = None,
    on_batch: BatchHook | None = None,
    area_scope: Sequence[str] | None = None,
) -> ImportOutcome:
    """Validate and import household and person files into the registry.

    Args:
        engine: The registry database.
        files: One combined file, or a household file and a person file (CSV,
            XLSX or Parquet; an XLSX with sheets ``households`` and ``persons``).
        mapping_file: Optional YAML mapping of columns, values and date formats.
        source: Name of the sending system; with the household key it makes
            re-imports idempotent.
        accept_valid: Import valid households and write rejected rows to files,
            instead of refusing everything on the first error.
        actor: Who imports.
        rejects_dir: Where rejected rows go (default: the report directory).
        report_dir: Where the error report goes (default: settings.report_dir).
        progress: Called with (phase, done, total).
        today: The date "future" is judged against (default: today, UTC).
        batch_households: Households per committed batch.
        on_batch: Called after each batch commits with its persons' ids (the entry
            point uses it, e.g., to queue possible duplicates for review).
        area_scope: Area path prefixes the importer is responsible for; a household
            in another area is an error (``None``: national).

    Returns:
        The outcome; ``status`` is ``refused`` when nothing was written because of errors.

    Raises:
        ValidationFailed: a file cannot be read, is empty, or misses the key columns.
    """
    settings = get_settings()
    today = today or datetime.now(UTC).date()
    report_dir = report_dir or settings.report_dir
    batch_size = batch_households or settings.import_batch_households
    report = progress or (lambda _phase, _done, _total: None)
    cat = catalogue(settings.extra_fields_file)
    mapping = load_mapping(mapping_file)
    id_types = [str(t) for t in cat.lists["identifier_type"]]
    known = (
        {f.name for f in cat.household}
        | {f.name for f in cat.person}
        | {HOUSEHOLD_KEY, PERSON_KEY}
        | {IDENTIFIER_PREFIX + t for t in id_types}
    )

    report("reading", 0, len(files))
    tables: list[MappedTable] = []
    ignored: list[str] = []
    for file in files:
        for name, frame in scan_tables(Path(file)):
            table, skipped_columns = map_table(Path(file), name, frame, mapping, known)
            tables.append(table)
            ignored += [f"{Path(file).name}:{c}" for c in skipped_columns]
    data = _identify(tables, cat)
    for mapped in tables:
        if HOUSEHOLD_KEY not in mapped.columns:
            raise file_refusal(mapped.file, f"the column '{HOUSEHOLD_KEY}' is required")

    with session_factory(engine).begin() as session:
        run = ImportRun(
            source=source,
            files=[str(Path(f).name) for f in files],
            mode="accept_valid" if accept_valid else "all_or_nothing",
            created_by=actor,
            updated_by=actor,
        )
        session.add(run)
        session.flush()
        run_id = run.id
        area_ids = AreaRepository(session).codes_to_ids()
        in_scope = None
        if area_scope is not None:
            in_scope = {
                a.code
                for a in AreaRepository(session).list()
                if any(a.path.startswith(prefix) for prefix in area_scope)
            }
        done_keys = repository.existing_household_keys(session.connection(), source)

    def typed(
        table: MappedTable, specs: Sequence[FieldSpec]
    ) -> tuple[SourceTable, list[pl.LazyFrame]]:
        return validation.check_fields(
            table, specs, cat.lists, mapping.dates, today, settings.max_age_years
        )

    # Each file is read once, checked and converted on the way (the slow part of reading).
    people, checks = typed(
        data.persons, cat.person + (cat.household if data.households is None else ())
    )
    report("reading", 1, 2)
    if data.households is None:
        hh = _split_combined(people, {f.name for f in cat.household})
        checks += _combined_consistency(hh)
    else:
        hh, household_checks = typed(data.households, cat.household)
        checks += household_checks
    report("reading", 2, 2)
    households_in_file, persons_in_file = hh.frame.height, people.frame.height

    # Households already imported from this source are skipped, not checked again:
    # this is what makes a re-run after a crash resume where it stopped.
    skipped = 0
    if done_keys:
        done = pl.Series(list(done_keys), dtype=pl.String).implode()
        keep = ~pl.col(HOUSEHOLD_KEY).is_in(done) | pl.col(HOUSEHOLD_KEY).is_null()
        hh = replace(hh, frame=hh.frame.filter(keep))
        people = replace(people, frame=people.frame.filter(keep))
        skipped = households_in_file - hh.frame.height
        checks = [c.filter(keep) for c in checks]

    report("validating", 0, 1)
    checks += validation.check_households(hh, hh.frame, area_ids, in_scope)
    hh_keys = hh.frame.get_column(HOUSEHOLD_KEY).drop_nulls()
    checks += validation.check_members(
        people, people.frame, hh_keys, today, combined=data.households is None
    )
    if data.households is not None:
        checks.append(
            validation.households_without_members(
                hh, hh.frame, people.frame.get_column(HOUSEHOLD_KEY).drop_nulls()
            )
        )
    ids = validation.identifier_rows(people.frame, id_types)
    with engine.begin() as conn:
        existing = repository.active_identifiers(conn, ids, source)
    checks += validation.check_identifiers(people, ids, existing)
    errors = pl.concat(pl.collect_all(checks), how="vertical").sort("file", "row", nulls_last=False)
    report("validating", 1, 1)

    bad_keys = errors.get_column("household_key").drop_nulls().unique()
    valid_hh = hh.frame.drop(cs.ends_with("__n")).filter(
        ~pl.col(HOUSEHOLD_KEY).is_in(bad_keys.implode()) & pl.col(HOUSEHOLD_KEY).is_not_null()
    )
    rejected = hh.frame.height - valid_hh.height
    outcome = ImportOutcome(
        import_run_id=run_id,
        status="succeeded",
        households_in_file=households_in_file,
        persons_in_file=persons_in_file,
        households_skipped=skipped,
        households_rejected=rejected,
        error_count=errors.height,
        ignored_columns=ignored,
    )
    if errors.height:
        outcome.report_path = _write_report(errors, report_dir, run_id)
        outcome.errors = [
            ImportErrorRow(**row) for row in errors.head(MAX_ERRORS_RETURNED).to_dicts()
        ]
        if not accept_valid:
            outcome.status = "refused"
            outcome.households_rejected = hh.frame.height
            _finish(engine, run_id, outcome)
            return outcome
        outcome.status = "partial"
        outcome.rejects_paths = _write_rejects(
            [people] if data.households is None else [hh, people],
            errors,
            bad_keys,
            rejects_dir or report_dir,
            run_id,
        )

    valid_p = people.frame.filter(
        pl.col(HOUSEHOLD_KEY).is_in(valid_hh.get_column(HOUSEHOLD_KEY).implode())
    )
    imported_h, imported_p = _write(
        engine,
        run_id,
        valid_hh,
        valid_p,
        cat,
        id_types,
        source,
        actor,
        area_ids,
        batch_size,
        report,
        on_batch,
    )
    outcome.households_imported, outcome.persons_imported = imported_h, imported_p
    _finish(engine, run_id, outcome)
    return outcome


def _write(
    engine: Engine,
    run_id: int,
    households: pl.DataFrame,
    persons: pl.DataFrame,
    cat: Catalogue,
    id_types: list[str],
    source: str,
    actor: str,
    area_ids: dict[str, int],
    batch_size: int,
    report: Progress,
    on_batch: BatchHook | None,
) -> tuple[int, int]:
    moment = utcnow()
    dialect = engine.dialect.name
    if PERSON_KEY not in persons.columns or persons.get_column(PERSON_KEY).null_count():
        fallback = pl.format(
            "{}/{}", pl.col(HOUSEHOLD_KEY), pl.col(ROW).rank("ordinal").over(HOUSEHOLD_KEY)
        )
        persons = persons.with_columns(
            (
                pl.col(PERSON_KEY).fill_null(fallback)
                if PERSON_KEY in persons.columns
                else fallback
            ).alias(PERSON_KEY)
        )
    households = households.with_columns(
        pl.col("area_code").replace_strict(area_ids, return_dtype=pl.Int64).alias("area_id"),
        (pl.int_range(pl.len()) // batch_size).alias("_batch"),
    )
    hh_columns = _model_columns(Household)
    p_columns = _model_columns(Person)
    total = households.height
    done_h = done_p = 0
    report("writing", 0, total)
    for (batch_no,), batch in households.group_by("_batch", maintain_order=True):
        del batch_no
        with engine.begin() as conn:
            batch = batch.with_columns(writer.allocate_ids(conn, HOUSEHOLD_TABLE, batch.height))
            link = batch.select(HOUSEHOLD_KEY, pl.col("id").alias("household_id"), "area_id")
            members = persons.join(link, on=HOUSEHOLD_KEY, how="inner")
            members = members.with_columns(writer.allocate_ids(conn, PERSON_TABLE, members.height))
            hh_rows = writer.stamp(
                _pack_extra(batch, cat.household), moment, actor, dialect
            ).with_columns(
                pl.lit(source).alias("source"), pl.col(HOUSEHOLD_KEY).alias("source_key")
            )
            p_rows = writer.stamp(
                _pack_extra(members, cat.person), moment, actor, dialect
            ).with_columns(
                pl.lit(source).alias("source"),
                pl.col(PERSON_KEY).alias("source_key"),
                pl.col("birth_date_estimated").fill_null(False)
                if "birth_date_estimated" in members.columns
                else pl.lit(False).alias("birth_date_estimated"),
            )
            writer.bulk_insert(
                conn,
                HOUSEHOLD_TABLE,
                hh_rows.select([c for c in hh_rows.columns if c in hh_columns]),
            )
            writer.bulk_insert(
                conn, PERSON_TABLE, p_rows.select([c for c in p_rows.columns if c in p_columns])
            )
            ids = validation.identifier_rows(members.rename({"id": "person_id"}), id_types)
            if ids.height:
                id_rows = members.select(ROW, pl.col("id").alias("person_id")).join(
                    ids.select(ROW, "id_type", "value"), on=ROW
                )
                id_rows = writer.stamp(
                    id_rows.select(
                        "person_id",
                        "id_type",
                        "value",
                        pl.lit(False).alias("verified"),
                        pl.lit(True).alias("active"),
                    ),
                    moment,
                    actor,
                    dialect,
                ).drop("version", "status", "changed_by")
                # Key order keeps the unique index's inserts local (far fewer page misses);
                # that index is on the blind index of the (encrypted) value.
                id_rows = id_rows.with_columns(
                    pl.Series(
                        "value_index",
                        key_ring().identifier_index_many(id_rows.get_column("value").to_list()),
                        dtype=pl.String,
                    )
                )
                writer.bulk_insert(conn, IDENTIFIER_TABLE, id_rows.sort("id_type", "value_index"))
            repository.add_to_run(conn, run_id, batch.height, members.height)
        done_h += batch.height
        done_p += members.height
        report("writing", done_h, total)
        if on_batch is not None:
            on_batch(members.get_column("id").to_list())
    return done_h, done_p


def _write_report(errors: pl.DataFrame, report_dir: Path, run_id: int) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"import-{run_id}-errors.csv"
    errors.write_csv(path)
    path.with_suffix(".json").write_text(json.dumps(errors.to_dicts(), indent=1, default=str))
    return path


def _write_rejects(
    tables: list[SourceTable], errors: pl.DataFrame, bad_keys: pl.Series, out_dir: Path, run_id: int
) -> list[Path]:
    """Rejected rows as they were in each file, plus a column with their errors."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in tables:
        messages = (
            errors.filter(pl.col("file") == table.file.name)
            .group_by("row")
            .agg(
                pl.format("{}: {}", pl.col("column").fill_null(""), pl.col("message"))
                .str.join("; ")
                .alias(ERRORS_COLUMN)
            )
        )
        # Rows of refused households, and rows refused on their own (no key).
        keys = table.frame.select(ROW, pl.col(HOUSEHOLD_KEY).alias("_hk"))
        refused = keys.join(messages, left_on=ROW, right_on="row", how="left").filter(
            pl.col("_hk").is_in(bad_keys.implode()) | pl.col(ERRORS_COLUMN).is_not_null()
        )
        if refused.height == 0:
            continue
        original = read_original(table.file, table.name)
        rows = original.join(refused.drop("_hk"), on=ROW, how="inner").sort(ROW)
        stem = (
            table.file.stem if table.name == table.file.stem else f"{table.file.stem}-{table.name}"
        )
        path = out_dir / f"{stem}.rejected-{run_id}.csv"
        rows.drop(ROW).write_csv(path)
        paths.append(path)
    return paths


def _finish(engine: Engine, run_id: int, outcome: ImportOutcome) -> None:
    summary = outcome.model_dump(mode="json", exclude={"errors"})
    summary["first_errors"] = [e.model_dump() for e in outcome.errors[:100]]
    with engine.begin() as conn:
        conn.execute(
            update(ImportRun)
            .where(ImportRun.id == run_id)
            .values(
                status=outcome.status,
                households_in_file=outcome.households_in_file,
                persons_in_file=outcome.persons_in_file,
                households_skipped=outcome.households_skipped,
                households_rejected=outcome.households_rejected,
                error_count=outcome.error_count,
                report=summary,
                finished_at=utcnow(),
            )
        )
        repository.refresh_registry_statistics(conn, outcome.persons_imported)
        for listener in IMPORT_LISTENERS:
            listener(conn, run_id, outcome)
