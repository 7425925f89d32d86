"""Exponential backoff with full jitter, capped, honouring the server's Retry-After.

Hand-written rather than ``tenacity``: the outbox retries across process restarts, so the next attempt
time is a column in SQLite, not a sleep inside a decorated call; all that is needed is the delay formula.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class BackoffPolicy:
    base: float = 1.0        # seconds before the first retry (upper bound of its jitter)
    cap: float = 300.0       # no wait computed from the attempt count is longer than this
    retry_after_cap: float = 3600.0  # a server asking for longer than this is trusted only this far
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``attempts`` failures: uniform in [0, min(cap, base·2^(n-1))] (full
        jitter), but never shorter than the server's Retry-After."""
        exp = min(self.cap, self.base * 2 ** max(0, min(attempts - 1, 60)))
        wait = self.rng.uniform(0, exp)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delta seconds (decimals tolerated) or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)
