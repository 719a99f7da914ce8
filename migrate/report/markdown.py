"""Markdown report: readable as plain text, renders as tables on GitLab (e.g. in a wiki or an MR)."""

from __future__ import annotations

from collections.abc import Sequence

from migrate.core.codec import encode_time, format_time
from migrate.report import text
from migrate.report.findings import FindingsDocument, ReviewItem


def _cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> list[str]:
    if not rows:
        return [f"_{empty}_", ""]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _reviews(items: Sequence[ReviewItem]) -> list[list[str]]:
    return [[i.subject, i.reason, i.source] for i in items]


def render(doc: FindingsDocument) -> str:
    plan = f"; plan of {encode_time(doc.plan_generated_at)}" if doc.plan_generated_at else "; no plan"
    out = [
        "# wif-migrate report", "",
        f"GitLab {doc.gitlab_url} (version {doc.gitlab_version}). Generated {format_time(doc.generated_at)} by "
        f"wif-migrate {doc.tool_version} from the inventory of {encode_time(doc.inventory_generated_at)}{plan}.", "",
        "## Summary", "",
    ]
    out += _table(["Measure", "Value"], text.summary_rows(doc.summary), "nothing")
    out += ["## Keys", ""]
    out += _table(
        ["Service account", "Key id", "Age (days)", "Last use", "Stored in", "Used by", "Status",
         "Merge requests", "Binding"],
        [[k.service_account, f"`{k.key_id}`", text.age(k), text.last_use(k), text.joined(k.stored_in),
          text.joined(k.used_by), f"{text.STATUS_LABEL[k.status]}: {k.status_reason}",
          text.joined(text.merge_request(m) for m in k.merge_requests), text.joined(k.bindings)]
         for k in doc.keys], "No key found.")
    outside = text.outside_rows(doc)
    if outside:
        out += ["## Readers outside the scope", "",
                "Projects that can read a key's variable (inherited from a group or the instance) but whose "
                "CI the scan did not check. `keys retire` refuses the key until they are scanned and "
                "migrated, or an operator accepts them with `--accept-outside-readers KEY_ID`.", ""]
        out += _table(["Key", "Variable", "Project", "Why not checked", "Retirement"], outside, "none")
    out += ["## Projects", ""]
    out += _table(
        ["Project", "State", "Auth", "Holds", "Uses", "Keys", "Merge requests"],
        [[p.path, text.PROJECT_STATE_LABEL[p.state] + (f": {p.error}" if p.error else ""), p.auth,
          text.joined(p.holds), text.joined(p.uses), text.joined(p.keys), text.joined(p.merge_requests)]
         for p in doc.projects], "No project in scope.")
    out += ["## Controls", ""]
    out += _table(["Control", "Status", "Frameworks"],
                  [[f"{c.title} (`{c.id}`)", c.word, "; ".join(text.framework_refs(c.frameworks))]
                   for c in doc.controls], "No control.")
    for c in doc.controls:
        out += [f"### {c.title}: {c.word}", "",
                f"`{c.id}`, severity {c.severity}. {c.description}", "",
                "Frameworks: " + "; ".join(text.framework_refs(c.frameworks)) + ".", "",
                f"Remediation: {c.remediation}", ""]
        out += _table(["Status", "Resource", "Finding"], [[r.word, r.resource, r.message] for r in c.results],
                      "No resource.")
    out += ["## Manual review", ""]
    out += _table(["Subject", "Reason", "Source"], _reviews(doc.manual), "Nothing needs manual review.")
    out += ["## Errors: what could not be read", ""]
    out += _table(["Subject", "Reason", "Source"], _reviews(doc.errors), "Everything in scope was read.")
    out += ["## Live keys over time", ""]
    out += _table(["Time", "Live keys", "Event"], [[format_time(p.ts), str(p.live), p.event] for p in doc.burndown],
                  "No history yet.")
    return "\n".join(out).rstrip("\n") + "\n"
