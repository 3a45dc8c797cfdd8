"""Bounded load test of ``solidarity serve`` on PostgreSQL, and a soak mode with memory over time.

    .venv/bin/python benchmarks/load.py [--households 250000] [--users 50] [--duration 120]
                                        [--think 0.5] [--server-workers N]
                                        [--soak --duration 1800 --sample-every 60]
                                        [--database-url URL] [--workdir DIR] [--build-only]

The first run builds the database once (kept for later runs): a PostgreSQL
database ``solidarity_load`` on the local server (or ``--database-url``) holding
the synthetic country of ``--households`` households (250,000 households give
about 1,020,000 persons), imported and seeded exactly as ``make demo`` does
(:func:`solidarity.cli.serve.prepare_demo`), plus two API clients: a national
data steward (registry reads and change requests) and a DCI partner with a
data-sharing agreement. Their secrets and a sample of household ids, names and
national ids are kept in ``--workdir``.

Each run starts ``solidarity serve`` on 127.0.0.1 in a child process (one
server process per core unless ``--server-workers`` says otherwise) and runs
``--users`` simulated users (asyncio + httpx), each in a loop of: pick a
request kind (weights below), send it, wait an exponentially distributed think
time of mean ``--think`` seconds (users start staggered over one think
time). The run stops by itself after ``--duration``
seconds, stops the server and prints JSON: throughput, error rate and
p50/p95/p99 latency per request kind. With ``--soak`` the server's resident
memory (its process and children: psutil if installed, else /proc) is sampled
every ``--sample-every`` seconds and printed as a series.

Request kinds (weights): household searches (``GET /api/v1/households``, 20 a
page) ``search_by_identifier`` (10) by national id, ``search_by_area_age`` (10)
by district and an age band of members, ``search_by_name`` (10) by a family
name (a substring match over given, family and other names); ``household_read``
(35) one household with its members; ``change_request`` (10) an
``update_fields`` change request filed (validated and stored pending, never
applied); ``dci_search`` (25) DCI sync search by national id (bearer token,
agreement check, transaction log, audit entry, signed
response). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

PG_ADMIN = os.environ.get(
    "SOLIDARITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
WEIGHTS = {
    "search_by_identifier": 10,
    "search_by_area_age": 10,
    "search_by_name": 10,
    "household_read": 35,
    "change_request": 10,
    "dci_search": 25,
}
READS = tuple(kind for kind in WEIGHTS if kind != "change_request")
SAMPLE = 20_000


def ensure_database(url: str | None) -> str:
    """The load database URL; ``solidarity_load`` on the local server is created if absent."""
    if url:
        return url
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = 'solidarity_load'"))
        if not exists:
            conn.execute(text('CREATE DATABASE "solidarity_load"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/solidarity_load"


def build(url: str, workdir: Path, households: int, *, seed: bool) -> dict[str, Any]:
    """Import and seed the synthetic country once; create the clients; sample request inputs."""
    from sqlalchemy import select, text

    from solidarity.cli.serve import prepare_demo
    from solidarity.db.engine import make_engine, unit_of_work
    from solidarity.governance.agreements import create_agency, create_agreement
    from solidarity.governance.repository import UserRepository
    from solidarity.governance.schemas import AgencyIn, AgreementIn, GrantIn
    from solidarity.governance.service import create_client

    started = time.perf_counter()
    engine = make_engine(url)
    prepare_demo(
        engine,
        workdir,
        households=households,
        say=lambda line: print(line, flush=True),
        seed_programmes=seed,
    )
    secrets_file = workdir / "secrets.json"
    secrets: dict[str, str] = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    with unit_of_work(engine) as session:
        users = UserRepository(session)
        # A machine client gets registry data only under an agreement of its agency
        # (the ministry running the registry here): every field, record and operation.
        from solidarity.governance.models import Agency

        if session.scalar(select(Agency.code).where(Agency.code == "LOADMIN")) is None:
            create_agency(
                session,
                AgencyIn(code="LOADMIN", name="Load test: registry ministry"),
                actor="bench",
            )
            create_agreement(
                session,
                AgreementIn(
                    code="LOADMIN-1",
                    agency_code="LOADMIN",
                    purposes=["registry.administration"],
                    fields=["*"],
                    valid_from=date(2020, 1, 1),
                ),
                actor="bench",
            )
        steward = users.by_username("load-steward")
        if steward is None:
            _user, secrets["load-steward"] = create_client(
                session,
                client_id="load-steward",
                display_name="Load test: data steward",
                actor="bench",
                grants=[GrantIn(role="data_steward")],
                agency_code="LOADMIN",
            )
        elif steward.agency_code is None:  # built before agreements applied to clients
            steward.agency_code = "LOADMIN"
        if users.by_username("load-partner") is None:
            create_agency(session, AgencyIn(code="LOAD", name="Load test agency"), actor="bench")
            create_agreement(
                session,
                AgreementIn(
                    code="LOAD-1",
                    agency_code="LOAD",
                    purposes=["registry.search"],
                    fields=["given_name", "family_name", "sex", "birth_date", "identifiers"],
                    valid_from=date(2020, 1, 1),
                ),
                actor="bench",
            )
            _user, secrets["load-partner"] = create_client(
                session,
                client_id="load-partner",
                display_name="Load test: DCI partner",
                actor="bench",
                grants=[GrantIn(role="partner")],
                agency_code="LOAD",
            )
    secrets_file.write_text(json.dumps(secrets))
    from solidarity.registry.models import Area, Household, Identifier, Person

    with unit_of_work(engine) as session:
        persons = session.scalar(text("SELECT count(*) FROM person")) or 0
        hh = session.execute(
            select(Household.id)
            .where(Household.status == "active")
            .order_by(text("random()"))
            .limit(SAMPLE)
        ).scalars()
        heads = session.execute(
            select(Person.id, Person.household_id, Person.family_name)
            .where(Person.relationship == "head", Person.status == "active")
            .order_by(text("random()"))
            .limit(SAMPLE)
        ).all()
        nids = session.execute(
            select(Identifier.value)
            .where(Identifier.id_type == "national_id", Identifier.active.is_(True))
            .order_by(text("random()"))
            .limit(SAMPLE)
        ).scalars()
        areas = session.execute(select(Area.code).where(Area.level == 1)).scalars()
        sample = {
            "persons": persons,
            "households": list(hh),
            "heads": [[pid, hid, name] for pid, hid, name in heads],
            "national_ids": list(nids),
            "districts": list(areas),
        }
    (workdir / "sample.json").write_text(json.dumps(sample))
    engine.dispose()
    return {"persons": persons, "build_seconds": round(time.perf_counter() - started, 1)}


def _token(base: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{base}/oauth2/client/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=120,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _dci_body(national_id: str) -> dict[str, Any]:
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "header": {
            "version": "1.0.0",
            "message_id": uuid.uuid4().hex,
            "message_ts": stamp,
            "action": "search",
            "sender_id": "load-partner",
            "total_count": 1,
        },
        "message": {
            "transaction_id": uuid.uuid4().hex[:20],
            "search_request": [
                {
                    "reference_id": "r1",
                    "timestamp": stamp,
                    "search_criteria": {
                        "query_type": "idtype-value",
                        "query": {"type": "UIN", "value": national_id},
                    },
                }
            ],
        },
    }


class Recorder:
    """Latencies and errors per request kind."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {kind: [] for kind in WEIGHTS}
        self.errors: dict[str, int] = dict.fromkeys(WEIGHTS, 0)
        self.error_samples: list[str] = []

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        self.latencies[kind].append(seconds)
        if error is not None:
            self.errors[kind] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{kind}: {error}")


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return round(ordered[index] * 1000, 1)


def _summary(values: list[float], errors: int, wall: float) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "requests": len(ordered),
        "errors": errors,
        "throughput_rps": round(len(ordered) / wall, 1),
        "p50_ms": _percentile(ordered, 0.50),
        "p95_ms": _percentile(ordered, 0.95),
        "p99_ms": _percentile(ordered, 0.99),
        "max_ms": round(ordered[-1] * 1000, 1) if ordered else 0.0,
    }


async def _user(
    http: httpx.AsyncClient,
    sample: dict[str, Any],
    auth: dict[str, dict[str, str]],
    recorder: Recorder,
    deadline: float,
    think: float,
    rng: random.Random,
) -> None:
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    # Users start staggered over one think time, as sessions do: started together,
    # all of them sent their first request at the same instant of every run.
    if think > 0:
        await asyncio.sleep(rng.uniform(0, think))
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        start = time.perf_counter()
        error: str | None = None
        try:
            if kind.startswith("search_"):
                if kind == "search_by_identifier":
                    params: dict[str, Any] = {
                        "id_type": "national_id",
                        "id_value": rng.choice(sample["national_ids"]),
                    }
                elif kind == "search_by_name":
                    params = {"name": rng.choice(sample["heads"])[2]}
                else:
                    params = {
                        "area": rng.choice(sample["districts"]),
                        "min_age": rng.randrange(0, 60),
                        "max_age": rng.randrange(60, 100),
                    }
                response = await http.get(
                    "/api/v1/households",
                    params={**params, "page_size": 20},
                    headers=auth["steward"],
                )
                ok = response.status_code == 200
            elif kind == "household_read":
                household = rng.choice(sample["households"])
                response = await http.get(
                    f"/api/v1/households/{household}", headers=auth["steward"]
                )
                ok = response.status_code == 200
            elif kind == "change_request":
                _person, household, _name = rng.choice(sample["heads"])
                body = {
                    "kind": "update_fields",
                    "household_id": household,
                    "payload": {"household": {"electricity": rng.random() < 0.5}},
                    "reason": "load test: home visit",
                }
                # An officer files a change on the household as read: its ETag goes
                # back as If-Match (the read is part of this request's time).
                read = await http.get(f"/api/v1/households/{household}", headers=auth["steward"])
                response = await http.post(
                    "/api/v1/change-requests",
                    json=body,
                    headers={**auth["steward"], "If-Match": read.headers.get("ETag", "")},
                )
                ok = response.status_code == 201
            else:
                response = await http.post(
                    "/dci/social/registry/sync/search",
                    json=_dci_body(rng.choice(sample["national_ids"])),
                    headers=auth["partner"],
                )
                ok = response.status_code == 200
            if not ok:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        recorder.record(kind, time.perf_counter() - start, error)
        if think > 0:
            await asyncio.sleep(rng.expovariate(1 / think))


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB."""
    try:
        import psutil

        process = psutil.Process(pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            total += child.memory_info().rss
        return round(total / 1024 / 1024, 1)
    except ImportError:
        pids = [pid]
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        kib = 0
        for one in pids:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib += int(line.split()[1])
        return round(kib / 1024, 1)


async def _sample_memory(
    pid: int, every: float, deadline: float, began: float, series: list[dict[str, float]]
) -> None:
    while True:
        series.append({"seconds": round(time.monotonic() - began), "rss_mb": _rss_mb(pid)})
        if time.monotonic() + every > deadline:
            return
        await asyncio.sleep(every)


async def run_load(
    base: str,
    sample: dict[str, Any],
    auth: dict[str, dict[str, str]],
    *,
    users: int,
    duration: float,
    think: float,
    server_pid: int,
    sample_every: float | None,
) -> dict[str, Any]:
    """``users`` concurrent users for ``duration`` seconds; the figures as a dict."""
    recorder = Recorder()
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    began = time.monotonic()
    deadline = began + duration
    series: list[dict[str, float]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        tasks = [
            _user(http, sample, auth, recorder, deadline, think, random.Random(seed))
            for seed in range(users)
        ]
        if sample_every:
            tasks.append(_sample_memory(server_pid, sample_every, deadline, began, series))
        await asyncio.gather(*tasks)
    wall = time.monotonic() - began
    every = [v for values in recorder.latencies.values() for v in values]
    reads = [v for kind in READS for v in recorder.latencies[kind]]
    total_errors = sum(recorder.errors.values())
    out: dict[str, Any] = {
        "wall_seconds": round(wall, 1),
        "requests": len(every),
        "throughput_rps": round(len(every) / wall, 1),
        "errors": total_errors,
        "error_rate": round(total_errors / len(every), 5) if every else 0.0,
        "all": _summary(every, total_errors, wall),
        "reads": _summary(reads, sum(recorder.errors[k] for k in READS), wall),
        "by_kind": {
            kind: _summary(recorder.latencies[kind], recorder.errors[kind], wall)
            for kind in WEIGHTS
        },
        "error_samples": recorder.error_samples,
    }
    if series:
        out["memory"] = series
    return out


def main() -> None:
    from solidarity.web.admission import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=250_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=None, help="Seconds (default 120)")
    parser.add_argument("--think", type=float, default=0.5, help="Mean think time per user (s)")
    parser.add_argument("--soak", action="store_true", help="Sample server memory over time")
    parser.add_argument("--sample-every", type=float, default=60.0, help="Soak sampling (s)")
    parser.add_argument("--database-url", help="Default: solidarity_load on the local server")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/solidarity-load"))
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--server-workers",
        type=int,
        default=available_cores(),
        help="solidarity serve --workers (processes; default one per core, as deployment.md "
        "recommends)",
    )
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--seed",
        action="store_true",
        help="Also seed programmes, payments and linked lists (slow at 1M; run it once)",
    )
    args = parser.parse_args()
    duration = args.duration or (1800.0 if args.soak else 120.0)
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SOLIDARITY_KEY_DIR": str(args.workdir / "keys"),
        "SOLIDARITY_TOKEN_MINUTES": str(int(duration / 60) + 30),
        "SOLIDARITY_DCI_REQUIRE_SIGNATURES": "false",
        "SOLIDARITY_COOKIE_SECURE": "false",
        "SOLIDARITY_UPLOAD_DIR": str(args.workdir / "uploads"),
    }
    os.environ.update(env)
    from solidarity.governance.encryption import ensure_key_ring

    ensure_key_ring()  # names and identifiers are sealed at rest (decision 0003)
    url = ensure_database(args.database_url)
    env["SOLIDARITY_DATABASE_URL"] = url
    os.environ["SOLIDARITY_DATABASE_URL"] = url
    built = build(url, args.workdir, args.households, seed=args.seed)
    if args.build_only:
        print(json.dumps(built, indent=2))
        return
    sample = json.loads((args.workdir / "sample.json").read_text())
    secrets = json.loads((args.workdir / "secrets.json").read_text())
    base = f"http://127.0.0.1:{args.port}"
    solidarity = Path(sys.executable).with_name("solidarity")
    with (args.workdir / "server.log").open("ab") as log:
        server = subprocess.Popen(
            [
                str(solidarity),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--workers",
                str(args.server_workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        auth = {
            "steward": {
                "Authorization": "Bearer " + _token(base, "load-steward", secrets["load-steward"])
            },
            "partner": {
                "Authorization": "Bearer " + _token(base, "load-partner", secrets["load-partner"])
            },
        }
        # Warm-up: every kind once per user, not counted.
        asyncio.run(
            run_load(
                base,
                sample,
                auth,
                users=args.users,
                duration=10,
                think=args.think,
                server_pid=server.pid,
                sample_every=None,
            )
        )
        figures = asyncio.run(
            run_load(
                base,
                sample,
                auth,
                users=args.users,
                duration=duration,
                think=args.think,
                server_pid=server.pid,
                sample_every=args.sample_every if args.soak else None,
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    reads = figures["reads"]
    print(
        json.dumps(
            {
                "benchmark": "load_soak" if args.soak else "load",
                "database": "postgresql",
                "persons": sample["persons"],
                "users": args.users,
                "think_seconds_mean": args.think,
                "server_workers": args.server_workers,
                "duration_seconds": duration,
                "mix_weights": WEIGHTS,
                **figures,
                "targets": {
                    "zero_errors": figures["errors"] == 0,
                    "read_p99_under_300ms": reads["p99_ms"] < 300,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
