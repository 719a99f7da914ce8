"""`scan` against the demo org: real python-gitlab and google-api-python-client over HTTP.

Expectations are derived from the org file and from what the sandbox KeyStore issued (never
hard-coded key ids); a few literal spot checks pin behaviour a user would notice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrate.core.codec import EPOCH
from migrate.core.config import parse_config
from migrate.core.keyfile import public_key_sha256
from migrate.core.model import Inventory, KeyIdentity, KeyVariable
from migrate.core.progress import SilentProgress
from migrate.gitlab.client import GitLabClients
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org
from migrate.scan.runner import ScanOptions, scan


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_org("demo")) as sb:
        yield sb


@pytest.fixture(scope="module")
def inventory(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    from migrate.cli.scan import run_scan

    state = tmp_path_factory.mktemp("state")
    config = parse_config(sandbox.config_dict(state_dir=str(state)))
    os.environ.update(sandbox.env())
    sandbox.gitlab.log.clear()
    inv, _stats = run_scan(config, SilentProgress())
    return inv


def seeded_variables(sandbox: Sandbox) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(level, owner path, variable spec, project spec or {}) for every variable in the org file."""
    spec = sandbox.org.gitlab
    for v in spec.get("instance_variables") or []:
        yield "instance", "", v, {}

    def walk(group: dict[str, Any], prefix: str) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
        path = f"{prefix}{group['path']}"
        for v in group.get("variables") or []:
            yield "group", path, v, {}
        for p in group.get("projects") or []:
            for v in p.get("variables") or []:
                yield "project", f"{path}/{p['path']}", v, p
        for sub in group.get("subgroups") or []:
            yield from walk(sub, f"{path}/")

    for g in spec.get("groups") or []:
        yield from walk(g, "")


def find_var(inv: Inventory, level: str, owner: str, name: str, scope: str = "*") -> KeyVariable | None:
    return next((v for v in inv.variables if (v.level, v.owner, v.name, v.environment_scope)
                 == (level, owner, name, scope)), None)


def test_every_seeded_key_is_found_with_its_variable_and_identity(sandbox: Sandbox, inventory: Inventory) -> None:
    checked = 0
    for level, owner, spec, project in seeded_variables(sandbox):
        found = find_var(inventory, level, owner, spec["key"], spec.get("environment_scope", "*"))
        if "sa_key" not in spec:
            assert found is None, f"{owner}:{spec['key']} holds no key"
            continue
        if project.get("archived") or "guest" in (project.get("max_role") or {}).values():
            assert found is None  # archived: skipped row; guest: ERROR row (checked below)
            continue
        assert found is not None, f"{level}:{owner}:{spec['key']} not found"
        if spec.get("hidden"):
            assert found.key is None and found.suspected_reason
            continue
        issued = sandbox.keys.issue(spec["sa_key"]["service_account"], spec["sa_key"]["key"])
        assert found.key == KeyIdentity(issued.service_account, issued.key_id, issued.project_id,
                                        public_key_sha256(issued.private_pem))
        assert found.encoding == spec["sa_key"].get("encoding", "json")
        assert found.variable_type == spec.get("variable_type", "env_var")
        assert found.protected == bool(spec.get("protected", False))
        checked += 1
    assert checked >= 6


def test_hidden_variable_used_like_a_key_is_suspected(inventory: Inventory) -> None:
    var = find_var(inventory, "project", "acme/platform/monitoring", "GCP_MONITORING_KEY")
    assert var is not None and var.hidden and var.key is None
    assert var.suspected_reason is not None and "hidden" in var.suspected_reason
    usage = next(u for u in inventory.usages if u.finding.variable == "GCP_MONITORING_KEY")
    assert usage.variables == (var.ref,)


def test_a_project_the_token_cannot_read_is_an_error_row(inventory: Inventory) -> None:
    row = next(p for p in inventory.projects if p.path == "labs/data-pipeline")
    assert row.status == "error" and row.error and "403" in row.error
    assert not [u for u in inventory.usages if "labs/data-pipeline" in u.consumers]


def test_every_usage_points_at_the_right_file_lines_and_jobs(sandbox: Sandbox, inventory: Inventory) -> None:
    for usage in inventory.usages:
        text = sandbox.gitlab.file(usage.file_project, usage.file_path)  # test helper, no HTTP
        lines = text.splitlines()
        f = usage.finding
        assert 1 <= f.line <= f.end_line <= len(lines)
        span = "\n".join(lines[f.line - 1:f.end_line])
        if f.variable:
            assert re.search(r"\$\{?" + f.variable + r"\b", span), (usage.file_path, f)
        else:
            assert "activate-service-account" in span or "_json_key" in span
        for job in f.jobs:
            assert re.search(rf"^['\"]?{re.escape(job)}['\"]?:", text, re.M), job
    # literal spot check: the template's auth step, lines 6-7, in hidden job .gcp-auth
    tpl = [u for u in inventory.usages if u.file_path == "templates/gcp-auth.yml"]
    assert {(u.finding.line, u.finding.jobs) for u in tpl} == {(6, (".gcp-auth",)), (7, (".gcp-auth",))}


def test_every_project_is_accounted_for(sandbox: Sandbox, inventory: Inventory) -> None:
    visible = {p.path_with_namespace for p in sandbox.gitlab.db.projects.values()
               if "migrator" not in p.no_access}
    assert {p.path for p in inventory.projects} == visible
    statuses = {p.path: p.status for p in inventory.projects}
    assert statuses["acme/legacy/old-reporting"] == "skipped"  # archived
    assert "labs/secret-sauce" not in statuses  # invisible to the token: GitLab does not list it


def test_inherited_group_and_instance_variables_link_to_the_right_projects(inventory: Inventory) -> None:
    android = next(u for u in inventory.usages if "acme/apps/mobile/android-app" in u.consumers)
    assert android.variables == ("group:acme/apps:GCP_SA_KEY",)
    ml = next(u for u in inventory.usages if "labs/ml-experiments" in u.consumers and u.finding.variable)
    assert ml.variables == ("instance::GCP_SHARED_READER_KEY",)
    record = next(p for p in inventory.projects if p.path == "acme/apps/mobile/android-app")
    group_ids = {g.path: g.id for g in inventory.groups}
    assert record.ancestor_ids == (group_ids["acme"], group_ids["acme/apps"], group_ids["acme/apps/mobile"])


def test_environment_scoped_variables_link_by_job_environment(inventory: Inventory) -> None:
    tf = [u for u in inventory.usages if u.file_project == "acme/platform/infra-terraform" and u.finding.variable]
    only_prod = [u for u in tf if u.finding.jobs == ("apply:production",)]
    assert only_prod and all(u.variables == ("project:acme/platform/infra-terraform:TF_SA_KEY[production]",)
                             for u in only_prod)


def test_shared_template_is_recorded_once_with_its_consumers_and_fetched_once(
        sandbox: Sandbox, inventory: Inventory) -> None:
    tpl = [u for u in inventory.usages if u.file_project == "acme/platform/ci-templates"]
    assert tpl and all(u.consumers == ("acme/apps/checkout", "acme/apps/storefront") for u in tpl)
    assert len({(u.file_path, u.finding.line) for u in tpl}) == len(tpl)
    fetches = [e for e in sandbox.gitlab.requests_log()
               if e["path"].endswith("templates%2Fgcp-auth.yml/raw")]
    assert len(fetches) == 1


def test_federated_project_is_recognised(inventory: Inventory) -> None:
    row = next(p for p in inventory.projects if p.path == "acme/apps/payments-api")
    assert row.auth == "federated"
    assert not [u for u in inventory.usages if "acme/apps/payments-api" in u.consumers]


def test_google_facts_match_the_google_sandbox(sandbox: Sandbox, inventory: Inventory) -> None:
    specs = {}
    for project in sandbox.org.google.get("projects") or []:
        for sa in project.get("service_accounts") or []:
            for k in sa.get("keys") or []:
                issued = sandbox.keys.issue(sa["email"], k["label"])
                specs[issued.key_id] = k
    assert inventory.key_facts
    for facts in inventory.key_facts:
        spec = specs[facts.key.key_id]
        assert facts.service_account_exists and facts.key_exists
        assert facts.key_matches is True and facts.key_type == "USER_MANAGED"  # the certificate matches
        assert facts.disabled == bool(spec.get("disabled", False))
        assert facts.created and facts.created[:10] == spec["created"][:10]
        assert facts.last_auth_unknown_reason is None
        assert (facts.last_authenticated is not None) == bool(spec.get("last_authenticated"))


def test_last_authentication_unknown_with_the_reason_when_policy_analyzer_refuses(sandbox: Sandbox) -> None:
    from migrate.google.clients import GoogleClients
    from migrate.google.key_facts import KeyFactsReader

    assert sandbox.google is not None
    config = parse_config(sandbox.config_dict())
    os.environ.update(sandbox.env())
    issued = sandbox.keys.issue("deployer@acme-prod.iam.gserviceaccount.com", "k1")
    sandbox.google.add_fault(Fault("*", "activities:query", 403, count=-1,
                                   body={"error": {"code": 403, "status": "PERMISSION_DENIED",
                                                   "message": "Permission denied"}}))
    try:
        facts = KeyFactsReader(GoogleClients(config.google)).facts(
            KeyIdentity(issued.service_account, issued.key_id, issued.project_id))
    finally:
        sandbox.google.faults.clear()
    assert facts.key_exists is True and facts.last_authenticated is None
    assert facts.last_auth_unknown_reason and "403" in facts.last_auth_unknown_reason


def test_requests_per_project_stay_low(sandbox: Sandbox, inventory: Inventory) -> None:
    scanned = sum(1 for p in inventory.projects if p.status != "skipped")
    requests = [e for e in sandbox.gitlab.requests_log() if e["path"].startswith("/api/")]
    # one pipeline-schedule listing per project that used a key (the plan's no-use window, issue 16 §5),
    # plus, per scanned project, one listing and one GET per schedule (only that GET carries the
    # schedule's variables: issue 14), each schedule read once
    schedules = [e for e in requests if e["path"].endswith("/pipeline_schedules")]
    single = [e["path"] for e in requests if re.search(r"/pipeline_schedules/\d+$", e["path"])]
    keyed = sum(1 for p in inventory.projects if p.schedule_interval_s is not None)
    assert keyed <= scanned and len(schedules) <= keyed + scanned
    assert len(single) == len(set(single))
    assert len(requests) - len(schedules) - len(single) <= 3.5 * scanned  # demo projects include several files each


def test_variables_403_is_a_problem_not_a_crash(sandbox: Sandbox) -> None:
    """With a Reporter token: variables are 403 everywhere, CI files still read."""
    config = parse_config(sandbox.config_dict())
    clients = GitLabClients(config.gitlab, None, token="sandbox-reporter-token")
    from migrate.gitlab.read import GitLabReader

    inv = scan(ScanOptions(config.gitlab.url, config.scope, 4, generated_at=EPOCH), GitLabReader(clients), None)
    assert any(p.subject.startswith("project:") and "variables not readable" in p.reason for p in inv.problems)
    assert any(u.finding.variable == "GCP_SA_KEY" for u in inv.usages)
    assert not [v for v in inv.variables if v.level == "project"]


def test_inventory_round_trips(inventory: Inventory, tmp_path: Path) -> None:
    from migrate.scan import inventory_io

    path = inventory_io.write(inventory, tmp_path / "inv.json")
    assert inventory_io.read(path) == inventory
