"""The one renderer of per-item outcomes: a table for people, the envelope's lists for machines.

Every command's per-item rows come here (`migrate.core.outcome`): the stage names the columns and
the JSON object of one item, this module does the rest the same way for all of them —

- table: every cell escaped (`core.tables.cell_text`: a newline or an escape sequence in a value
  from GitLab or Google is shown, it cannot forge a row or repaint the terminal), status words made
  to stand out (`loud`), numbers never reinterpreted (`1e5` stays `1e5`), long cells wrapped to the
  terminal (never a 600-column line) and to the column's own width where the stage gives one;
- JSON: `results` (one object per item) and `errors` (`{"subject", "reason"}` of every failed,
  refused or ERROR item), which `cli/output.py` puts in the one envelope and `json.dumps` escapes.

Renderers return strings and lists; only `cli/` prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from migrate.core.outcome import ERROR_STATUSES, ItemOutcome, Layout


def table(outcomes: Sequence[ItemOutcome[Any]], layout: Layout[Any], width: int | None = None) -> str:
    """The outcomes as one table (or the layout's `empty` line when there are none)."""
    # imported here: a verb's JSON (`results`, `errors`) needs no table library (the ci verbs'
    # start-up, tests/cli/test_verb_loading.py)
    from tabulate import tabulate

    from migrate.core.tables import cell_text, column_limits, loud, terminal_width
    from migrate.core.textsafe import escape

    if not outcomes and layout.empty:
        return layout.empty
    heads = [escape(c.header) for c in layout.columns]
    raw = [[c.cell(o) for c in layout.columns] for o in outcomes]
    cells = [[cell_text(loud(str(v)) if c.loud else v) for c, v in zip(layout.columns, row, strict=True)]
             for row in raw]
    fitted = column_limits(cells, heads, width or terminal_width())
    limits = [fixed if fit is None else fit if fixed is None else min(fit, fixed)
              for fit, fixed in zip(fitted, (c.width for c in layout.columns), strict=True)]
    extra: dict[str, Any] = {}
    if any(limit is not None for limit in limits):
        extra["maxcolwidths"] = limits
        extra["maxheadercolwidths"] = [None if w is None else max(1, w - 2) for w in limits]
    right = [c.count and all(isinstance(row[i], int) for row in raw if row[i] not in ("", None))
             for i, c in enumerate(layout.columns)]
    if any(right):
        extra["colalign"] = ["right" if r else "left" for r in right]
    return str(tabulate(cells, headers=heads, tablefmt=layout.style, disable_numparse=True, **extra))


def results(outcomes: Iterable[ItemOutcome[Any]], layout: Layout[Any]) -> list[dict[str, Any]]:
    """The envelope's `results`: one JSON object per item, in the shape the verb documents."""
    return [dict(layout.record(o)) for o in outcomes]


def errors(outcomes: Iterable[ItemOutcome[Any]]) -> list[dict[str, str]]:
    """The envelope's `errors`: every item that failed, was refused or could not be read."""
    return [{"subject": o.item, "reason": o.reason} for o in outcomes if o.status in ERROR_STATUSES]
