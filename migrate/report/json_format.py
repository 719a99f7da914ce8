"""JSON: the findings document as data, for other tools (documented in docs/report.md).

The dataclass fields as they are, plus the derived values a consumer would otherwise recompute:
each control's aggregate `status` and each key's `label`. A check's status is written as the word
the format has always had (PASS, FAIL, ERROR, MANUAL: `findings.CHECK_WORD`), not `Status`'s.
"""

from __future__ import annotations

import json
from typing import Any

from migrate.core.model import to_dict
from migrate.report.findings import FindingsDocument

SCHEMA_ID = "wif-migrate/report"


def as_data(doc: FindingsDocument) -> dict[str, Any]:
    data: dict[str, Any] = {"schema": SCHEMA_ID, **to_dict(doc)}
    for control, out in zip(doc.controls, data["controls"], strict=True):
        out["status"] = control.word
        for result, row in zip(control.results, out["results"], strict=True):
            row["status"] = result.word
    for key, out in zip(doc.keys, data["keys"], strict=True):
        out["label"] = key.label
    return data


def render(doc: FindingsDocument) -> str:
    return json.dumps(as_data(doc), indent=2, ensure_ascii=False) + "\n"
