"""Client-side rate limiter: requests are spaced evenly so that no window of ``per`` seconds ever holds
more than ``max_requests`` of them (amoCRM 7/s, Bitrix24 2/s), with a safety ``margin`` for the jitter
between sending and the server's clock. ``penalize`` holds every request back after a 429/503."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, max_requests: int, per: float = 1.0, *, margin: float = 0.1,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if max_requests < 1 or per <= 0:
            raise ValueError("max_requests >= 1 and per > 0")
        self.max_requests = max_requests
        self.per = per
        self.interval = per / max_requests * (1 + margin)
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until this request may be sent."""
        with self._lock:
            now = self.clock()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            self.sleep(at - now)

    def penalize(self, seconds: float) -> None:
        """No request before ``seconds`` from now (the server asked us to back off)."""
        with self._lock:
            self._next = max(self._next, self.clock() + seconds)
