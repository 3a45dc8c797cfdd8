"""System KPIs in the Prometheus text exposition format.

Request counts and latency by route template (not by raw path, so ids do not
explode the series) are kept in process by :func:`install_metrics`; job counts and
durations are read from the jobs table when ``/metrics`` is scraped.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

import polars as pl
from fastapi import FastAPI, Request, Response

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Counters and a latency histogram per (method, route, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count: dict[tuple[str, str, str], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.observations: dict[tuple[str, str], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request."""
        with self._lock:
            self.count[(method, route, str(status))] += 1
            key = (method, route)
            self.seconds[key] += seconds
            self.observations[key] += 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[key][i] += 1

    def render(self) -> list[str]:
        """The request series in the text format."""
        hist = "solidarity_http_request_duration_seconds"
        lines = [
            "# HELP solidarity_http_requests_total HTTP requests by method, route and status.",
            "# TYPE solidarity_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.count.items()):
                lines.append(
                    f'solidarity_http_requests_total{{method="{method}",route="{_esc(route)}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP solidarity_http_request_duration_seconds Request latency by route.",
                "# TYPE solidarity_http_request_duration_seconds histogram",
            ]
            for (method, route), total in sorted(self.seconds.items()):
                labels = f'method="{method}",route="{_esc(route)}"'
                for bound, n in zip(BUCKETS, self.buckets[(method, route)], strict=True):
                    lines.append(f'{hist}_bucket{{{labels},le="{bound}"}} {n}')
                count = self.observations[(method, route)]
                lines += [
                    f'{hist}_bucket{{{labels},le="+Inf"}} {count}',
                    f"{hist}_sum{{{labels}}} {total:.6f}",
                    f"{hist}_count{{{labels}}} {count}",
                ]
        return lines


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def install_metrics(app: FastAPI) -> None:
    """Count and time every request of ``app`` by its route template."""
    metrics = RequestMetrics()
    app.state.request_metrics = metrics

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.observe(request.method, template, status, time.perf_counter() - start)


def render(metrics: RequestMetrics | None, jobs: pl.DataFrame) -> str:
    """Every series: requests (when measured) and jobs."""
    lines = metrics.render() if metrics is not None else []
    lines += [
        "# HELP solidarity_jobs_total Finished background jobs by kind and status.",
        "# TYPE solidarity_jobs_total counter",
    ]
    lines += [
        f'solidarity_jobs_total{{kind="{_esc(r["kind"])}",status="{r["status"]}"}} {r["count"]}'
        for r in jobs.iter_rows(named=True)
    ]
    lines += [
        "# HELP solidarity_job_duration_seconds_sum Seconds spent in finished jobs.",
        "# TYPE solidarity_job_duration_seconds_sum counter",
    ]
    lines += [
        f'solidarity_job_duration_seconds_sum{{kind="{_esc(r["kind"])}",status="{r["status"]}"}} '
        f"{r['seconds']:.6f}"
        for r in jobs.iter_rows(named=True)
    ]
    return "\n".join(lines) + "\n"
