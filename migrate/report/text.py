"""Wording shared by the human formats (Markdown, HTML, CSV), so they never disagree."""

from __future__ import annotations

from collections.abc import Iterable

from migrate.report.findings import FindingsDocument, FrameworkRef, KeyFinding, MergeRequestRef, Summary

STATUS_LABEL = {
    "found": "found",
    "mr_opened": "MR opened",
    "migrated": "migrated",
    "disabled": "disabled",
    "deleted": "deleted",
}
PROJECT_STATE_LABEL = {"keyless": "keyless", "key": "holds or uses a key", "error": "ERROR", "skipped": "skipped"}


def summary_rows(s: Summary) -> list[tuple[str, str]]:
    return [
        ("Keys found", str(s.keys_found)),
        ("Keys with a merge request opened", str(s.keys_mr_opened)),
        ("Keys migrated (merged and verified)", str(s.keys_migrated)),
        ("Keys disabled", str(s.keys_disabled)),
        ("Keys deleted", str(s.keys_deleted)),
        ("Keys still live", str(s.keys_live)),
        ("Projects in scope", str(s.projects_total)),
        ("Projects keyless", str(s.projects_keyless)),
        ("Projects holding or using a key", str(s.projects_with_keys)),
        ("Projects that could not be read", str(s.projects_error)),
        ("Done (keys retired)", f"{s.percent_done} %"),
    ]


def framework_refs(refs: Iterable[FrameworkRef]) -> list[str]:
    """One line per (framework, id), listing the benchmark versions that use that id."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for r in refs:
        grouped.setdefault((r.framework, r.id), [])
        if r.version:
            grouped[(r.framework, r.id)].append(f"v{r.version}")
    return [f"{fw} {cid}" + (f" ({', '.join(versions)})" if versions else "")
            for (fw, cid), versions in grouped.items()]


def last_use(k: KeyFinding) -> str:
    if k.last_used:
        return k.last_used
    return f"unknown: {k.last_used_note}" if k.last_used_note else "unknown"


def age(k: KeyFinding) -> str:
    return "unknown" if k.age_days is None else str(k.age_days)


def merge_request(m: MergeRequestRef) -> str:
    return f"{m.url or m.project} ({m.state})"


def joined(items: Iterable[str], empty: str = "none") -> str:
    items = list(items)
    return ", ".join(items) if items else empty


def outside_rows(doc: FindingsDocument) -> list[list[str]]:
    """One row per (key, reader outside the scope): what reads it, why unchecked, what retire did."""
    rows = []
    for k in doc.keys:
        if k.outside_readers_accepted_by:
            state = f"accepted by {k.outside_readers_accepted_by} (key disabled)"
        elif k.status in ("disabled", "deleted"):
            state = f"key {k.status}"
        else:
            state = "blocks keys retire"
        rows += [[k.label, r.variable, r.project or "unknown", r.reason, state] for r in k.outside_readers]
    return rows
