"""Values from GitLab and Google shown to people: control characters escaped, tables made safe.

Anything an organisation's member can write (a variable's key file, a project description, a
file path) ends up in tables on a terminal, in Markdown and in CSV. A newline there would forge
rows; an escape sequence would repaint the operator's terminal. Every table goes through
`tabulate` here, which escapes each cell with `escape` (C0/C1 controls, DEL and the Unicode line
and paragraph separators become visible `\\xNN` / `\\uNNNN` escapes; a backslash is left alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from tabulate import tabulate as _tabulate

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(value: object) -> str:
    """`value` as text with every control character made visible (one line, no terminal codes)."""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(_visible, text)


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_multiline(text: str) -> str:
    """Like `escape` but keeps line breaks (for diffs and reports that are multi-line on purpose)."""
    return "\n".join(escape(line) for line in text.split("\n"))


class Styled(str):
    """Text already escaped and coloured (`migrate.core.tables.loud`): tables keep its escape codes."""


def tabulate(rows: Iterable[Sequence[Any]], headers: Any = (), **kwargs: Any) -> str:
    """`tabulate.tabulate` with every cell and header escaped (None stays empty)."""
    safe = [["" if cell is None else cell if isinstance(cell, Styled) else escape(cell) if isinstance(cell, str)
             else cell for cell in row]
            for row in rows]
    if isinstance(headers, (list, tuple)):
        headers = [escape(h) for h in headers]
    return str(_tabulate(safe, headers=headers, **kwargs))
