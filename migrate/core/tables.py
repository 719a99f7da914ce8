"""Tables that fit the terminal: long cells wrap (never a 600-column line), full detail stays in
`--explain` and the JSON output.

`render_table` is a thin layer over tabulate: it measures each column's natural width and, when the
whole row would not fit `width`, gives narrow columns what they need and shares the rest among the
wide ones, which tabulate then wraps (`maxcolwidths`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from tabulate import tabulate

from migrate.core.textsafe import Styled, escape

GAP = 2  # tabulate's "simple" format puts two spaces between columns
MIN_COL = 6


UNLIMITED = 10_000  # not a terminal: one line per row, so logs stay greppable


def terminal_width(stream: TextIO | None = None) -> int:
    """The terminal's width (`COLUMNS` overrides it) when `stream` (stdout) is a terminal, else no
    limit: piped output and CI logs keep one line per row."""
    stream = stream or sys.stdout
    try:
        if not stream.isatty():
            return UNLIMITED
    except (AttributeError, ValueError):
        return UNLIMITED
    return max(40, shutil.get_terminal_size((120, 24)).columns)  # reads COLUMNS first


def colour_enabled(stream: TextIO | None = None) -> bool:
    """ANSI colour only on a terminal, never with NO_COLOR set (https://no-color.org), always with
    FORCE_COLOR."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


LOUD = {"failed": "31;1", "refused": "31;1", "error": "31;1", "fail": "31;1", "blocked": "33;1",
        "manual": "33;1", "pending": "33;1", "broader": "31;1"}


def loud(word: str, stream: TextIO | None = None) -> str:
    """FAIL / refused / ERROR stand out: bold red (yellow for manual / blocked) on a colour terminal;
    plain text otherwise (the word itself never changes, so scripts can match it)."""
    code = LOUD.get(word.lower().split(":")[0].split()[0] if word.strip() else "")
    if code is None or not colour_enabled(stream):
        return word
    return Styled(f"\x1b[{code}m{escape(word)}\x1b[0m")


def cell_text(cell: Any) -> str:
    """One table cell, safe: a string is escaped whole (a newline in a value is shown as `\\n`, it
    cannot forge a row); a list or tuple is one line per element, each escaped."""
    if isinstance(cell, Styled):
        return str(cell)
    if isinstance(cell, (list, tuple)):
        text = "\n".join(cell_text(c) for c in cell)
        # a list of blank lines is an empty cell: tabulate's wrapping raises on a cell that is just
        # a line break (it takes it for a number)
        return text if text.strip() else ""
    return "" if cell is None else escape(str(cell))


def column_limits(rows: Sequence[Sequence[Any]], headers: Sequence[str], width: int) -> list[int | None]:
    """Per-column maximum widths (None = no limit) so a row fits `width`."""
    n = max([len(headers), *(len(r) for r in rows)])
    # tabulate makes a column at least 2 wider than its header (MIN_PADDING)
    natural = [len(str(h)) + 2 for h in headers] + [0] * (n - len(headers))
    for row in rows:
        for i, cell in enumerate(row[:n]):
            natural[i] = max(natural[i], max((len(line) for line in str(cell).splitlines()), default=0))
    budget = width - GAP * (n - 1)
    if sum(natural) <= budget:
        return [None] * n
    limits: list[int | None] = [None] * n
    open_cols = list(range(n))
    while open_cols:
        share = max(MIN_COL, budget // len(open_cols))
        fits = [i for i in open_cols if natural[i] <= share]
        if not fits:
            for i in open_cols:
                limits[i] = share
            break
        for i in fits:
            budget -= natural[i]
            open_cols.remove(i)
    return limits


def render_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], width: int | None = None) -> str:
    """Cells are escaped (`cell_text`); long ones wrap so each row fits `width` (default: the terminal)."""
    cells = [[cell_text(c) for c in row] for row in rows]
    heads = [escape(h) for h in headers]
    limits = column_limits(cells, heads, width or terminal_width())
    extra: dict[str, Any] = {"headers": heads} if heads else {}
    if any(limit is not None for limit in limits):
        extra["maxcolwidths"] = limits
        if heads:
            extra["maxheadercolwidths"] = [None if w is None else max(1, w - 2) for w in limits]
    return str(tabulate(cells, tablefmt="simple", disable_numparse=True, **extra))
