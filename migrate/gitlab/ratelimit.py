"""A client-side rate limiter shared by every worker thread, and the request counters.

GitLab throttles per user (gitlab.com: 2,000 authenticated API requests per minute, less on some
endpoints; self-managed instances set their own), answers 429 with `Retry-After`, and on the
Projects/Groups APIs sends no `RateLimit-*` headers beforehand (reference/gitlab.md §5). A batch
tool with many threads must therefore pace itself instead of discovering the limit by hitting it.

`RateLimiter` spaces request *starts* evenly at `rpm` per minute (a GCRA "virtual schedule": each
caller takes the next free slot and sleeps until it), so any one-minute window sees at most `rpm`
requests. When the server still answers 429 (someone else shares the token, or the limit is lower
than configured), `pause(seconds)` from its `Retry-After` stops *every* thread, not just the one
that was refused, until the server said to come back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from email.utils import parsedate_to_datetime


class RateLimiter:
    """Thread-safe pacing at `rpm` requests per minute with a global back-off on `Retry-After`.

    `burst` lets that many requests start back to back after an idle period (default 1: none).
    `clock`/`sleep` are injectable so the schedule can be checked without waiting.
    """

    def __init__(self, rpm: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rpm <= 0:
            raise ValueError("rpm must be positive")
        self.rpm = float(rpm)
        self.interval = 60.0 / self.rpm
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()  # the earliest start of the next request
        self._blocked_until = 0.0
        self.waited_s = 0.0  # total time callers spent waiting (for diagnostics)
        self.pauses = 0

    def acquire(self) -> float:
        """Block until this caller may send one request; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                if self._blocked_until > now:
                    delay = self._blocked_until - now
                    slot = None
                else:
                    # Allow up to `burst` slots of credit after an idle period, never more.
                    earliest = now - (self.burst - 1) * self.interval
                    slot = max(self._next, earliest)
                    self._next = slot + self.interval
                    delay = max(0.0, slot - now)
            if delay > 0:
                self._sleep(delay)
                waited += delay
            if slot is not None:
                # A pause announced while we slept still applies to us.
                with self._lock:
                    blocked = self._blocked_until - self._clock()
                if blocked <= 0:
                    with self._lock:
                        self.waited_s += waited
                    return waited

    def pause(self, seconds: float) -> None:
        """Nobody starts a request for `seconds` (a 429's Retry-After applies to the whole token)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._blocked_until:
                self._blocked_until = until
                self.pauses += 1
            # Resume at the paced rate after the pause, not with a burst of everyone at once.
            self._next = max(self._next, until)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RequestStats:
    """Counts of what went over the wire (thread-safe). Read by benchmarks and `-v` summaries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_status: Counter[int] = Counter()
        self.errors = 0  # connection errors / timeouts (no status)
        self.first_at: float | None = None
        self.last_at: float | None = None

    def record(self, status: int | None) -> None:
        now = time.monotonic()
        with self._lock:
            if status is None:
                self.errors += 1
            else:
                self.by_status[status] += 1
            if self.first_at is None:
                self.first_at = now
            self.last_at = now

    @property
    def requests(self) -> int:
        with self._lock:
            return sum(self.by_status.values()) + self.errors

    @property
    def http_429(self) -> int:
        with self._lock:
            return self.by_status[429]

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {"requests": sum(self.by_status.values()) + self.errors,
                    "by_status": dict(sorted(self.by_status.items())), "errors": self.errors}
