"""CSV: one row per key (a migration tracker for spreadsheets) and one row per control result
(the prowler-style compliance table). Lists inside a cell are joined with '; '.

Cells that a spreadsheet would run as a formula (starting with = + - @) are prefixed with a quote:
variable names and paths come from GitLab users (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from migrate.report import text
from migrate.report.findings import FindingsDocument

KEY_COLUMNS = ("service_account", "key_id", "gcp_project", "status", "status_reason", "google_state", "created",
               "age_days", "last_used", "last_used_note", "stored_in", "used_in", "used_by", "merge_requests",
               "bindings")
CONTROL_COLUMNS = ("control_id", "control_title", "control_status", "severity", "frameworks", "status",
                   "resource", "message")


def _safe(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _write(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_safe(c) for c in row] for row in rows)
    return buf.getvalue()


def render(doc: FindingsDocument) -> str:
    """Per-key table."""
    return _write(KEY_COLUMNS, (
        [k.service_account, k.key_id, k.gcp_project, k.status, k.status_reason, k.google_state, k.created or "",
         "" if k.age_days is None else str(k.age_days), k.last_used or "", k.last_used_note,
         "; ".join(k.stored_in), "; ".join(k.used_in), "; ".join(k.used_by),
         "; ".join(text.merge_request(m) for m in k.merge_requests), "; ".join(k.bindings)]
        for k in doc.keys))


def render_controls(doc: FindingsDocument) -> str:
    """Per-control-result table."""
    return _write(CONTROL_COLUMNS, (
        [c.id, c.title, c.word, c.severity, "; ".join(text.framework_refs(c.frameworks)), r.word,
         r.resource, r.message]
        for c in doc.controls for r in c.results))
