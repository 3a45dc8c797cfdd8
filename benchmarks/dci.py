"""DCI synchronous search by identifier against a trivial endpoint, same server, same run.

    .venv/bin/python benchmarks/dci.py [--persons 1000000] [--clients 20] [--requests 4000]
                                       [--database-url URL] [--no-sign]

Builds a registry of ``--persons`` persons (4 per household, one national id
each) in a fresh database (SQLite in a temporary directory unless a URL is
given), starts ``uvicorn`` with the real application in a child process, and
drives it with ``--clients`` concurrent HTTP clients: first a trivial FastAPI
endpoint added to the same app (``GET /bench/trivial``, no database), then
``POST /dci/social/registry/sync/search`` by a random national id (a bearer
token, agreement check, replay guard, transaction log, audit entry, signed
response). Prints JSON: p50/p99 latency and throughput of both, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve()


def build(url: str, persons: int, revision: str = "head") -> None:
    """A migrated database with ``persons`` persons, an agency, an agreement and a client."""
    from sqlalchemy import insert

    from solidarity.db import migrate
    from solidarity.db.engine import make_engine, unit_of_work
    from solidarity.governance.agreements import create_agency, create_agreement
    from solidarity.governance.schemas import AgencyIn, AgreementIn, GrantIn
    from solidarity.governance.service import create_client
    from solidarity.registry import service
    from solidarity.registry.models import Household, Identifier, Person

    engine = make_engine(url)
    migrate.upgrade(engine, revision)
    with unit_of_work(engine) as session:
        service.load_areas(
            session, [{"code": "R01", "name": "North", "level": "0", "parent_code": ""}]
        )
    area_id = 1
    households = (persons + 3) // 4
    batch = 50_000
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for start in range(0, households, batch):
            rows = [
                {
                    "id": h + 1,
                    "area_id": area_id,
                    "status": "active",
                    "valid_from": now,
                    "changed_by": "bench",
                    "version": 1,
                    "created_by": "bench",
                    "updated_by": "bench",
                    "consumption_per_capita": float(h % 10),
                }
                for h in range(start, min(start + batch, households))
            ]
            conn.execute(insert(Household), rows)
        for start in range(0, persons, batch):
            ids = range(start, min(start + batch, persons))
            conn.execute(
                insert(Person),
                [
                    {
                        "id": p + 1,
                        "household_id": p // 4 + 1,
                        "area_id": area_id,
                        "status": "active",
                        "given_name": f"G{p}",
                        "family_name": f"F{p // 4}",
                        "sex": "female" if p % 2 else "male",
                        "birth_date": date(1950 + p % 70, 1 + p % 12, 1 + p % 28),
                        "birth_date_estimated": False,
                        "relationship": "head" if p % 4 == 0 else "child",
                        "valid_from": now,
                        "changed_by": "bench",
                        "version": 1,
                        "created_by": "bench",
                        "updated_by": "bench",
                    }
                    for p in ids
                ],
            )
            conn.execute(
                insert(Identifier),
                [
                    {
                        "person_id": p + 1,
                        "id_type": "national_id",
                        "value": f"NID-{p:08d}",
                        "verified": True,
                        "active": True,
                        "valid_from": now,
                        "created_by": "bench",
                        "updated_by": "bench",
                    }
                    for p in ids
                ],
            )
    with unit_of_work(engine) as session:
        create_agency(session, AgencyIn(code="BENCH", name="Bench"), actor="bench")
        create_agreement(
            session,
            AgreementIn(
                code="BENCH-1",
                agency_code="BENCH",
                purposes=["registry.search"],
                fields=["given_name", "family_name", "sex", "birth_date", "identifiers"],
                valid_from=date(2020, 1, 1),
            ),
            actor="bench",
        )
        _user, secret = create_client(
            session,
            client_id="bench-partner",
            display_name="bench",
            actor="bench",
            grants=[GrantIn(role="partner")],
            agency_code="BENCH",
        )
    Path(os.environ["BENCH_SECRET_FILE"]).write_text(secret)
    engine.dispose()


def serve(url: str, port: int) -> None:
    """The real app plus a trivial endpoint, in this (child) process."""
    import uvicorn

    from solidarity.db.engine import make_engine
    from solidarity.web.app import create_app
    from solidarity.web.deps import public

    app = create_app(make_engine(url))

    @public
    def trivial() -> dict[str, str]:
        return {"status": "ok"}

    app.add_api_route("/bench/trivial", trivial, methods=["GET"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _search_body(persons: int) -> dict[str, Any]:
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "header": {
            "version": "1.0.0",
            "message_id": uuid.uuid4().hex,
            "message_ts": stamp,
            "action": "search",
            "sender_id": "bench-partner",
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
                        "query": {"type": "UIN", "value": f"NID-{random.randrange(persons):08d}"},
                    },
                }
            ],
        },
    }


def drive(base: str, clients: int, requests: int, call: Any) -> dict[str, float]:
    """``requests`` calls spread over ``clients`` threads; latency percentiles and throughput."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = requests // clients

    def work() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(per_client):
                start = time.perf_counter()
                ok = call(http)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    errors += 0 if ok else 1

    threads = [threading.Thread(target=work) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "throughput_rps": round(len(latencies) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--database-url")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--no-sign", action="store_true", help="Do not sign responses")
    parser.add_argument("--revision", default="head", help="Migrate the database to this revision")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    work = Path(tempfile.mkdtemp(prefix="dci-bench-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    env = {
        **os.environ,
        "SOLIDARITY_KEY_DIR": str(work / "keys"),
        "SOLIDARITY_TOKEN_MINUTES": "120",
        "SOLIDARITY_DCI_REQUIRE_SIGNATURES": "false",
        "BENCH_SECRET_FILE": str(work / "secret"),
        "SOLIDARITY_ARGON2_TIME_COST": "1",
        "SOLIDARITY_ARGON2_MEMORY_KIB": "64",
        "SOLIDARITY_COOKIE_SECURE": "false",
    }
    if args.no_sign:
        env["SOLIDARITY_DCI_SIGN_RESPONSES"] = "false"
    os.environ.update(env)
    from solidarity.config import get_settings
    from solidarity.governance.encryption import ensure_key_ring

    get_settings.cache_clear()
    ensure_key_ring()  # names and identifiers are encrypted at rest (decision 0002)
    started = time.perf_counter()
    build(url, args.persons, args.revision)
    build_seconds = time.perf_counter() - started
    server = subprocess.Popen(
        [sys.executable, str(HERE), "--serve", url, "--port", str(args.port)], env=env
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = httpx.post(
            f"{base}/oauth2/client/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "bench-partner",
                "client_secret": (work / "secret").read_text(),
            },
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def trivial(http: httpx.Client) -> bool:
            return http.get("/bench/trivial").status_code == 200

        def search(http: httpx.Client) -> bool:
            response = http.post(
                "/dci/social/registry/sync/search", json=_search_body(args.persons), headers=auth
            )
            body = response.json()
            return (
                response.status_code == 200
                and len(body["message"]["search_response"][0]["data"]["reg_records"]) == 1
            )

        drive(base, args.clients, args.clients * 10, trivial)  # warm-up
        drive(base, args.clients, args.clients * 10, search)
        trivial_result = drive(base, args.clients, args.requests, trivial)
        search_result = drive(base, args.clients, args.requests, search)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        json.dumps(
            {
                "benchmark": "dci_sync_search_by_identifier",
                "database": url.split(":")[0],
                "persons": args.persons,
                "clients": args.clients,
                "signed_responses": not args.no_sign,
                "build_seconds": round(build_seconds, 1),
                "trivial_endpoint": trivial_result,
                "dci_sync_search": search_result,
                "p99_ratio": round(search_result["p99_ms"] / trivial_result["p99_ms"], 2),
                "p50_ratio": round(search_result["p50_ms"] / trivial_result["p50_ms"], 2),
                "target": "p99 within 3x of the trivial endpoint",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
