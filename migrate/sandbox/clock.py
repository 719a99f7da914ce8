"""The sandbox's notion of "now", shared by both emulators.

Real time by default; `--now` pins a start time (deterministic demos) and `advance()` moves it
forward (grace periods in tests). Times are UTC.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self._offset = 0.0 if start is None else start.timestamp() - time.time()
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta.total_seconds()

    def iso(self) -> str:
        """RFC 3339 with Z and no fractional seconds (the form Google and google-auth expect)."""
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
