"""`check`'s human view: one row per exposed key variable or key use and one per ERROR row (what
could not be read). A renderer: returns a string; `cli/check.py` prints it."""

from __future__ import annotations

from migrate.core.tables import loud
from migrate.core.textsafe import tabulate
from migrate.report.findings import FindingsDocument


def offenders_table(doc: FindingsDocument) -> str:
    rows = [[e.kind, e.subject, e.variable or "-",
             f"{e.service_account}#{e.key_id[:8]}" if e.key_id else "unreadable (suspected key)",
             e.key_status or "-"] for e in doc.exposures]
    rows += [[loud("ERROR"), i.subject, "-", i.reason, "-"] for i in doc.errors]
    return tabulate(rows, headers=["kind", "where", "variable", "key", "status"], tablefmt="github")
