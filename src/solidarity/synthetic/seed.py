"""Set up a system on the synthetic country: programmes, enrolments, payments, links, map.

After the registry import, :func:`seed_country` makes the synthetic country a
working system through the domains' own services:

1. the eleven programmes and their rules (``programmes.yaml``, the rule language);
2. the institutional map, with the OAP/CSP mutual exclusion and the Child Grant to
   bursary hand-over (``institutions.yaml``, coherence import);
3. bulk enrolment of the programmes the registry runs, and one payment cycle
   computed and approved (maker and checker apart) for some of them;
4. the other ministries' beneficiary lists (their current beneficiaries) linked to
   registry persons, one linkage run per list, source = programme code;
5. those lists' journey events, mapped to registry households through the links
   (never through the file's registry keys: those are ground truth).

Every step checks what is already there, so a second run changes nothing. Each
step runs in its own unit of work: a list that cannot be linked is reported and
leaves the rest in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from solidarity.db.engine import unit_of_work
from solidarity.errors import SolidarityError
from solidarity.synthetic import SyntheticError
from solidarity.synthetic.setup_files import PAID, REGISTRY_RUN

#: Journey stages the seeding loads from ``journey_events.csv``.
JOURNEY_EVENTS = ("applied", "assessed", "eligibility_decided", "enrolled", "first_paid", "exited")


@dataclass
class SeedResult:
    """What :func:`seed_country` did (empty entries: already done)."""

    programmes: list[str] = field(default_factory=list)
    institutions: dict[str, dict[str, int]] = field(default_factory=dict)
    enrolled: dict[str, int] = field(default_factory=dict)
    waitlisted: dict[str, int] = field(default_factory=dict)
    cycles: dict[str, str] = field(default_factory=dict)
    linked: dict[str, dict[str, int]] = field(default_factory=dict)
    link_problems: dict[str, str] = field(default_factory=dict)
    journey_events: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _require(country_dir: Path, name: str) -> Path:
    path = country_dir / name
    if not path.exists():
        raise SyntheticError(
            f"{path} is missing: regenerate the country (solidarity synth) to get the set-up files"
        )
    return path


def seed_country(
    engine: Engine,
    country_dir: Path,
    *,
    as_of: date | None = None,
    actor: str = "synthetic",
    approver: str | None = None,
    link_config: Any = None,
    say: Callable[[str], None] | None = None,
) -> SeedResult:
    """Create programmes, institutions, enrolments, a payment cycle, links and journeys.

    Args:
        engine: A migrated database whose registry holds the country's import.
        country_dir: The generator's output directory.
        as_of: The date of enrolment and of the payment cycle's month (default
            today: the registry holds households from their import onwards, so
            an earlier date would find nobody).
        actor: Who the records are attributed to (the maker of payment cycles).
        approver: Who approves payment cycles (default ``<actor>-checker``).
        link_config: A :class:`solidarity.linkage.config.LinkageConfig` for the lists.
        say: Called with a line of progress.

    Raises:
        SyntheticError: A set-up file is missing.
        RuleError: A programme rule does not check.
        InvalidCoherenceInput: The institutional map does not import.
    """
    from solidarity.coherence.institutions import import_file
    from solidarity.programs.eligibility import enrol_eligible
    from solidarity.programs.service import get_programme, import_programmes

    report = say or (lambda _line: None)
    as_of = as_of or date.today()
    result = SeedResult()
    programmes_file = _require(country_dir, "programmes.yaml")
    institutions_file = _require(country_dir, "institutions.yaml")
    clock = time.perf_counter()

    with unit_of_work(engine) as session:
        result.programmes = [p.code for p in import_programmes(session, programmes_file, actor)]
    report(f"{len(result.programmes)} programmes with their rules")
    with unit_of_work(engine) as session:
        summary = import_file(session, institutions_file, actor=actor)
        result.institutions = {"created": summary.created, "updated": summary.updated}
    report("institutional map imported")
    result.seconds["programmes"] = round(time.perf_counter() - clock, 2)

    clock = time.perf_counter()
    for code in REGISTRY_RUN:
        with unit_of_work(engine) as session:
            enrolment = enrol_eligible(session, get_programme(session, code), as_of, actor)
        result.enrolled[code] = enrolment.enrolled
        result.waitlisted[code] = enrolment.waitlisted
        report(f"{code}: {enrolment.enrolled:,} enrolled, {enrolment.waitlisted:,} waitlisted")
    result.seconds["enrolment"] = round(time.perf_counter() - clock, 2)

    clock = time.perf_counter()
    for code in PAID:
        result.cycles[code] = _pay_one_cycle(
            engine, code, as_of, actor, approver or f"{actor}-checker"
        )
        report(f"{code}: payment cycle {as_of:%Y-%m} {result.cycles[code]}")
    result.seconds["payments"] = round(time.perf_counter() - clock, 2)

    clock = time.perf_counter()
    outside = [c for c in result.programmes if c not in REGISTRY_RUN]
    for code in outside:
        _link_list(engine, country_dir, code, actor, link_config, result, report)
    result.seconds["linkage"] = round(time.perf_counter() - clock, 2)

    clock = time.perf_counter()
    journey_file = country_dir / "journey_events.csv"
    if journey_file.exists():
        result.journey_events = _load_journeys(engine, journey_file, outside, actor)
        loaded = sum(result.journey_events.values())
        report(f"{loaded:,} journey events of the linked lists loaded")
    result.seconds["journeys"] = round(time.perf_counter() - clock, 2)
    return result


def _pay_one_cycle(engine: Engine, code: str, as_of: date, maker: str, checker: str) -> str:
    """Open, compute and approve the cycle of the as-of month (once), paid on the as-of day."""
    from solidarity.programs.payments import approve_cycle, compute_entitlements, create_cycle
    from solidarity.programs.repository import ProgrammeRepository
    from solidarity.programs.service import get_programme

    period = f"{as_of:%Y-%m}"
    with unit_of_work(engine) as session:
        programme = get_programme(session, code)
        cycle = ProgrammeRepository(session).cycle_by_period(programme.id, period)
        if cycle is None:
            # The window opens on the as-of day: the registry holds households from
            # their import onwards, so an earlier window start would pay nobody.
            cycle = create_cycle(session, programme, period, as_of, as_of, maker)
        if cycle.status in ("draft", "computed") and cycle.computed_by in (None, maker):
            compute_entitlements(session, cycle, maker)
        if cycle.status == "computed":
            approve_cycle(session, cycle, checker)
        return cycle.status


def _link_list(
    engine: Engine,
    country_dir: Path,
    code: str,
    actor: str,
    config: Any,
    result: SeedResult,
    report: Callable[[str], None],
) -> None:
    """Link the current beneficiaries of one outside list, unless already linked."""
    from solidarity.linkage import service as linkage

    with unit_of_work(engine) as session:
        linked = linkage.linked_persons(session, bands=("match", "review", "non_match"))
    if linked.filter(pl.col("source") == code).height:
        return
    listing = country_dir / f"beneficiaries_{code}.csv"
    mapping_file = country_dir / "mappings" / f"{code}.yaml"
    if not listing.exists() or not mapping_file.exists():
        result.link_problems[code] = "list or mapping file missing"
        return
    try:
        frame = linkage.read_list(listing)
        if "exit_date" in frame.columns:
            frame = frame.filter(pl.col("exit_date").is_null() | (pl.col("exit_date") == ""))
        mapping = linkage.load_mapping(mapping_file)
        # A small list may lack a column altogether (no phones at all): leave it out.
        filled = {
            name: column
            for name, column in mapping.fields.items()
            if column in frame.columns
            and frame[column].str.strip_chars().replace("", None).null_count() < frame.height
        }
        mapping = linkage.ListMapping(id_column=mapping.id_column, fields=filled)
        with unit_of_work(engine) as session:
            outcome = linkage.link_list(session, frame, mapping, code, config, actor=actor)
    except SolidarityError as exc:
        result.link_problems[code] = str(exc)
        report(f"{code}: list not linked ({exc})")
        return
    result.linked[code] = {
        "records": outcome.records,
        "matched": outcome.matched,
        "review": outcome.review,
        "unmatched": outcome.unmatched,
    }
    report(
        f"{code}: {outcome.records:,} listed, {outcome.matched:,} matched, "
        f"{outcome.review:,} to review, {outcome.unmatched:,} unmatched"
    )


def _load_journeys(engine: Engine, path: Path, codes: list[str], actor: str) -> dict[str, int]:
    """Journey events of linked lists, mapped to households through their links."""
    from solidarity.linkage import service as linkage
    from solidarity.programs.models import JourneyEvent
    from solidarity.programs.repository import insert_frame
    from solidarity.programs.service import get_programme
    from solidarity.registry.bulk import read_state

    events = pl.read_csv(
        path,
        columns=["programme_code", "beneficiary_id", "event", "date", "reason"],
        schema_overrides={"date": pl.Date, "reason": pl.String},
    ).filter(pl.col("programme_code").is_in(codes) & pl.col("event").is_in(JOURNEY_EVENTS))
    loaded: dict[str, int] = {}
    with unit_of_work(engine) as session:
        links = linkage.linked_persons(session, bands=("match",))
        _, persons = read_state(session.connection(), (), (), None)
        people = persons.select(pl.col("person_id").cast(pl.Int64), "household_id")
        for code in codes:
            programme = get_programme(session, code)
            done = session.scalar(
                select(func.count())
                .select_from(JourneyEvent)
                .where(JourneyEvent.programme_id == programme.id, JourneyEvent.event == "applied")
            )
            if done:
                continue
            mapped = (
                events.filter(pl.col("programme_code") == code)
                .join(
                    links.filter(pl.col("source") == code).select(
                        pl.col("source_record_id").alias("beneficiary_id"),
                        pl.col("person_id").cast(pl.Int64),
                    ),
                    on="beneficiary_id",
                    how="inner",
                )
                .join(people, on="person_id", how="inner")
            )
            rows = mapped.select(
                pl.lit(programme.id).alias("programme_id"),
                pl.col("household_id").cast(pl.Int64),
                "person_id",
                "event",
                pl.col("date").alias("event_date"),
                "reason",
                pl.lit(actor).alias("created_by"),
            )
            if rows.height:
                insert_frame(session, JourneyEvent, rows, with_ids=True)
            loaded[code] = rows.height
        session.flush()
    return loaded
