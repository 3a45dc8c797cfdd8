"""Admission control: no more requests inside the app than the connection pool can serve."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from solidarity.db.engine import make_engine
from solidarity.web.admission import ConcurrencyLimit, available_cores, limit_for_engine


def _run(coroutine: Any) -> None:
    """Run ``coroutine`` on a fresh loop in its own thread: an earlier test (Playwright's
    sync API) may have left an event loop running on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def test_at_most_limit_requests_run_at_once_and_the_others_wait() -> None:
    inside = 0
    most = 0
    finished: list[str] = []

    async def app(scope: dict[str, Any], _receive: Any, _send: Any) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        finished.append(scope["path"])

    limited = ConcurrencyLimit(app, limit=3)

    async def main() -> None:
        calls = [limited({"type": "http", "path": f"/r{i}"}, None, None) for i in range(20)]
        await asyncio.gather(*calls)

    _run(main())
    assert most == 3
    assert len(finished) == 20  # nobody was refused: the others queued


def test_health_checks_are_never_held_back() -> None:
    started: list[str] = []
    release = asyncio.Event

    async def main() -> None:
        gate = release()

        async def app(scope: dict[str, Any], _receive: Any, _send: Any) -> None:
            started.append(scope["path"])
            if scope["path"] == "/api/v1/slow":
                await gate.wait()

        limited = ConcurrencyLimit(app, limit=1)
        slow = asyncio.create_task(limited({"type": "http", "path": "/api/v1/slow"}, None, None))
        await asyncio.sleep(0)
        await limited({"type": "http", "path": "/healthz"}, None, None)
        assert started == ["/api/v1/slow", "/healthz"]
        gate.set()
        await slow

    _run(main())


def test_the_limit_is_two_per_core_within_half_the_connection_pool(tmp_path: Path) -> None:
    postgres = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=10, max_overflow=20
    )
    assert limit_for_engine(postgres, cores=2) == 4
    assert limit_for_engine(postgres, cores=16) == 15  # half the pool's 30
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")  # SQLAlchemy's 5 + 10
    assert limit_for_engine(sqlite, cores=1) == 2
    assert limit_for_engine(sqlite, cores=8) == 7
    assert limit_for_engine(sqlite, configured=12) == 12
    assert limit_for_engine(postgres) == min(15, 2 * available_cores())
