"""``solidarity serve``, ``worker`` and ``demo``: run the system.

Heavy modules (uvicorn, the web app, the synthetic generator, the intake) are
imported inside the commands so that ``solidarity --help`` stays fast.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from sqlalchemy import Engine

if TYPE_CHECKING:
    from solidarity.synthetic.seed import SeedResult

console = Console()

#: Idle keep-alive connections are closed after this long: longer than clients' and
#: reverse proxies' own idle limits (httpx 5 s, nginx 60 s), so they close first. With
#: uvicorn's 5 s both ends closed at once and a request sent on a closing connection
#: failed at the client (3 of 4,758 in the 50-user load test).
KEEP_ALIVE_SECONDS = 75


def _configure_logging() -> None:
    from solidarity.config import get_settings
    from solidarity.observability.logs import configure_json_logging

    configure_json_logging(getattr(logging, get_settings().log_level, logging.INFO))


def _checked_configuration() -> None:
    """Refuse to start on bad settings: every bad one on its own line, exit code 2."""
    from solidarity.config import ConfigurationError, validate_configuration

    try:
        validate_configuration()
    except ConfigurationError as exc:
        err = Console(stderr=True)
        err.print(f"[bold red]Solidarity cannot start:[/] {len(exc.problems)} bad setting(s)")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
    reload: bool = typer.Option(False, help="Restart when the code changes (development)"),
    workers: int = typer.Option(
        1,
        min=1,
        help="Server processes (one per core on PostgreSQL; rate limits and admission "
        "are counted per process, see docs/operations.md)",
    ),
) -> None:
    """Serve the web pages and the API (run `solidarity worker` beside it for jobs)."""
    import uvicorn

    _checked_configuration()
    console.print(f"Solidarity on http://{host}:{port}/ (API reference: /docs)")
    _configure_logging()
    uvicorn.run(
        "solidarity.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_config=None,  # keep the JSON logging configured above
        access_log=False,  # our middleware writes one structured line per request
    )


def worker(
    once: bool = typer.Option(False, "--once", help="Run at most one job, then exit"),
    poll: float = typer.Option(1.0, min=0.05, help="Seconds between polls when idle"),
) -> None:
    """Run queued background jobs (imports...) and the scheduled ones until SIGTERM or Ctrl-C.

    Scheduled: grievance escalation every SOLIDARITY_JOB_ESCALATION_MINUTES (60; 0: off).
    """
    from solidarity.config import get_settings
    from solidarity.db.engine import get_engine
    from solidarity.governance import audit
    from solidarity.jobs.schedule import default_schedules
    from solidarity.jobs.worker import Worker

    _checked_configuration()
    _configure_logging()
    engine = get_engine()
    runner = Worker(engine, schedules=default_schedules())
    if once:
        ran = runner.run_once()
        audit.chain(engine)
        console.print("ran one job" if ran else "no job was queued")
        return
    console.print(f"worker {runner.worker_id} polling every {poll:g}s (Ctrl-C to stop)")
    # The worker chains the audit trail too: jobs write entries with no server running.
    sequencer = audit.Sequencer(engine, get_settings().audit_chain_seconds)
    sequencer.start()
    try:
        runner.run_forever(poll)
    finally:
        sequencer.stop()
    console.print("worker stopped")


@dataclass
class DemoSetup:
    """What :func:`prepare_demo` found or did."""

    country_dir: Path
    generated: bool
    areas_created: int
    imported: bool
    households: int
    persons: int
    areas: int
    #: Demo accounts: (username, password, role, scope).
    accounts: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: What seeding programmes, links and the institutional map did (None: not run).
    seeded: SeedResult | None = None


def _demo_field_keys() -> None:
    """Give the demo its own field key ring (in its key directory) on its first run."""
    from solidarity.governance.encryption import ensure_key_ring, reset_key_ring

    created = ensure_key_ring()
    if created is not None:
        console.print(f"field encryption keys created in {created}")
    reset_key_ring()


def prepare_demo(
    engine: Engine,
    directory: Path,
    *,
    households: int,
    seed: int = 1,
    say: Callable[[str], None] = console.print,
    seed_programmes: bool = True,
) -> DemoSetup:
    """Migrate, generate the synthetic country if missing, load its areas, import it, seed it.

    Every step is skipped or idempotent when already done, so a second run starts
    at once. The import uses ``accept_valid``: households the synthetic country
    deliberately got wrong are reported, the others imported. Seeding
    (:func:`solidarity.synthetic.seed.seed_country`) then creates the programmes,
    enrolments, a payment cycle, the linked outside lists and the institutional map.
    """
    from solidarity.db import migrate
    from solidarity.db.engine import unit_of_work
    from solidarity.registry.intake.service import import_files
    from solidarity.registry.service import counts as registry_counts
    from solidarity.registry.service import load_areas

    directory.mkdir(parents=True, exist_ok=True)
    say("migrating the database")
    migrate.upgrade(engine)

    country = directory / "country"
    generated = False
    # A country generated before the set-up files existed is generated again.
    if not (country / "households.csv").exists() or not (country / "programmes.yaml").exists():
        from solidarity.synthetic.generator import generate

        say(f"generating a synthetic country of {households:,} households (seed {seed})")
        generate(
            country, households=households, seed=seed, progress=lambda stage: say(f"  {stage}")
        )
        generated = True

    areas_file = country / "areas.csv"
    with (
        areas_file.open(newline="", encoding="utf-8-sig") as handle,
        unit_of_work(engine) as session,
    ):
        areas_created = load_areas(session, csv.DictReader(handle), actor="demo")
    say(f"{areas_created} area(s) created")

    with unit_of_work(engine) as session:
        before = registry_counts(session, None)
    imported = False
    if before["households"] == 0:
        say("importing households and persons")
        outcome = import_files(
            engine,
            [country / "households.csv", country / "persons.csv"],
            source="synthetic",
            accept_valid=True,
            actor="demo",
            report_dir=directory / "reports",
            progress=_progress_printer(say),
        )
        imported = True
        say(
            f"import {outcome.status}: {outcome.households_imported:,} households, "
            f"{outcome.persons_imported:,} persons, {outcome.households_rejected:,} "
            f"household(s) rejected ({outcome.error_count:,} error(s)"
            + (f", report {outcome.report_path}" if outcome.report_path else "")
            + ")"
        )
    else:
        say(f"registry already holds {before['households']:,} households: import skipped")
    with unit_of_work(engine) as session:
        after = registry_counts(session, None)
    seeded = None
    if seed_programmes and after["households"]:
        from solidarity.synthetic.seed import seed_country

        say("setting up programmes, payments, linked lists and the institutional map")
        seeded = seed_country(engine, country, actor="demo", say=lambda line: say(f"  {line}"))
    with unit_of_work(engine) as session:
        from solidarity.governance.service import ensure_demo_users

        accounts = ensure_demo_users(session)
    return DemoSetup(
        country_dir=country,
        generated=generated,
        areas_created=areas_created,
        imported=imported,
        households=after["households"],
        persons=after["persons"],
        areas=after["areas"],
        accounts=accounts,
        seeded=seeded,
    )


def _progress_printer(say: Callable[[str], None]) -> Callable[[str, int, int], None]:
    last: dict[str, int] = {}

    def report(stage: str, done: int, total: int) -> None:
        # One line per stage per tenth, so a long import shows it is alive.
        tenth = (10 * done // total) if total else 10
        if last.get(stage) != tenth:
            last[stage] = tenth
            say(f"  {stage}: {done:,}/{total:,}")

    return report


def _print_accounts(accounts: list[tuple[str, str, str, str]]) -> None:
    from rich.table import Table

    table = Table("username", "password", "role", "scope", title="Demo accounts (sign in at /)")
    for username, password, role, scope in accounts:
        table.add_row(username, password, role, scope)
    console.print(table)
    console.print("These passwords are for the demo only: never deploy them.\n")


def demo(
    households: int = typer.Option(10_000, min=1, help="Households in the synthetic country"),
    directory: Path = typer.Option(
        Path("var/demo"), "--dir", help="Where the demo keeps its files"
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
    seed: int = typer.Option(1, help="Seed of the synthetic country"),
) -> None:
    """Generate and import a synthetic country, then serve it with a worker."""
    directory = directory.resolve()
    os.environ.setdefault("SOLIDARITY_DATABASE_URL", f"sqlite:///{directory / 'solidarity.db'}")
    os.environ.setdefault("SOLIDARITY_UPLOAD_DIR", str(directory / "uploads"))
    os.environ.setdefault("SOLIDARITY_REPORT_DIR", str(directory / "reports"))
    os.environ.setdefault("SOLIDARITY_KEY_DIR", str(directory / "keys"))
    # The demo serves plain HTTP: a Secure cookie would never come back.
    os.environ.setdefault("SOLIDARITY_COOKIE_SECURE", "false")

    import uvicorn

    from solidarity.config import get_settings
    from solidarity.db.engine import get_engine
    from solidarity.jobs.worker import Worker
    from solidarity.web.app import create_app

    get_settings.cache_clear()
    _demo_field_keys()
    engine = get_engine()
    setup = prepare_demo(engine, directory, households=households, seed=seed)
    console.print(
        f"registry: {setup.households:,} households, {setup.persons:,} persons, "
        f"{setup.areas:,} areas"
    )

    from solidarity.jobs.schedule import default_schedules

    _configure_logging()
    runner = Worker(engine, schedules=default_schedules())
    thread = threading.Thread(
        target=runner.run_forever, kwargs={"handle_signals": False}, daemon=True
    )
    thread.start()
    console.print(
        f"\n[bold]Open http://{host}:{port}/[/] (API reference: http://{host}:{port}/docs)"
    )
    _print_accounts(setup.accounts)
    try:
        uvicorn.run(create_app(engine), host=host, port=port, timeout_keep_alive=KEEP_ALIVE_SECONDS)
    finally:
        runner.stop()
        thread.join(timeout=30)
