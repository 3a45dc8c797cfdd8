"""An in-process token bucket per key: sign-in and token attempts, and API requests per client.

Sign-in and token requests are keyed by client address and account; API and DCI
requests by machine client, user or address (see ``solidarity.web.limits``).
One process, one set of buckets: behind several workers each has its own, which
still bounds guessing and runaway clients; a shared store can replace it without
changing callers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from solidarity.governance.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allow ``burst`` attempts at once, refilled at ``per_minute`` per key."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._lock = threading.Lock()

    def hit(self, *key: str, what: str = "attempts") -> None:
        """Take one token for ``key``; ``what`` names what is counted in the refusal.

        Raises:
            RateLimited: The bucket is empty; ``retry_after`` says when to try again.
        """
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:  # never grow without bound
                    self._buckets.clear()
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens < 1:
                wait = math.ceil((1 - bucket.tokens) / self.rate)
                raise RateLimited(f"too many {what}: try again in {wait} s", retry_after=wait)
            bucket.tokens -= 1
