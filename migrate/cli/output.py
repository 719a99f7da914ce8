"""One JSON envelope for every verb, and `-o -` meaning stdout everywhere.

Every verb's `--format json` prints the same top-level shape (docs/output.schema.json):

    {"command": "plan", "version": "0.1.0", "exit_code": 0,
     "summary": {...counts, "line": "Plan: 3 to add, ..."},
     "results": [...one object per action / project / key...],
     "errors": [{"subject": "...", "reason": "..."}]}

so a script reads `exit_code`, `summary` and `errors` the same way whatever it ran. Verb-specific
detail lives inside `summary` and `results`. The only other top-level keys are the `ci` verbs' older
published contract, which external scorers (e.g. ../shared/tools/corpus_check.py) read and which
therefore stays: `ci analyze` also prints `files` (= `results`), `ci rewrite` also prints `status`
and `reasons` of its one file. docs/output.schema.json lists them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate import __version__
from migrate.core.files import write_atomic

if TYPE_CHECKING:
    from migrate.core.outcome import ItemOutcome, Layout

STDOUT = "-"


#: Top-level keys besides the envelope's own, per verb: the `ci` verbs' published contract.
CONTRACT_KEYS: dict[str, frozenset[str]] = {"ci analyze": frozenset({"files"}),
                                            "ci rewrite": frozenset({"status", "reasons"})}


def envelope(command: str, exit_code: int, summary: Mapping[str, Any], items: Iterable[Any],
             errors: Iterable[Mapping[str, Any]] = (), extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    doc = {"command": command, "version": __version__, "exit_code": int(exit_code), "summary": dict(summary),
           "results": list(items), "errors": [dict(e) for e in errors]}
    for key, value in (extra or {}).items():
        if key in doc or key not in CONTRACT_KEYS.get(command, frozenset()):
            raise ValueError(f"internal error: {command!r} may not add top-level key {key!r} to the envelope")
        doc[key] = value
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"


def print_envelope(command: str, exit_code: int, summary: Mapping[str, Any], items: Iterable[Any],
                   errors: Iterable[Mapping[str, Any]] = (), extra: Mapping[str, Any] | None = None) -> int:
    """Print the envelope on stdout and return `exit_code` (so `return print_envelope(...)`)."""
    sys.stdout.write(dumps(envelope(command, exit_code, summary, items, errors, extra)))
    return exit_code


def print_outcomes(command: str, exit_code: int, summary: Mapping[str, Any], outcomes: Sequence[ItemOutcome[Any]],
                   layout: Layout[Any], errors: Sequence[ItemOutcome[Any]] | None = None,
                   extra: Mapping[str, Any] | None = None) -> int:
    """The envelope of a verb that reports per item: `results` and `errors` from the one renderer
    (`migrate.core.outcome_render`); `errors` are the failed/refused/ERROR items of `outcomes`
    unless the verb's errors are other items (scan's problems, check's unreadable subjects);
    `extra`: the ci verbs' published top-level keys (`CONTRACT_KEYS`)."""
    from migrate.core import outcome_render  # here: only the verbs that report per item load it

    return print_envelope(command, exit_code, summary, outcome_render.results(outcomes, layout),
                          outcome_render.errors(outcomes if errors is None else errors), extra)


def write_output(path: str | Path, text: str | Iterable[str], what: str) -> str:
    """Write `text` (or its pieces, written as they come) to `path`, or to stdout when `path` is
    `-`; returns where it went (for messages)."""
    if str(path) == STDOUT:
        if isinstance(text, str):
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            sys.stdout.writelines(text)
        sys.stdout.flush()
        return "stdout"
    return str(write_atomic(path, text, what))
