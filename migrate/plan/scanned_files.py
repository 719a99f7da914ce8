"""The CI files `scan` already read, for `plan`: taken from the state instead of read again.

A plan of 10,000 projects needs ~3,300 CI files — every keyed file and every file of the
pipelines that read one — which the scan read moments before: reading them again cost ~3 s of
client CPU (issue 18). The scan keeps each text it read in the state database by its sha256
(`core.state.State.save_texts`) and lists, per file, the ids GitLab answered with that text and
its sha256 (`core.model.FileBlob`). A file is taken from the state only when the kept text has
exactly that sha256, so it is the very text GitLab gave with those ids; anything else — no
record in the inventory (an older scan, a template, a remote file, a text holding key material),
no text in the state, a text that does not hash to the record — is read from GitLab as before.

What the plan then computes is what it would compute from a read made at scan time: the ids in
the plan are the scanned ones, so a file changed since the scan is seen by `apply` (its blob id
differs) and rewritten again from the live file, as a file changed since planning is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from migrate.core.model import Inventory
from migrate.plan.ports import FileId, FileText, PlanTexts


def scanned_files(inventory: Inventory, wanted: Iterable[FileId], texts: PlanTexts) -> dict[FileId, FileText]:
    """The wanted files whose scanned text the state still holds, unchanged (see module doc)."""
    blobs = {(b.project, b.path, b.ref): b for b in inventory.file_blobs}
    records = [blobs[w] for w in sorted(set(wanted)) if w in blobs]
    if not records:
        return {}
    kept = texts.texts(b.sha256 for b in records)
    out: dict[FileId, FileText] = {}
    for b in records:
        text = kept.get(b.sha256)
        if text is not None and sha256_text(text) == b.sha256:
            out[(b.project, b.path, b.ref)] = FileText(text, b.blob_id, b.commit_id or None)
    return out


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
