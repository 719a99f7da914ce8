"""What an operator reads from `plan`: the Terraform-style summary line, members named, tables that
fit the terminal, before/after in words, `--detailed-exitcode`, `-o -`, and the JSON envelope."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from helpers.plan_fixtures import CI, DEPLOYER, INVENTORY, POOL, plan_of

from migrate.apply.selection import with_dependencies
from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.plan.planner import LiveFederation
from migrate.plan.render import in_words, render_plan, verdict
from migrate.plan.summary import changes, pending, summary_line
from migrate.scan import inventory_io


def _setup(tmp_path: Path) -> list[str]:
    inventory_io.write(INVENTORY, tmp_path / "inv.json")
    (tmp_path / "c.yaml").write_text(json.dumps({
        "gitlab": {"url": "https://gitlab.acme.example"}, "scope": {"groups": ["acme"]},
        "google": {"identity_project": "acme-identity"}, "state_dir": str(tmp_path / "state")}))
    return ["plan", "-c", str(tmp_path / "c.yaml"), "--inventory", str(tmp_path / "inv.json"), "--offline",
            "--project-number", "111111111111"]


def test_summary_line_counts_per_kind() -> None:
    line = summary_line(plan_of())
    assert line.startswith("Plan: 6 to add (3 binding members, 3 merge requests), 0 to change, 0 to destroy.")
    assert "2 not read (offline)" in line and "3 key(s) to disable, 3 to delete" in line


def test_nothing_to_do_says_so_and_is_not_pending() -> None:
    plan = plan_of()
    done = dataclasses.replace(plan, actions=tuple(
        dataclasses.replace(a, params=dataclasses.replace(a.params, observed_known=True, observed={"state": "ACTIVE"},
                                                          patch=())) if a.kind in ("ensure_pool", "ensure_provider") else
        dataclasses.replace(a, params=dataclasses.replace(a.params, already_present=a.params.members))
        for a in plan.actions if a.kind in ("ensure_pool", "ensure_provider", "ensure_binding")))
    assert not pending(changes(done))
    assert summary_line(done).startswith("No changes.")
    assert pending(changes(plan))  # the check can fail: the fresh plan is pending


def test_provider_change_is_named_not_create_or_keep() -> None:
    plan = plan_of(live=LiveFederation(True, {"state": "ACTIVE"}, {"state": "ACTIVE", "disabled": True}))
    text = render_plan(plan, diffs=False, width=100)
    assert "create or keep" not in text
    assert "pool exists as designed" in text or "update the pool" in text
    assert "update the provider's" in text
    assert "1 to change (provider)" in " ".join(text.split()) or "to change (pool, provider)" in " ".join(text.split())


def test_members_are_named_and_access_said_in_words() -> None:
    plan = plan_of(live_bindings={CI: (f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1002",)})
    text = render_plan(plan, diffs=False, width=400)
    assert "already bound" in text  # ci@: nothing to add
    assert "add project_protected/1001:protected" in text  # deployer@: named
    assert "tokens:" not in text
    assert "via the key: acme/api on protected refs" in text
    row = next(r for r in plan.impersonation if r.service_account == DEPLOYER)
    assert verdict(row) == "same"  # nothing changed: not "yes, narrower"
    ci = next(r for r in plan.impersonation if r.service_account == CI)
    assert verdict(ci) == "narrower"
    assert verdict(dataclasses.replace(ci, broader=("acme/docs (protected ref)",))).startswith("BROADER")
    assert in_words(["acme/x (protected ref, environment production)",
                     "acme/x (unprotected ref, environment production)"]) == "acme/x on any ref, environment production"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_tables_fit_the_terminal(width: int) -> None:
    text = render_plan(plan_of(), diffs=False, width=width)
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert too_long == []


def test_detailed_exitcode_and_plan_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _setup(tmp_path)
    assert main([*argv, "-o", str(tmp_path / "p.json")]) == 0
    assert main([*argv, "-o", str(tmp_path / "p.json"), "--detailed-exitcode"]) == 2
    capsys.readouterr()
    assert main([*argv, "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert plan_io.loads(captured.out).pool_id == "gitlab"  # stdout is the plan, nothing else
    assert "Plan: " in captured.err
    assert not (Path.cwd() / "-").exists() and not (tmp_path / "-").exists()


def test_plan_json_envelope(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _setup(tmp_path)
    assert main([*argv, "-o", str(tmp_path / "p.json"), "--format", "json", "--detailed-exitcode"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "plan" and doc["exit_code"] == 2
    assert doc["summary"]["add"] == 3 and doc["summary"]["pending"] is True
    binding = next(i for i in doc["results"] if i["kind"] == "ensure_binding")
    assert binding["change"] == "add" and binding["members"]


def test_only_includes_the_dependencies() -> None:
    plan = plan_of()
    assert with_dependencies(plan, ["ensure_binding"]) == ["ensure_pool", "ensure_provider", "ensure_binding"]
    assert with_dependencies(plan, ["merge_request"]) == ["ensure_pool", "ensure_provider", "ensure_binding",
                                                          "merge_request"]
    assert with_dependencies(plan, ["disable_key"]) == ["disable_key"]  # keys pull in nothing
    assert with_dependencies(plan, None) is None


def test_render_table_escapes_hostile_cells_but_keeps_list_lines() -> None:
    from migrate.core.tables import cell_text, render_table

    rows = [["a\nforged  row", ["line 1", "line\x1b[2J 2"]], ["b", "c"]]
    text = render_table(rows, ["x", "y"], width=10_000)
    assert "\x1b" not in text and "a\\nforged  row" in text
    assert len(text.splitlines()) == 2 + 2 + 1  # header, rule, 2-line row, 1-line row
    assert cell_text(["p", "q"]) == "p\nq"
