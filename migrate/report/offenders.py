"""`check`'s rows: one per exposed key variable or key use (FOUND) and one per ERROR row (what
could not be read). The columns and the JSON object of one offender are declared here
(`OFFENDER_ROWS`, pipes so the table pastes into a merge request); the one renderer
(`migrate.core.outcome_render`) draws them and `cli/check.py` prints."""

from __future__ import annotations

from migrate.core import outcome_render
from migrate.core.model import to_dict
from migrate.core.outcome import Column, ItemOutcome, Layout, Status
from migrate.core.tables import loud
from migrate.report.findings import FindingsDocument, KeyExposure, ReviewItem


def exposure_outcomes(doc: FindingsDocument) -> list[ItemOutcome[KeyExposure]]:
    return [ItemOutcome(e.subject, Status.FOUND, "", e) for e in doc.exposures]


def error_outcomes(doc: FindingsDocument) -> list[ItemOutcome[ReviewItem]]:
    return [ItemOutcome(i.subject, Status.ERROR, i.reason, i) for i in doc.errors]


def _cells(o: ItemOutcome[KeyExposure | ReviewItem]) -> tuple[str, str, str, str]:
    """kind, variable, key and status of one row (an ERROR row: its reason in the key column)."""
    e = o.detail
    if not isinstance(e, KeyExposure):
        return loud("ERROR"), "-", o.reason, "-"
    key = f"{e.service_account}#{e.key_id[:8]}" if e.key_id else "unreadable (suspected key)"
    return e.kind, e.variable or "-", key, e.key_status or "-"


OFFENDER_ROWS: Layout[KeyExposure | ReviewItem] = Layout(
    columns=(Column("kind", lambda o: _cells(o)[0]), Column("where", lambda o: o.item),
             Column("variable", lambda o: _cells(o)[1]), Column("key", lambda o: _cells(o)[2]),
             Column("status", lambda o: _cells(o)[3])),
    record=lambda o: to_dict(o.detail),
    style="github")


def offenders_table(doc: FindingsDocument) -> str:
    rows: list[ItemOutcome[KeyExposure | ReviewItem]] = [*exposure_outcomes(doc), *error_outcomes(doc)]
    return outcome_render.table(rows, OFFENDER_ROWS)
