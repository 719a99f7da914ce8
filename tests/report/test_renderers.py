"""Every renderer on the fixed findings document of conftest.py, pinned to literal expected files.

The expected files under tests/report/expected/ were generated once, reviewed by eye and frozen.
After an intended change, regenerate with `WIF_UPDATE_GOLDEN=1 pytest tests/report` and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.plan_fixtures import disable_params
from helpers.report_fixtures import NOW_AT, fixture_commits, inventory, journal, plan, snapshots

from migrate.report import chart, csv_format, gitlab_format, html, json_format, markdown, outputs
from migrate.report.findings import FindingsDocument, build_findings

EXPECTED = Path(__file__).parent / "expected"

RENDERERS: dict[str, Callable[[FindingsDocument], str]] = {
    "report.md": markdown.render,
    "report.html": html.render,
    "keys.csv": csv_format.render,
    "controls.csv": csv_format.render_controls,
    "report.json": json_format.render,
    # every CI file read at a (made-up) commit: what `check`/`report` read from GitLab
    "gl-secret-detection-report.json": lambda doc: gitlab_format.render(doc, fixture_commits(doc)),
    "burndown.svg": lambda doc: chart.render_svg(doc.burndown),
}


def test_gitlab_report_locations_are_project_relative_with_real_shas(doc: FindingsDocument) -> None:
    import json
    import re

    report = json.loads(gitlab_format.render(doc, fixture_commits(doc)))
    vulns = report["vulnerabilities"]
    assert vulns
    for v in vulns:
        loc = v["location"]
        assert re.fullmatch(r"[0-9a-f]{40}", loc["commit"]["sha"]) and loc["commit"]["sha"] != "0" * 40
        assert not loc["file"].startswith(("acme/", "project:", "group:", "instance:")), loc["file"]
        assert "$?" not in v["description"] and "$?" not in v["raw_source_code_extract"]
    # without commits (an offline inventory) nothing is invented: the findings are left out, said so
    bare = json.loads(gitlab_format.render(doc))
    assert bare["vulnerabilities"] == []
    assert any("left out" in m["value"] for m in bare["scan"]["messages"])
    # the check can fail: a branch name is not a SHA
    wrong = {k: "main" for k in fixture_commits(doc)}
    assert json.loads(gitlab_format.render(doc, wrong))["vulnerabilities"] == []


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderer_matches_expected_file(doc: FindingsDocument, name: str) -> None:
    got = RENDERERS[name](doc)
    path = EXPECTED / name
    if os.environ.get("WIF_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


def test_renderers_are_deterministic() -> None:
    a = build_findings(inventory(), plan(), journal(), NOW_AT, snapshots(), tool_version="0.1.0")
    inv = inventory()
    shuffled = replace(inv, projects=inv.projects[::-1], variables=inv.variables[::-1], usages=inv.usages[::-1],
                       key_facts=inv.key_facts[::-1], problems=inv.problems[::-1])
    b = build_findings(shuffled, plan(), journal(), NOW_AT, snapshots(), tool_version="0.1.0")
    for render in RENDERERS.values():
        assert render(a) == render(b)


def test_outputs_registry_names_every_format() -> None:
    names = {fmt: [n for n, _ in outputs(fmt)] for fmt in ("md", "html", "csv", "json", "gitlab")}
    assert names == {"md": ["report.md"], "html": ["report.html"], "csv": ["keys.csv", "controls.csv"],
                     "json": ["report.json"], "gitlab": ["gl-secret-detection-report.json"]}


def test_markdown_escapes_table_separators(doc: FindingsDocument) -> None:
    item = replace(doc.manual[0], reason="uses a | pipe")
    out = markdown.render(replace(doc, manual=(item,)))
    assert "| uses a \\| pipe |" in out


def test_html_escapes_gitlab_supplied_text(doc: FindingsDocument) -> None:
    project = replace(doc.projects[0], path="acme/<script>alert(1)</script>")
    out = html.render(replace(doc, projects=(project,)))
    assert "<script>" not in out
    assert "acme/&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_html_is_self_contained(doc: FindingsDocument) -> None:
    out = html.render(doc)
    assert "<script" not in out and "@import" not in out
    assert 'src="http' not in out and "<link" not in out
    assert "@media print" in out and out.count("<svg") == 1


def test_csv_neutralises_formulas(doc: FindingsDocument) -> None:
    key = replace(doc.keys[0], stored_in=("=HYPERLINK(\"http://evil\")",))
    rows = list(csv.reader(io.StringIO(csv_format.render(replace(doc, keys=(key,))))))
    assert rows[1][csv_format.KEY_COLUMNS.index("stored_in")] == "'=HYPERLINK(\"http://evil\")"


def test_json_carries_derived_status_and_labels(doc: FindingsDocument) -> None:
    data = json.loads(json_format.render(doc))
    assert data["schema"] == "wif-migrate/report"
    assert [c["status"] for c in data["controls"]] == ["FAIL", "FAIL", "PASS", "FAIL", "FAIL"]
    assert data["keys"][1]["label"] == "deployer@acme-prod.iam.gserviceaccount.com#a1a1a1a1"
    assert data["summary"]["percent_done"] == 66


def test_html_prints_without_cutting_tables_or_wrapping_badges(doc: FindingsDocument) -> None:
    """The print stylesheet: fixed table layout (columns share the page width), cells and code wrap
    anywhere, badges never wrap. (Rendering to PDF needs Chromium: tests/report/test_html_browser.py.)"""
    text = html.render(doc)
    css = text.split("<style>", 1)[1].split("</style>", 1)[0]
    css = __import__("re").sub(r"/\*.*?\*/", "", css, flags=__import__("re").S)
    screen, _, printed = css.partition("@media print")
    printed = printed.split("{", 1)[1]
    assert "white-space: nowrap" in screen.split(".badge", 1)[1].split("}", 1)[0]
    rules: dict[str, str] = {}
    for sel, body in (r.split("{", 1) for r in printed.split("}") if "{" in r):
        rules[sel.strip()] = rules.get(sel.strip(), "") + body
    assert "table-layout: fixed" in rules["table"]
    assert "overflow-wrap: anywhere" in rules["th, td"]
    assert "white-space: nowrap" in rules[".badge"]


def test_report_never_says_can_be_disabled_when_keys_retire_would_refuse() -> None:
    """The report's "can be disabled" and `keys retire` come from the same plan-derived blockers
    (retire.items_from_plan): a manual file still using the key keeps it from being "disableable"."""
    from migrate.core.model import Action
    from migrate.report import assemble, history
    from migrate.retire.runner import items_from_plan

    sa, kid = "ci@acme-prod.iam.gserviceaccount.com", "c1" * 20
    p = plan()
    blocked = Action(f"disable_key:{sa}#{kid}", "disable_key", kid, "disable",
                     params=disable_params(sa, kid, blocked_by=("file:acme/templates:legacy.yml",)))
    p = replace(p, actions=(*p.actions, blocked))
    blockers = assemble.retire_blockers(p)
    manual = next(i.manual for i in items_from_plan(p) if i.key_id == kid)
    assert manual and all(any(m in b for b in blockers[kid]) for m in manual)
    idx = assemble._Index.of(inventory())  # noqa: SLF001 - the unit under test is the key finding
    mrs = [history.MergeRequestRecord("merge_request:acme/api:.gitlab-ci.yml", "acme/api", "", "verified",
                                      frozenset({kid}))]
    free = assemble._key_finding(sa, kid, "acme-prod", None, idx, NOW_AT, mrs, "enabled", ())  # noqa: SLF001
    assert "can be disabled" in free.status_reason  # the check can fail: without blockers it says so
    held = assemble._key_finding(sa, kid, "acme-prod", None, idx, NOW_AT, mrs, "enabled", (),  # noqa: SLF001
                                 blockers=blockers[kid])
    assert "can be disabled" not in held.status_reason and "file:acme/templates:legacy.yml" in held.status_reason
