"""Admission control: at most N requests inside the application at once, the rest wait.

Why: a request takes a database connection in its first dependency (the caller's
authentication) and keeps it until the response, while its synchronous parts hop
between threads of the thread pool (40 threads). With more requests in flight than
the connection pool holds (PostgreSQL: 10 + 20 overflow; SQLite: 5 + 10), every
pool thread can end up waiting for a connection that is held by a request waiting
for a thread: nothing moves until the pool's 30 s checkout timeout fails them all
with 500s. Measured with 50 concurrent users before this middleware existed.

Letting at most half the pool's connections' worth of requests in (so even a
request that opens a second unit of work, e.g. to log a refused DCI call, finds
one), and never more than the thread pool, makes that wait impossible; the others
queue here, in the event loop, where waiting costs nothing. ``/healthz`` and
static files are never held back.

Within that, at most two requests per core: a request is mostly Python holding
the interpreter's lock, so more threads in flight only take turns at it, and
every request in flight gets slower (decision 0007).
"""

from __future__ import annotations

import asyncio
import os
import weakref

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Receive, Scope, Send

#: Threads of the thread pool running synchronous endpoints (AnyIO's default).
THREADS = 40
#: Used when the engine's pool has no fixed size (e.g. SQLite in memory in tests).
DEFAULT_LIMIT = 16
#: Requests in flight per core available to this process.
PER_CORE = 2
UNLIMITED_PATHS = ("/healthz", "/static/")


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def limit_for_engine(
    engine: Engine, configured: int | None = None, *, cores: int | None = None
) -> int:
    """How many requests may run at once against ``engine``.

    Args:
        engine: The application's engine.
        configured: ``SOLIDARITY_MAX_CONCURRENT_REQUESTS``; None derives it from the
            pool and the cores.
        cores: The cores to count on (default: those of this process).
    """
    if configured is not None:
        return max(1, configured)
    pool = engine.pool
    if isinstance(pool, QueuePool):
        capacity = pool.size() + max(pool._max_overflow, 0)  # no public accessor
        by_pool = min(capacity // 2, THREADS)
    else:
        by_pool = DEFAULT_LIMIT
    return max(1, min(by_pool, PER_CORE * (cores or available_cores())))


class ConcurrencyLimit:
    """ASGI middleware letting at most ``limit`` HTTP requests into the app at once."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        # One semaphore per event loop (the test client runs its own loops).
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(UNLIMITED_PATHS):
            await self.app(scope, receive, send)
            return
        async with self._semaphore():
            await self.app(scope, receive, send)
