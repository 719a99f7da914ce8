"""Progress reporting through a small observer, so core code never prints.

Stages take a `Progress` and call `start(description, total)`, `advance()`, `add_total(n)` (when
the total is learned while walking, e.g. paginated project listings) and `finish()`. The CLI hands
them a `RichProgress` (a bar on stderr, only when stderr is a terminal, unless forced) or a
`SilentProgress`. Implementations must be safe to call from worker threads.

`NO_COLOR` (https://no-color.org: set and non-empty) or `TERM=dumb` turns the bar into plain lines
(`LineProgress`): the same counts, throttled, without a single escape sequence, so a log of a
terminal session stays readable. Every long verb (scan, plan, apply, verify, keys, report) takes
`--progress auto|always|never` (`add_progress_option`, `progress_from_args`).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import IO, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
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
            # a task of unknown size (total None: one step nobody counts) gets a spinner and the
            # elapsed time, never a "0/?" count
            columns = ((TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn()) if total is not None else
                       (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()))
            self._bar = _RichBar(*columns, console=self._console, transient=False)
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


class LineProgress:
    """Plain progress lines (`NO_COLOR`, `TERM=dumb`): one when a task starts, then at most one per
    `every` seconds or tenth of the total, and one when it ends. No escape sequences at all."""

    def __init__(self, stream: IO[str], every: float = 2.0) -> None:
        self._stream, self._every = stream, every
        self._lock = threading.Lock()
        self._description = ""
        self._total: int | None = None
        self._done = 0
        self._started = self._shown_at = 0.0
        self._shown_tenth = -1
        self._active = False

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()

    def _counts(self) -> str:
        return f"{self._done}/{self._total}" if self._total else f"{self._done}"

    def start(self, description: str, total: int | None = None) -> None:
        with self._lock:
            self._finish_locked()
            self._description, self._total, self._done = description, total, 0
            self._started = self._shown_at = time.monotonic()
            self._shown_tenth, self._active = 0, True
            self._line(f"{description} ..." + (f" 0/{total}" if total else ""))

    def add_total(self, n: int) -> None:
        with self._lock:
            self._total = (self._total or 0) + n

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._done += n
            now = time.monotonic()
            tenth = (10 * self._done // self._total) if self._total else -1
            if now - self._shown_at >= self._every or tenth > self._shown_tenth:
                self._shown_at, self._shown_tenth = now, max(tenth, self._shown_tenth)
                self._line(f"{self._description}: {self._counts()}")

    def finish(self) -> None:
        with self._lock:
            self._finish_locked()

    def _finish_locked(self) -> None:
        if self._active:
            took = f"{time.monotonic() - self._started:.1f} s"
            self._line(f"{self._description}: done, {self._counts()} in {took}" if self._total is not None
                       else f"{self._description}: done in {took}")
        self._active = False


def plain_terminal() -> bool:
    """NO_COLOR set and non-empty (no-color.org), or TERM=dumb: no escape sequences."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def progress_for(stream: IO[str] | None = None, enabled: bool | None = None) -> Progress:
    """A bar when `stream` (default stderr) is a terminal or `enabled` is True, else silence;
    plain lines instead of a bar under `NO_COLOR` / `TERM=dumb`."""
    stream = stream or sys.stderr
    if enabled is None:
        enabled = is_terminal(stream)
    if not enabled:
        return SilentProgress()
    return LineProgress(stream) if plain_terminal() else RichProgress(stream, force=True)


CHOICES = {"auto": None, "always": True, "never": False}


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=tuple(CHOICES), default="auto",
                        help="progress on stderr (auto: when stderr is a terminal; plain lines under NO_COLOR)")


def progress_from_args(args: argparse.Namespace) -> Progress:
    return progress_for(sys.stderr, CHOICES[getattr(args, "progress", "auto") or "auto"])

