"""`plan --emit terraform`: names unique from the full identity, `terraform fmt`-clean, loadable by the
real Terraform CLI, and complete (bindings `apply` already made stay in it after a re-plan)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.plan_fixtures import (
    INVENTORY,
    V_API,
    V_GROUP,
    V_TF,
    config,
    confirmed,
    facts,
    ident,
    line_rewriter,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.state import State
from migrate.plan import terraform
from migrate.plan.planner import LiveFederation, build_plan, derive

PROD = "terraform@acme-prod.iam.gserviceaccount.com"
STAGING = "terraform@acme-staging.iam.gserviceaccount.com"
TF = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TF is None, reason="the terraform CLI is not installed (shutil.which)")


def _same_named_inventory():  # type: ignore[no-untyped-def]
    """Two accounts with the same local part in two projects (the issue's `terraform_0` collision)."""
    api = dataclasses.replace(V_API, key=ident(PROD, "a1" * 20))
    tf = dataclasses.replace(V_TF, key=ident(STAGING, "b1" * 20, "acme-staging"))
    variables = tuple(api if v == V_API else tf if v == V_TF else v for v in INVENTORY.variables)
    keys = tuple(confirmed(v.key) for v in (api, V_GROUP, tf) if v.key is not None)
    return dataclasses.replace(INVENTORY, variables=variables, key_facts=keys)


def _plan(**kw):  # type: ignore[no-untyped-def]
    return build_plan(_same_named_inventory(), config(), facts(**kw), line_rewriter).plan


def _resource_names(text: str) -> list[tuple[str, str]]:
    return re.findall(r'^resource "([^"]+)" "([^"]+)"', text, re.M)


def _import_targets(text: str) -> list[str]:
    return re.findall(r"^\s*to\s*=\s*(\S+)$", text, re.M)


def test_names_are_unique_and_say_account_project_and_member() -> None:
    files = terraform.render(_plan())
    names = _resource_names(files["wif.tf"])
    assert len(names) == len(set(names))
    members = [n for t, n in names if t == "google_service_account_iam_member"]
    assert any(n.startswith("terraform_acme_prod_") for n in members)
    assert any(n.startswith("terraform_acme_staging_") for n in members)
    assert "terraform_acme_prod_project_protected_1001_protected" in members


def test_bindings_apply_made_stay_in_the_output_after_a_re_plan(tmp_path: Path) -> None:
    d = derive(_plan().inputs).design
    gone = "gone@acme-old.iam.gserviceaccount.com"
    resource = f"projects/acme-old/serviceAccounts/{gone}"
    member = f"principalSet://iam.googleapis.com/{d.pool_name}/attribute.project_id/1009"
    state = State(tmp_path)
    state.outcome("apply", f"ensure_binding:{gone}", "ensure_binding", resource, "applied", "added 1",
                  {"added": [member], "already": [], "dry_run": False})
    state.outcome("apply", "ensure_binding:x@p.iam.gserviceaccount.com", "ensure_binding",
                  "projects/p/serviceAccounts/x@p.iam.gserviceaccount.com", "failed", "boom", {"added": ["nope"]})
    applied = terraform.applied_bindings(state.entries("apply"))
    assert applied == {resource: [member]}  # a failed write is no evidence
    files = terraform.render(_plan(), applied)
    assert f'member             = "{member}"' in files["wif.tf"]
    assert "applied earlier by wif-migrate (journal)" in files["wif.tf"]
    assert f'"{resource} roles/iam.workloadIdentityUser {member}"' in files["imports.tf"]


def test_imports_target_declared_resources_only() -> None:
    plan = _plan(live=LiveFederation(True, {"state": "ACTIVE"}, {"state": "ACTIVE"}))
    files = terraform.render(plan)
    declared = {f"{t}.{n}" for t, n in _resource_names(files["wif.tf"])}
    targets = _import_targets(files["imports.tf"])
    assert "google_iam_workload_identity_pool_provider.gitlab" in targets
    assert targets and set(targets) <= declared
    broken = files["imports.tf"].replace("google_iam_workload_identity_pool.gitlab", "google_x.gitlab")
    assert not set(_import_targets(broken)) <= declared  # the check can fail


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["terraform", "ci", "ci-bot", "ci_bot"]),
                          st.sampled_from(["acme-prod", "acme_prod", "acme-staging"]),
                          st.sampled_from(["attribute.project_id/1", "attribute.project_id/1:", "subject/a b"])),
                min_size=1, max_size=12, unique=True))
def test_names_never_collide(identities: list[tuple[str, str, str]]) -> None:
    keys = [(f"{a}@{p}.iam.gserviceaccount.com", f"principalSet://x/{m}") for a, p, m in identities]
    names = terraform._unique(keys)  # noqa: SLF001 - the naming rule itself is the unit under test
    assert len(set(names.values())) == len(keys)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names.values())


def _terraform(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1",
           "HOME": str(cwd), "TF_IN_AUTOMATION": "1"}
    assert TF is not None
    return subprocess.run([TF, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@needs_terraform
def test_the_terraform_cli_formats_and_loads_it(tmp_path: Path) -> None:
    """`terraform fmt -check` passes and `terraform providers` loads the whole configuration (it
    decodes every block, offline, and fails on duplicate resources or bad syntax; `validate` would
    need the provider, which cannot be downloaded here)."""
    plan = _plan(live=LiveFederation(True, {"state": "ACTIVE"}, {"state": "ACTIVE"}),
                 live_bindings={PROD: ("x",)})
    for name, text in terraform.render(plan, {"projects/p/serviceAccounts/old@p.iam.gserviceaccount.com":
                                                  ["principalSet://x/attribute.project_id/9"]}).items():
        (tmp_path / name).write_text(text)
    fmt = _terraform(["fmt", "-check", "-diff", "-no-color"], tmp_path)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    loaded = _terraform(["providers", "-no-color"], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "hashicorp/google" in loaded.stdout
    # The checks can fail: the old naming (`terraform_0` twice) and unaligned text are caught.
    text = (tmp_path / "wif.tf").read_text()
    (tmp_path / "wif.tf").write_text(re.sub(r'"terraform_acme_(prod|staging)_[a-z0-9_]+"', '"terraform_0"', text))
    dup = _terraform(["providers", "-no-color"], tmp_path)
    assert dup.returncode != 0 and "Duplicate resource" in dup.stderr
    (tmp_path / "wif.tf").write_text(text.replace("role               =", "role ="))
    assert _terraform(["fmt", "-check"], tmp_path).returncode != 0
