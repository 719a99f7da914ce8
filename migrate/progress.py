"""Progress reporting through a small observer, so core code never prints.

Stages take a `Progress` and call `start(description, total)`, `advance()`, `add_total(n)` (when
the total is learned while walking, e.g. paginated project listings) and `finish()`. The CLI hands
them a `RichProgress` (a bar on stderr, only when stderr is a terminal, unless forced) or a
`SilentProgress`. Implementations must be safe to call from worker threads.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as _RichBar


class Progress(Protocol):
    """An observer of long-running work; one task at a time."""

    def start(self, description: str, total: int | None = None) -> None: ...

    def add_total(self, n: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class SilentProgress:
    """Reports nothing (tests, `--quiet`, machine output only). Counts, so callers can check it."""

    def __init__(self) -> None:
        self.description = ""
        self.total: int | None = None
        self.done = 0

    def start(self, description: str, total: int | None = None) -> None:
        self.description, self.total, self.done = description, total, 0

    def add_total(self, n: int) -> None:
        self.total = (self.total or 0) + n

    def advance(self, n: int = 1) -> None:
        self.done += n

    def finish(self) -> None:
        return None


class RichProgress:
    """A rich progress bar on stderr (never stdout: that is for machine-readable output)."""

    def __init__(self, stream: IO[str] | None = None, force: bool = False) -> None:
        self._console = Console(file=stream or sys.stderr, force_terminal=force or None)
        self._bar: _RichBar | None = None
        self._task: TaskID | None = None
        self._total: int | None = None
        self._lock = threading.Lock()

    def start(self, description: str, total: int | None = None) -> None:
        with self._lock:
            self._stop_locked()
            self._bar = _RichBar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=self._console,
                                 transient=False)
            self._bar.start()
            self._total = total
            self._task = self._bar.add_task(description, total=total)

    def add_total(self, n: int) -> None:
        with self._lock:
            if self._bar is not None and self._task is not None:
                self._total = (self._total or 0) + n
                self._bar.update(self._task, total=self._total)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            if self._bar is not None and self._task is not None:
                self._bar.advance(self._task, n)

    def finish(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar, self._task = None, None


def progress_for(stream: IO[str] | None = None, enabled: bool | None = None) -> Progress:
    """A bar when `stream` (default stderr) is a terminal or `enabled` is True, else silence."""
    stream = stream or sys.stderr
    if enabled is None:
        enabled = bool(getattr(stream, "isatty", lambda: False)())
    return RichProgress(stream, force=bool(enabled)) if enabled else SilentProgress()
