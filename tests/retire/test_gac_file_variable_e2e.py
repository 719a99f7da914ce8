"""The key in a file-type CI/CD variable named GOOGLE_APPLICATION_CREDENTIALS, end to end on the
sandbox (issue 21): the CI file as `ci rewrite` writes it (the script exports the variable to the
federated configuration, since the CI/CD variable would win over YAML `variables:`), merged; its
pipeline signs in through federation while GitLab still sets the variable to the key file; the
key is retired, and after the grace period `keys delete` deletes the key *and* the variable."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import gitlab
import pytest
from helpers.keys_sandbox_org import (
    API_SA,
    NUMBER,
    PROVIDER,
    SETTINGS,
    START,
    TOKEN,
    Cli,
    by_target,
    clients,
    key_actions,
    key_state,
    kid,
    member,
    mr_action,
    pipeline,
)
from helpers.plan_fixtures import bind_params, scope_row
from helpers.sandbox_org import free_port, identity_project

from migrate.apply.merge_request_executor import MergeRequestExecutor
from migrate.ci import RewriteOptions, rewrite
from migrate.core.codec import decode_time
from migrate.core.model import Action, Plan
from migrate.core.state import State
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.gitlab.pipelines import GitLabPipelines
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org
from migrate.verify.runner import verify_plan

GAC = "GOOGLE_APPLICATION_CREDENTIALS"
OLD = textwrap.dedent(f"""
    deploy:
      script:
        - gcloud auth activate-service-account --key-file "${GAC}"
        - gcloud app deploy
    """).lstrip("\n")


def org(port: int) -> object:
    return parse_org({
        "seed": 12,
        "gitlab": {
            "users": [{"username": "migrator", "token": TOKEN, "admin": True, "email": "migrator@acme.example"}],
            "groups": [{"path": "acme", "id": 100, "projects": [
                {"path": "api", "id": 2004, "protected_branches": ["main"], "files": {".gitlab-ci.yml": OLD},
                 "variables": [{"key": GAC, "variable_type": "file",
                                "sa_key": {"service_account": API_SA, "key": "k1", "encoding": "json"}}]}]}],
        },
        "google": {
            "admin_token": "g-admin",
            "projects": [
                identity_project(NUMBER, port),
                {"project_id": "acme-prod", "number": 222222222222, "service_accounts": [
                    {"email": API_SA, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z",
                                                "last_authenticated": "2026-11-10T10:00:00Z"}],
                     "iam_policy": {"bindings": [{"role": "roles/iam.workloadIdentityUser",
                                                  "members": [member(2004)]}]}}]},
            ]},
    }, "gac org")


def test_gac_file_variable_migrates_retires_and_is_deleted(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    with Sandbox(org(port), gitlab_port=port, now=START) as sb:  # type: ignore[arg-type]
        new = rewrite(OLD, RewriteOptions(provider=PROVIDER, service_account=API_SA, verify_marker=True))
        assert new.status == "rewritten" and new.text is not None, new.reasons
        assert f'export {GAC}="${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}.json"' in new.text
        k1 = kid(sb, API_SA, "k1")
        ref = f"project:acme/api:{GAC}"
        mr = mr_action("acme/api", OLD, new.text, API_SA, k1, ref, "deploy")
        var = {"level": "project", "owner": "acme/api", "owner_id": 2004, "name": GAC, "environment_scope": "*",
               "ref": ref}
        bind = Action(f"ensure_binding:{API_SA}", "ensure_binding", f"projects/acme-prod/serviceAccounts/{API_SA}",
                      "bind", params=bind_params(API_SA, member(2004), scopes=(scope_row("acme/api"),),
                                                 resource=f"projects/acme-prod/serviceAccounts/{API_SA}"))
        plan = Plan(gitlab_url=sb.gitlab_url, identity_project="acme-id", project_number=NUMBER, pool_id="gitlab",
                    provider_id="gitlab", generated_at=decode_time("2026-11-19T00:00:00Z"), inventory_digest="sha256:x",
                    actions=(bind, mr, *key_actions(API_SA, k1, mr.id, [var])))
        state = State(tmp_path / "state")
        executor = MergeRequestExecutor(GitLabMergeRequests(clients(sb)), SETTINGS, plan, dry_run=False,
                                        concurrency=1)
        assert executor.execute(mr).outcome == "applied"
        gl = gitlab.Gitlab(sb.gitlab_url, private_token=TOKEN)
        for opened in gl.projects.get("acme/api").mergerequests.list(state="opened", get_all=True):
            opened.merge()
        verified = {r.action_id: r.status for r in verify_plan(GitLabPipelines(clients(sb)), plan, "wif-migrate/",
                                                               state)}
        assert verified == {mr.id: "verified"}, verified

        cli = Cli(sb, tmp_path, plan, capsys, monkeypatch)
        sb.clock.advance(timedelta(days=2))
        code, out = cli("retire")
        assert code == 0 and by_target(out, "disable_key")[k1]["outcome"] == "applied", out
        assert key_state(sb, k1) == "DISABLED"
        # GitLab still sets the variable to the (now disabled) key file; the federated job passes
        assert pipeline(sb, "acme/api") == "success"

        sb.clock.advance(timedelta(days=14, hours=1))
        code, out = cli("delete", "--key", k1)
        assert code == 0, out
        assert by_target(out, "delete_key")[k1]["outcome"] == "applied"
        assert by_target(out, "delete_variable")[ref]["outcome"] == "applied"
        assert [v.key for v in sb.gitlab.variables("acme/api")] == []
        assert key_state(sb, k1) == "DELETED"
        # and without the variable the rewritten pipeline still signs in
        assert pipeline(sb, "acme/api") == "success"
