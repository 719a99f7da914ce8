"""Compliance reports: one canonical findings document, one renderer module per format.

`findings.build_findings(...)` makes the document; each renderer is `render(doc) -> str` and never
touches files or the clock, so output is reproducible. `OUTPUTS` says which file each format writes;
only the command (`migrate/cli/report.py`) writes them.
"""

from __future__ import annotations

from collections.abc import Callable

from migrate.report.findings import FindingsDocument

Renderer = Callable[[FindingsDocument], str]


def outputs(fmt: str) -> list[tuple[str, Renderer]]:
    """(file name, renderer) pairs for one format; imported lazily so a format's deps stay local."""
    from migrate.report import csv_format, gitlab_format, html, json_format, markdown

    table: dict[str, list[tuple[str, Renderer]]] = {
        "md": [("report.md", markdown.render)],
        "html": [("report.html", html.render)],
        "csv": [("keys.csv", csv_format.render), ("controls.csv", csv_format.render_controls)],
        "json": [("report.json", json_format.render)],
        "gitlab": [(gitlab_format.FILENAME, gitlab_format.render)],
    }
    return table[fmt]
