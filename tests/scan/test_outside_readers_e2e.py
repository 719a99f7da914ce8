"""Readers outside the scope, end to end on the sandbox (issue 14, Deliver 4).

The observed case: a key in a *group* variable is inherited by every project of that group and its
subgroups (GitLab doc/ci/variables/_index.md, "For a group": "make a CI/CD variable available to all
projects in a group … Variables from subgroups are recursively inherited"). The configured scope
excludes one of those projects, so nothing looked at its CI; `keys retire` used to disable the key
after the in-scope project migrated, and the out-of-scope project's next pipeline failed.

Now: scan reports the out-of-scope reader, the plan lists it on the key's disable step, `keys
retire` refuses the key naming the project (the out-of-scope pipeline still signs in), and only an
explicit `--accept-outside-readers KEY_ID` disables it — journaled with who accepted it — and the
report shows both. Real python-gitlab / google clients over HTTP; the pipelines sign in for real.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gitlab
import pytest
import yaml
from helpers.sandbox_org import free_port

from migrate.cli.demo import _merge_all
from migrate.cli.verbs import main
from migrate.core.state import State
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

SA = "deployer@acme-prod.iam.gserviceaccount.com"
TOKEN = "t-migrator"
START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CI = """deploy:
  script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
    - gcloud run deploy web --region europe-west1
"""
NIGHTLY = """nightly:
  script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
    - bq query < reports/daily.sql
"""



def org() -> Any:
    return parse_org({
        "seed": 5,
        "gitlab": {
            "users": [{"username": "migrator", "token": TOKEN, "admin": True}],
            "groups": [{"path": "acme", "id": 100, "variables": [
                {"key": "GCP_SA_KEY", "variable_type": "file",
                 "sa_key": {"service_account": SA, "key": "k1", "encoding": "json"}}],
                "projects": [
                    {"path": "web", "id": 1001, "files": {".gitlab-ci.yml": CI}},
                    {"path": "legacy-reports", "id": 1002, "files": {".gitlab-ci.yml": NIGHTLY}},
                ]}],
        },
        "google": {
            "admin_token": "g-admin",
            "projects": [
                {"project_id": "acme-identity", "number": 499999999999,
                 "workload_identity_pools": [{"id": "gitlab", "state": "ACTIVE", "providers": []}]},
                {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [
                    {"email": SA, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z",
                                            "last_authenticated": "2026-11-10T07:00:00Z"}]}]},
            ]},
    }, "outside-readers org")


class World:
    def __init__(self, sb: Sandbox, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.sb, self.tmp, self.capsys = sb, tmp, capsys
        cfg = sb.config_dict(state_dir=str(tmp / "state"))
        cfg["scope"]["exclude"] = ["acme/legacy-*"]  # the operator left the legacy project out
        self.config = tmp / "c.yaml"
        self.config.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        self.plan = tmp / "plan.json"
        self.inventory = tmp / "inventory.json"

    def cli(self, *argv: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main([*argv, "--config", str(self.config)])
        return code, self.capsys.readouterr().out

    def key_id(self) -> str:
        return self.sb.keys.issue(SA, "k1").key_id

    def key_disabled(self) -> bool:
        return str(self.sb.google.key_state(self.key_id())["state"]) == "DISABLED"  # type: ignore[union-attr]

    def run_pipeline(self, project: str) -> str:
        gl = gitlab.Gitlab(self.sb.gitlab_url, private_token=TOKEN)
        p = gl.projects.get(project)
        created = p.pipelines.create({"ref": p.default_branch})
        return str(p.pipelines.get(created.id).status)


@pytest.fixture()
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    port = free_port()
    with Sandbox(org(), gitlab_port=port, now=START) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        yield World(sb, tmp_path, capsys)


def test_a_group_key_read_outside_the_scope_is_reported_and_not_disabled_unless_accepted(world: World) -> None:
    w = world
    kid = w.key_id()
    assert w.cli("scan", "-o", str(w.inventory), "--progress", "never")[0] == 1
    inventory = json.loads(w.inventory.read_text(encoding="utf-8"))
    outside = inventory.get("outside_readers") or []
    # scan: the excluded project can read the in-scope group variable, and says why it was not looked at
    assert [(r["variable"], r["project"]) for r in outside] == [("group:acme:GCP_SA_KEY", "acme/legacy-reports")]
    assert "scope.exclude" in outside[0]["reason"]

    code, printed = w.cli("plan", "--inventory", str(w.inventory), "-o", str(w.plan), "--no-diff")
    assert code == 0
    keys_table = printed.split("Keys to retire")[1]
    assert "readers outside the scope" in keys_table and "acme/legacy-reports" in keys_table
    plan = plan_io.read(w.plan)
    disable = next(a for a in plan.actions if a.kind == "disable_key")
    # plan: the disable step lists the reader, and the plan's review list says what retire will do
    assert [r.project for r in disable.params.outside_readers] == ["acme/legacy-reports"]
    assert any("acme/legacy-reports" in p.reason and p.subject == "variable:group:acme:GCP_SA_KEY"
               for p in plan.manual)

    assert w.cli("apply", str(w.plan))[0] == 0
    _merge_all(w.sb, str(w.config), w.plan)
    assert w.cli("verify", "--plan", str(w.plan))[0] == 0
    w.sb.clock.advance(timedelta(days=2))

    code, out = w.cli("keys", "retire", "--plan", str(w.plan), "--now", w.sb.clock.iso(), "--format", "json")
    result = next(r for r in json.loads(out)["results"] if r["kind"] == "disable_key")
    assert (code, result["outcome"]) == (1, "refused"), result
    assert any("acme/legacy-reports" in b and "outside" in b for b in result["blocking"]), result["blocking"]
    assert "--accept-outside-readers" in result["detail"]
    assert not w.key_disabled()
    # The out-of-scope job still works with the key, which is why the key was not disabled.
    assert w.run_pipeline("acme/legacy-reports") == "success"

    # A flag naming another key accepts nothing for this one.
    code, out = w.cli("keys", "retire", "--plan", str(w.plan), "--now", w.sb.clock.iso(), "--format", "json",
                      "--accept-outside-readers", "0" * 40)
    assert code == 2 and not w.key_disabled()

    w.sb.clock.advance(timedelta(days=2))  # the legacy sign-in above is before this retire's cut-over check
    code, out = w.cli("keys", "retire", "--plan", str(w.plan), "--now", w.sb.clock.iso(), "--format", "json",
                      "--accept-outside-readers", kid)
    result = next(r for r in json.loads(out)["results"] if r["kind"] == "disable_key")
    # The legacy project signed in with the key after the cut-over: the usage gate still refuses —
    # acceptance waives the unchecked readers, never the evidence that the key is in use.
    assert result["outcome"] == "refused", result
    assert [b for b in result["blocking"] if "after the cut-over" in b and "authenticated" in b], result
    assert not [b for b in result["blocking"] if "legacy-reports" in b], result["blocking"]
    assert not w.key_disabled()


def test_accepting_the_outside_readers_is_journaled_and_reported(world: World) -> None:
    w = world
    kid = w.key_id()
    assert w.cli("scan", "-o", str(w.inventory), "--progress", "never")[0] == 1
    assert w.cli("plan", "--inventory", str(w.inventory), "-o", str(w.plan), "--no-diff")[0] == 0
    assert w.cli("apply", str(w.plan))[0] == 0
    _merge_all(w.sb, str(w.config), w.plan)
    assert w.cli("verify", "--plan", str(w.plan))[0] == 0
    w.sb.clock.advance(timedelta(days=2))
    code, out = w.cli("keys", "retire", "--plan", str(w.plan), "--now", w.sb.clock.iso(), "--format", "json",
                      "--accept-outside-readers", kid)
    result = next(r for r in json.loads(out)["results"] if r["kind"] == "disable_key")
    assert (code, result["outcome"]) == (0, "applied"), result
    assert w.key_disabled()
    ev = result["evidence"]
    assert [r["project"] for r in ev["accepted_outside_readers"]] == ["acme/legacy-reports"]
    assert ev["accepted_outside_readers_by"]
    journaled = [e for e in State(w.tmp / "state").entries(stage="keys")
                 if e.kind == "disable_key" and e.phase == "outcome"]
    assert journaled[-1].evidence["accepted_outside_readers"] == ev["accepted_outside_readers"]
    # What the acceptance means: the job outside the scope now fails.
    assert w.run_pipeline("acme/legacy-reports") == "failed"

    code, _ = w.cli("report", "--out", str(w.tmp / "reports"), "--format", "md,json", "--plan", str(w.plan),
                    "--inventory", str(w.inventory), "--now", w.sb.clock.iso())
    doc = json.loads((w.tmp / "reports" / "report.json").read_text(encoding="utf-8"))
    key = next(k for k in doc["keys"] if k["key_id"] == kid)
    assert [r["project"] for r in key["outside_readers"]] == ["acme/legacy-reports"]
    assert key["outside_readers_accepted_by"] == ev["accepted_outside_readers_by"]
    md = (w.tmp / "reports" / "report.md").read_text(encoding="utf-8")
    assert "acme/legacy-reports" in md and "outside the scope" in md


def wide_org() -> Any:
    """A key in group `acme`, a key in an instance variable; the scope is one project, acme/platform/api."""
    ci = "deploy:\n  script:\n    - gcloud auth activate-service-account --key-file \"$GCP_SA_KEY\"\n"
    return parse_org({
        "seed": 6,
        "gitlab": {
            "users": [{"username": "migrator", "token": TOKEN, "admin": True}],
            "instance_variables": [{"key": "SHARED_KEY", "sa_key": {"service_account": SA, "key": "k2",
                                                                    "encoding": "base64"}}],
            "groups": [
                {"path": "acme", "id": 100, "variables": [
                    {"key": "GCP_SA_KEY", "variable_type": "file",
                     "sa_key": {"service_account": SA, "key": "k1", "encoding": "json"}}],
                 "subgroups": [
                     {"path": "platform", "id": 110, "projects": [{"path": "api", "id": 1001,
                                                                  "files": {".gitlab-ci.yml": ci}}]},
                     {"path": "apps", "id": 120, "projects": [
                         {"path": "shop", "id": 1002, "files": {".gitlab-ci.yml": ci}},
                         {"path": "attic", "id": 1003, "archived": True}]}]},
                {"path": "tools", "id": 200, "projects": [{"path": "bot", "id": 2001}]},
            ],
        },
        "google": {"admin_token": "g-admin", "projects": [
            {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [
                {"email": SA, "keys": [{"label": "k1"}, {"label": "k2"}]}]}]},
    }, "wide org")


def test_scan_lists_readers_above_a_narrow_scope_through_the_real_listing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Scope = one project. The key in its ancestor group `acme` reaches acme/apps/* too, and the
    instance key reaches every project; scan lists them through GitLab's own listings (python-gitlab
    over HTTP): `GET /groups/100/projects?include_subgroups=true`, `GET /projects`."""
    with Sandbox(wide_org(), gitlab_port=free_port(), now=START) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        cfg = sb.config_dict(state_dir=str(tmp_path / "state"))
        cfg["scope"] = {"groups": [], "projects": ["acme/platform/api"]}
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        capsys.readouterr()
        assert main(["scan", "-o", str(tmp_path / "inv.json"), "--progress", "never", "--no-google",
                     "--config", str(tmp_path / "c.yaml")]) == 1
        printed = capsys.readouterr().out
        listed = [e["path"] for e in sb.gitlab.requests_log() if e["path"].endswith("/projects")]
    inventory = json.loads((tmp_path / "inv.json").read_text(encoding="utf-8"))
    got = sorted((r["variable"], r["project"], r["archived"]) for r in inventory["outside_readers"])
    assert got == [
        ("group:acme:GCP_SA_KEY", "acme/apps/attic", True), ("group:acme:GCP_SA_KEY", "acme/apps/shop", False),
        ("instance::SHARED_KEY", "acme/apps/attic", True), ("instance::SHARED_KEY", "acme/apps/shop", False),
        ("instance::SHARED_KEY", "tools/bot", False)]
    assert sorted(set(listed)) == ["/api/v4/groups/100/projects", "/api/v4/projects"]
    assert listed.count("/api/v4/groups/100/projects") == 1  # once per group, not per variable
    assert "acme/apps/shop" in printed and "tools/bot" in printed  # the scan's own summary says so
