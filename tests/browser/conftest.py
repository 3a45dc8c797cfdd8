"""A served app in Chromium: uvicorn in a thread, a job worker, a small synthetic country.

The browser suite drives Debian's Chromium (``/usr/bin/chromium``) through
Playwright; it is skipped, saying why, when either is missing. Never run
``playwright install`` (it downloads a browser): CI installs ``chromium`` with apt.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("SOLIDARITY_CHROMIUM", "/usr/bin/chromium"))


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
        import pytest_playwright  # noqa: F401
    except ImportError:
        return "the browser tests need playwright and pytest-playwright: pip install -e '.[dev]'"
    if not CHROMIUM.exists():
        return f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium"
    return None


#: Why the browser tests cannot run here (``None`` when they can).
SKIP_REASON = _skip_reason()

#: Where pages are photographed: a scratch directory, so a test run leaves the
#: checkout clean; ``make screenshots`` points it at docs/screenshots.
SCREENSHOTS = Path(
    os.environ.get("SOLIDARITY_SCREENSHOTS", Path(tempfile.gettempdir()) / "solidarity-screenshots")
)


@dataclass
class Site:
    """The served application and what the seed put in it."""

    url: str
    district: str
    community: str
    household_id: int
    accounts: dict[str, str]  # role -> username
    passwords: dict[str, str]
    #: More records of the seed: another household of the district, the household
    #: with a payment and grievances, and the grievance references by category.
    extra: dict[str, Any] = field(default_factory=dict)


# The root conftest resets settings and keys per test; the server lives for the whole
# session, so its settings must not move under it.
@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield


@pytest.fixture(autouse=True)
def _governance_settings() -> Iterator[None]:
    yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


COMPARED = ("given_name", "family_name", "birth_date", "address")


def _comparison(name: str) -> dict[str, Any]:
    """A comparison of a Splink model's settings, as far as the review page reads it."""
    levels = [{"is_null_level": True, "sql_condition": f"{name} IS NULL"}]
    levels += [
        {"label_for_charts": label, "sql_condition": label} for label in ("exact", "close", "else")
    ]
    return {"output_column_name": name, "comparison_levels": levels}


def _seed(engine: Any, directory: Path) -> dict[str, Any]:
    """A synthetic country of 150 households, demo accounts, a programme and duplicate pairs."""
    import csv
    from datetime import date

    from solidarity.db import migrate
    from solidarity.db.engine import unit_of_work
    from solidarity.governance.service import ensure_demo_users
    from solidarity.linkage.models import LinkageModel, LinkagePair, LinkageRun
    from solidarity.programs import service as programmes
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn
    from solidarity.registry import service as registry
    from solidarity.registry.intake.service import import_files
    from solidarity.registry.schemas import RegistrySearch
    from solidarity.synthetic.generator import generate

    migrate.upgrade(engine)
    country = directory / "country"
    generate(country, households=150, seed=3)
    with (
        (country / "areas.csv").open(newline="", encoding="utf-8") as handle,
        unit_of_work(engine) as session,
    ):
        registry.load_areas(session, csv.DictReader(handle), actor="seed")
    import_files(
        engine,
        [country / "households.csv", country / "persons.csv"],
        source="synthetic",
        accept_valid=True,
        actor="seed",
        report_dir=directory / "reports",
    )
    with unit_of_work(engine) as session:
        accounts = ensure_demo_users(session)
        district = next(scope for _u, _p, role, scope in accounts if role == "supervisor")
        communities = [a for a in registry.list_areas(session) if a.parent_code == district]
        found = registry.search_households(
            session, RegistrySearch(area=district, page_size=5), None
        )
        programmes.create_programme(
            session,
            ProgrammeIn(
                code="CG",
                name="Child grant",
                ministry="Ministry of Social Affairs",
                lifecycle_group="children",
                risk_covered="child poverty",
                currency="XOF",
                annual_budget=5_000_000,
            ),
            "seed",
        )
        for kind, expression, parameters in (
            ("eligibility", "children >= 1", {}),
            ("benefit", "min(children, 4) * params.per_child", {"per_child": 1500}),
        ):
            programmes.add_rule_version(
                session,
                "CG",
                RuleVersionIn(
                    kind=kind,  # type: ignore[arg-type]
                    expression=expression,
                    valid_from=date(2020, 1, 1),
                    parameters=parameters,
                ),
                "seed",
            )
        # Beneficiaries, so that the household page and the coherence figures have some.
        from solidarity.programs import eligibility

        eligibility.enrol_eligible(
            session, programmes.get_programme(session, "CG"), date.today(), "seed"
        )
        model = LinkageModel(
            kind="dedupe",
            version=1,
            link_type="dedupe_only",
            rules=[],
            settings={"comparisons": [_comparison(name) for name in COMPARED]},
            config={},
            report={},
            created_by="seed",
            updated_by="seed",
        )
        session.add(model)
        session.flush()
        run = LinkageRun(
            kind="dedupe",
            model_id=model.id,
            status="succeeded",
            thresholds={},
            created_by="seed",
            updated_by="seed",
        )
        session.add(run)
        session.flush()
        household = registry.get_household(session, found.items[0].id, None, None)
        other = registry.get_household(session, found.items[1].id, None, None)
        agreement = {
            "gamma": {"given_name": 2, "family_name": 2, "birth_date": 1, "address": 0},
            "weight": {"given_name": 4.1, "family_name": 3.2, "birth_date": 1.7, "address": -2.3},
        }
        for left, right, probability in (
            (household.members[0].id, other.members[0].id, 0.72),
            (household.members[-1].id, other.members[-1].id, 0.55),
        ):
            session.add(
                LinkagePair(
                    run_id=run.id,
                    model_id=model.id,
                    person_id_l=left,
                    person_id_r=right,
                    match_weight=3.1,
                    match_probability=probability,
                    band="review",
                    status="pending",
                    agreement=agreement,
                )
            )
        district_households = registry.search_households(
            session, RegistrySearch(area=district, page_size=50), None
        )
        extra = _payments_and_grievances(
            session, accounts, [h.id for h in district_households.items]
        )
    return {
        "extra": extra,
        "accounts": {role: username for username, _p, role, _s in accounts},
        "passwords": {username: password for username, password, _r, _s in accounts},
        "district": district,
        "community": communities[0].code,
        "household_id": found.items[0].id,
    }


def _payments_and_grievances(
    session: Any, accounts: list[tuple[str, str, str, str]], household_ids: list[int]
) -> dict[str, Any]:
    """A computed payment cycle of CG, and two grievances (one sensitive) about a paid household."""
    from datetime import date

    from sqlalchemy import select

    from solidarity.governance import service as governance
    from solidarity.grievances import service as grievances
    from solidarity.grievances.schemas import GrievanceIn
    from solidarity.programs import payments
    from solidarity.programs import service as programmes
    from solidarity.programs.models import Entitlement
    from solidarity.registry import service as registry

    programme = programmes.get_programme(session, "CG")
    today = date.today()
    # The window starts today: the synthetic households were registered today.
    cycle = payments.create_cycle(session, programme, f"{today:%Y-%m}", today, today, "seed")
    payments.compute_entitlements(session, cycle, "seed")
    paid = session.scalars(
        select(Entitlement.household_id)
        .where(Entitlement.cycle_id == cycle.id, Entitlement.amount > 0)
        .order_by(Entitlement.id)
        .limit(1)
    ).one()
    manager = next(u for u, _p, role, _s in accounts if role == "programme_manager")
    handler = governance.cli_principal(session, manager).scoped_to("grievances.manage")
    references = {
        category: grievances.lodge(
            session,
            handler,
            GrievanceIn(
                category=category, description="Seeded for the browser tests", household_id=paid
            ),
        ).reference
        for category in ("payment", "sea")
    }
    large = next(
        h for h in household_ids if len(registry.get_household(session, h, None, None).members) >= 3
    )
    return {
        "paid_household_id": paid,
        "grievances": references,
        "large_household_id": large,
        "other_household_id": next(h for h in household_ids if h != large),
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, field_key_file: Path) -> Iterator[Site]:
    """The app served on 127.0.0.1 with a worker, over a migrated, seeded SQLite database.

    Module-scoped: the environment it sets is restored before other test modules run.
    """
    import uvicorn

    from solidarity.config import get_settings
    from solidarity.db.engine import make_engine
    from solidarity.jobs.worker import Worker
    from solidarity.web.app import create_app

    directory = tmp_path_factory.mktemp("browser")
    saved = dict(os.environ)
    os.environ.update(
        {
            "SOLIDARITY_DATABASE_URL": f"sqlite:///{directory / 'solidarity.db'}",
            "SOLIDARITY_UPLOAD_DIR": str(directory / "uploads"),
            "SOLIDARITY_REPORT_DIR": str(directory / "reports"),
            "SOLIDARITY_KEY_DIR": str(directory / "keys"),
            "SOLIDARITY_KEY_FILE": str(field_key_file),
            "SOLIDARITY_COOKIE_SECURE": "false",
            "SOLIDARITY_ARGON2_TIME_COST": "1",
            "SOLIDARITY_ARGON2_MEMORY_KIB": "64",
        }
    )
    get_settings.cache_clear()
    engine = make_engine(os.environ["SOLIDARITY_DATABASE_URL"])
    seeded = _seed(engine, directory)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    worker = Worker(engine)
    working = threading.Thread(
        target=worker.run_forever,
        kwargs={"poll_interval": 0.2, "handle_signals": False},
        daemon=True,
    )
    working.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Site(url=f"http://127.0.0.1:{port}", **seeded)
    finally:
        worker.stop()
        server.should_exit = True
        serving.join(timeout=10)
        working.join(timeout=10)
        engine.dispose()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        shutil.rmtree(directory / "uploads", ignore_errors=True)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """Debian's Chromium, headless, without reaching for the network."""
    return {
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 860}, "locale": "en-GB", "accept_downloads": True}
