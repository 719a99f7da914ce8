"""End to end on the demo org: scan → plan → apply (Google) → job ID tokens minted by the GitLab
sandbox obtain access tokens through google-auth's identity_pool credentials, and only the jobs
that could use the key before can impersonate after."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import pytest
from google.auth import identity_pool

from migrate.cli.verbs import main
from migrate.core.model import Plan
from migrate.plan import plan_io
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import OrgFile, load_org

EVIL = {"path": "acme-evil", "id": 900, "projects": [
    {"path": "api", "id": 9001, "default_branch": "main", "protected_branches": ["main"],
     "files": {".gitlab-ci.yml": "deploy:\n  script: [echo hi]\n"}}]}


def _org() -> OrgFile:
    org = load_org("demo")
    gitlab = copy.deepcopy(org.gitlab)
    gitlab["groups"] = [*gitlab["groups"], EVIL]
    return OrgFile(org.seed, gitlab, org.google, org.source)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Plan, Path]]:
    d = tmp_path_factory.mktemp("e2e")
    saved = dict(os.environ)
    cwd = os.getcwd()
    with Sandbox(_org()) as sb:
        try:
            os.chdir(d)
            os.environ.update(sb.env())
            os.environ["GOOGLE_CLOUD_PROJECT"] = "acme-identity"
            cfg = sb.config_dict(state_dir=str(d / "state"))
            cfg["scope"]["groups"] = [g for g in cfg["scope"]["groups"] if g != "acme-evil"]
            (d / "wif-migrate.yaml").write_text(json.dumps(cfg))
            assert main(["scan", "--format", "json", "-o", "inv.json"]) == 1
            assert main(["plan", "--inventory", "inv.json", "-o", "plan.json", "--no-diff"]) == 0
            plan = plan_io.read(d / "plan.json")
            google_kinds = ["--only", "ensure_pool", "--only", "ensure_provider", "--only", "ensure_binding"]
            assert main(["apply", "plan.json", "--dry-run", *google_kinds]) == 0
            assert [e for e in sb.google.mutating_requests() if not e["path"].endswith(":getIamPolicy")] == []
            assert main(["apply", "plan.json", *google_kinds]) == 0
            yield sb, plan, d
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(saved)


def _exchange(sb: Sandbox, plan: Plan, d: Path, sa: str, project: str, **mint: Any) -> str:
    """An access token for `sa` from a job token of `project`, or the error text."""
    binding = next(a for a in plan.actions if a.id == f"ensure_binding:{sa}")
    info = dict(binding.params.credential_configuration)
    audience = next(a for a in plan.actions if a.kind == "ensure_provider").params.desired["oidc"][
        "allowedAudiences"][0]
    token_file = d / f"token-{abs(hash((sa, project, json.dumps(mint, sort_keys=True))))}"
    token_file.write_text(sb.gitlab.mint_id_token(project, audience=audience, **mint) + "\n")
    info["credential_source"] = {"file": str(token_file), "format": {"type": "text"}}
    creds = identity_pool.Credentials.from_info(info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    try:
        creds.refresh(google.auth.transport.requests.Request())
    except (google.auth.exceptions.RefreshError, google.auth.exceptions.OAuthError) as exc:
        return f"refused: {exc}"
    assert creds.token
    return "ok"


def test_each_migrated_scope_obtains_a_token(migrated: tuple[Sandbox, Plan, Path]) -> None:
    sb, plan, d = migrated
    bindings = [a for a in plan.actions if a.kind == "ensure_binding"]
    assert len(bindings) >= 5
    for b in bindings:
        for s in b.params.scopes:
            result = _exchange(sb, plan, d, b.params.service_account, s.project, ref="main",
                               ref_protected=True, environment=s.environment)
            assert result == "ok", (b.id, s, result)


def test_a_project_that_never_had_the_key_is_refused(migrated: tuple[Sandbox, Plan, Path]) -> None:
    sb, plan, d = migrated
    result = _exchange(sb, plan, d, "deployer@acme-prod.iam.gserviceaccount.com", "acme/apps/docs-site",
                       ref="main", ref_protected=True)
    assert result.startswith("refused: ") and "Unable to acquire impersonated credentials" in result


def test_a_look_alike_namespace_is_refused_by_the_condition(migrated: tuple[Sandbox, Plan, Path]) -> None:
    sb, plan, d = migrated
    result = _exchange(sb, plan, d, "gcr-pusher@acme-prod.iam.gserviceaccount.com", "acme-evil/api",
                       ref="main", ref_protected=True)
    assert "rejected by the attribute condition" in result


def test_a_protected_key_refuses_an_unprotected_branch(migrated: tuple[Sandbox, Plan, Path]) -> None:
    sb, plan, d = migrated
    sa = "inventory-ci@acme-staging.iam.gserviceaccount.com"
    assert _exchange(sb, plan, d, sa, "acme/apps/inventory", ref="main", ref_protected=True) == "ok"
    result = _exchange(sb, plan, d, sa, "acme/apps/inventory", ref="feature/x", ref_protected=False)
    assert result.startswith("refused: ")


def test_an_environment_scoped_key_refuses_another_environment(migrated: tuple[Sandbox, Plan, Path]) -> None:
    sb, plan, d = migrated
    sa = "terraform@acme-prod.iam.gserviceaccount.com"
    project = "acme/platform/infra-terraform"
    assert _exchange(sb, plan, d, sa, project, ref="main", ref_protected=True, environment="production") == "ok"
    assert _exchange(sb, plan, d, sa, project, ref="main", ref_protected=True,
                     environment="staging").startswith("refused: ")


def test_apply_again_makes_no_mutating_request(migrated: tuple[Sandbox, Plan, Path]) -> None:
    sb, _plan, _d = migrated
    before = len(sb.google.mutating_requests())
    assert main(["apply", "plan.json", "--only", "ensure_pool", "--only", "ensure_provider",
                 "--only", "ensure_binding"]) == 0
    after = [e for e in sb.google.mutating_requests()[before:] if not e["path"].endswith(":getIamPolicy")]
    assert after == []
