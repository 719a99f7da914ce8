"""HTML report: one self-contained file (inline CSS and SVG, no scripts, no network assets) that reads
well in a browser and prints cleanly (print stylesheet: no backgrounds except status badges, table
headers repeat, rows do not split across pages).

Named `html.py` inside the package; `import html` below is the standard library (absolute imports).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from migrate.core.codec import encode_time, format_time
from migrate.report import chart, text
from migrate.report.findings import FindingsDocument, ReviewItem

CSS = """
:root { --ink: #24292f; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa;
  --pass: #1a7f37; --fail: #cf222e; --manual: #9a6700; --error: #8250df; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
  margin: 0 auto; padding: 24px 32px 48px; max-width: 1280px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 4px; }
p.meta, p.note { color: var(--muted); margin: 4px 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: var(--bg); font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card .v { font-size: 24px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
.badge { display: inline-block; min-width: 58px; text-align: center; padding: 1px 6px; border-radius: 10px;
  color: #fff; font-weight: 600; font-size: 12px; white-space: nowrap; }
code { overflow-wrap: anywhere; word-break: break-word; }
.PASS { background: var(--pass); } .FAIL { background: var(--fail); }
.MANUAL { background: var(--manual); } .ERROR { background: var(--error); }
figure { margin: 8px 0 16px; } figcaption { color: var(--muted); font-size: 12px; }
svg.burndown { width: 100%; max-width: 760px; height: auto; border: 1px solid var(--line); border-radius: 6px; }
@media print {
  body { padding: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; } h3 { break-after: avoid; }
  tr, .card, figure { break-inside: avoid; }
  thead { display: table-header-group; }
  /* The page is narrower than a screen: columns share it instead of pushing the table past the
     right edge; long ids, e-mails and URLs wrap anywhere; badges never wrap. */
  table { table-layout: fixed; width: 100%; font-size: 9pt; }
  th, td { overflow-wrap: anywhere; word-break: break-word; padding: 3px 5px; }
  code { font-size: 8.5pt; white-space: pre-wrap; }
  .badge { min-width: 0; padding: 0 4px; font-size: 8pt; white-space: nowrap; }
  .cards { grid-template-columns: repeat(4, 1fr); }
  th { background: none; }
  .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
  a[href]::after { content: " (" attr(href) ")"; font-size: 8pt; color: var(--muted); overflow-wrap: anywhere; }
  @page { margin: 14mm; }
}
"""


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _badge(status: str) -> str:
    return f'<span class="badge {_e(status)}">{_e(status)}</span>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """`rows` cells are already HTML (escaped by the caller)."""
    if not rows:
        return f'<p class="note">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(items: Sequence[str], empty: str = "none") -> str:
    return "<br>".join(_e(i) for i in items) if items else f'<span class="note">{_e(empty)}</span>'


def _link(url: str, label: str) -> str:
    return f'<a href="{_e(url)}">{_e(label)}</a>' if url.startswith(("https://", "http://")) else _e(label)


def _reviews(items: Sequence[ReviewItem]) -> list[list[str]]:
    return [[f"<code>{_e(i.subject)}</code>", _e(i.reason), _e(i.source)] for i in items]


def _keys(doc: FindingsDocument) -> str:
    rows = [[_e(k.service_account), f"<code>{_e(k.key_id)}</code>", _e(text.age(k)), _e(text.last_use(k)),
             _list(k.stored_in), _list(k.used_by),
             f"<strong>{_e(text.STATUS_LABEL[k.status])}</strong><br>{_e(k.status_reason)}",
             "<br>".join(_link(m.url, text.merge_request(m)) for m in k.merge_requests) or "none",
             _list(k.bindings)] for k in doc.keys]
    return _table(["Service account", "Key id", "Age (days)", "Last use", "Stored in", "Used by", "Status",
                   "Merge requests", "Binding"], rows, "No key found.")


def _outside(doc: FindingsDocument) -> list[str]:
    rows = text.outside_rows(doc)
    if not rows:
        return []
    return ["<h2>Readers outside the scope</h2>",
            "<p>Projects that can read a key's variable (inherited from a group or the instance) but whose CI the "
            "scan did not check. <code>keys retire</code> refuses the key until they are scanned and migrated, "
            "or an operator accepts them with <code>--accept-outside-readers KEY_ID</code>.</p>",
            _table(["Key", "Variable", "Project", "Why not checked", "Retirement"],
                   [[_e(c) for c in row] for row in rows], "none")]


def _projects(doc: FindingsDocument) -> str:
    rows = [[_e(p.path), _e(text.PROJECT_STATE_LABEL[p.state]) + (f"<br>{_e(p.error)}" if p.error else ""),
             _e(p.auth), _list(p.holds), _list(p.uses), _list(p.keys),
             "<br>".join(_link(u, u) for u in p.merge_requests) or "none"] for p in doc.projects]
    return _table(["Project", "State", "Auth", "Holds", "Uses", "Keys", "Merge requests"], rows,
                  "No project in scope.")


def _controls(doc: FindingsDocument) -> str:
    overview = _table(["Control", "Status", "Frameworks"],
                      [[f"{_e(c.title)}<br><code>{_e(c.id)}</code>", _badge(c.word),
                        "<br>".join(_e(r) for r in text.framework_refs(c.frameworks))] for c in doc.controls],
                      "No control.")
    parts = [overview]
    for c in doc.controls:
        parts.append(f"<h3>{_badge(c.word)} {_e(c.title)}</h3>"
                     f'<p class="note"><code>{_e(c.id)}</code>, severity {_e(c.severity)}. {_e(c.description)} '
                     f"Frameworks: {_e('; '.join(text.framework_refs(c.frameworks)))}. "
                     f"Remediation: {_e(c.remediation)}</p>")
        parts.append(_table(["Status", "Resource", "Finding"],
                            [[_badge(r.word), f"<code>{_e(r.resource)}</code>", _e(r.message)]
                             for r in c.results], "No resource."))
    return "".join(parts)


def render(doc: FindingsDocument) -> str:
    s = doc.summary
    cards = "".join(f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>'
                    for k, v in text.summary_rows(s))
    plan = f"plan of {encode_time(doc.plan_generated_at)}" if doc.plan_generated_at else "no plan"
    history = "".join(f"<tr><td>{_e(format_time(p.ts))}</td><td>{p.live}</td><td>{_e(p.event)}</td></tr>" for p in doc.burndown)
    body = [
        "<h1>wif-migrate report</h1>",
        f'<p class="meta">GitLab {_e(doc.gitlab_url)} (version {_e(doc.gitlab_version)}). Generated '
        f"{_e(format_time(doc.generated_at))} by wif-migrate {_e(doc.tool_version)} from the inventory of "
        f"{_e(encode_time(doc.inventory_generated_at))}; {_e(plan)}.</p>",
        "<h2>Summary</h2>", f'<div class="cards">{cards}</div>',
        "<h2>Live keys over time</h2>",
        f"<figure>{chart.render_svg(doc.burndown)}<figcaption>Live keys (neither disabled nor deleted) after each "
        "scan and key step, from the state journal.</figcaption></figure>",
        "<h2>Controls</h2>", _controls(doc),
        "<h2>Keys</h2>", _keys(doc), *_outside(doc),
        "<h2>Projects</h2>", _projects(doc),
        "<h2>Manual review</h2>", _table(["Subject", "Reason", "Source"], _reviews(doc.manual),
                                         "Nothing needs manual review."),
        "<h2>Errors: what could not be read</h2>", _table(["Subject", "Reason", "Source"], _reviews(doc.errors),
                                                          "Everything in scope was read."),
        "<h2>History</h2>",
        _table(["Time", "Live keys", "Event"], [], "No history yet.") if not doc.burndown else
        f"<table><thead><tr><th>Time</th><th>Live keys</th><th>Event</th></tr></thead><tbody>{history}</tbody></table>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>wif-migrate report: {_e(doc.gitlab_url)}, {_e(format_time(doc.generated_at))}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
