"""A fixed migration in progress, used by every report test.

Three keys, six projects:
- KEY_API (deployer@acme-prod): project variable of acme/api, used by its .gitlab-ci.yml; created
  2025-06-01 (older than 90 days); MR merged and verified, then disabled on 03-05.
- KEY_GROUP (builder@acme-ci): group variable of acme, used by a shared template in acme/templates
  that acme/web includes; created 2026-02-01; MR opened, not verified; last use unknown.
- KEY_OLD (old@acme-prod): held nowhere any more; disabled at scan time, deleted on 03-04.
acme/docs is keyless, acme/secret could not be read (ERROR), acme/legacy has a hidden variable.
The plan's binding for builder@ is namespace-wide (a FAIL), the one for deployer@ is project-scoped.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from helpers.plan_fixtures import bind_params, ensure_params, mr_params, retired
from migrate.core.codec import decode_time
from migrate.core.model import (
    Action,
    CIFinding,
    GroupRecord,
    ImpersonationRow,
    Inventory,
    KeyFacts,
    KeyIdentity,
    KeyUsage,
    KeyVariable,
    Plan,
    Problem,
    ProjectRecord,
    to_dict,
)
from migrate.core.state import JournalEntry
from migrate.report.findings import FindingsDocument

NOW = "2026-03-10T12:00:00Z"
NOW_AT = decode_time(NOW)  # the report's now as `--now NOW` gives it (cli.report.report_time)
KEY_API = KeyIdentity("deployer@acme-prod.iam.gserviceaccount.com", "a1" * 20, "acme-prod")
KEY_GROUP = KeyIdentity("builder@acme-ci.iam.gserviceaccount.com", "b2" * 20, "acme-ci")
KEY_OLD = KeyIdentity("old@acme-prod.iam.gserviceaccount.com", "c3" * 20, "acme-prod")
POOL = "principalSet://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/gitlab"
PROVIDER = "projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab"


def project(pid: int, path: str, **kw: Any) -> ProjectRecord:
    return ProjectRecord(id=pid, path=path, namespace_id=100, namespace_path="acme", ancestor_ids=(100,),
                         default_branch="main", **kw)


VAR_API = KeyVariable("project", "acme/api", 1001, "GCP_SA_KEY", "file", protected=True, masked=False,
                      environment_scope="production", key=KEY_API)
VAR_GROUP = KeyVariable("group", "acme", 100, "GCP_GROUP_KEY", "env_var", masked=True, encoding="base64",
                        key=KEY_GROUP)
VAR_HIDDEN = KeyVariable("project", "acme/legacy", 1006, "DEPLOY_CREDENTIALS", hidden=True, encoding="unknown",
                         suspected_reason="hidden variable named like a credential")


def inventory(generated_at: str = "2026-03-01T10:00:00Z", old_disabled: bool = True) -> Inventory:
    return Inventory(
        gitlab_url="https://gitlab.example.com", gitlab_version="17.5.0", generated_at=decode_time(generated_at),
        groups=(GroupRecord(100, "acme"),),
        projects=(
            project(1001, "acme/api", auth="key"),
            project(1002, "acme/web", auth="key"),
            project(1003, "acme/templates"),
            project(1004, "acme/docs"),
            project(1005, "acme/secret", status="error", error="403 Forbidden: the token cannot read this project"),
            project(1006, "acme/legacy"),
        ),
        variables=(VAR_API, VAR_GROUP, VAR_HIDDEN),
        usages=(
            KeyUsage("acme/api", ".gitlab-ci.yml", "main",
                     CIFinding(12, 14, "gcloud_activate", "GCP_SA_KEY", ("deploy",), "gcloud auth activate-service-account"),
                     ("acme/api",), (VAR_API.ref,)),
            KeyUsage("acme/templates", "gcp.yml", "main",
                     CIFinding(3, 3, "google_application_credentials", "GCP_GROUP_KEY", (".gcp",), "GOOGLE_APPLICATION_CREDENTIALS"),
                     ("acme/web",), (VAR_GROUP.ref,)),
        ),
        key_facts=(
            KeyFacts(KEY_API, True, False, True, "2025-06-01T08:00:00Z", None, False, "2026-02-28T09:00:00Z"),
            KeyFacts(KEY_GROUP, True, False, True, "2026-02-01T08:00:00Z", None, False, None,
                     "Policy Analyzer: permission denied"),
            KeyFacts(KEY_OLD, True, False, True, "2024-01-01T00:00:00Z", None, old_disabled, None, "no signal"),
        ),
        problems=(
            Problem("file:acme/web:.gitlab-ci.yml", "the job builds its include path from a variable", "manual"),
            Problem("project:acme/secret", "403 Forbidden: the token cannot read this project", "error"),
        ),
    )


def plan() -> Plan:
    return Plan(
        gitlab_url="https://gitlab.example.com", identity_project="acme-identity", project_number="123456789",
        pool_id="gitlab", provider_id="gitlab", generated_at=decode_time("2026-03-01T11:00:00Z"), inventory_digest="sha256:0",
        actions=(
            Action("pool-1", "ensure_pool", "gitlab", "ensure pool", params=ensure_params(POOL)),
            Action("provider-1", "ensure_provider", PROVIDER, "ensure provider",
                   params=ensure_params(PROVIDER, {"attributeCondition": "assertion.namespace_id in ['100']"})),
            Action("binding-deployer", "ensure_binding", "projects/-/serviceAccounts/" + KEY_API.service_account,
                   "bind", params=bind_params(KEY_API.service_account,
                                              POOL + "/attribute.project_protected_environment/1001:protected:production")),
            Action("binding-builder", "ensure_binding", "projects/-/serviceAccounts/" + KEY_GROUP.service_account,
                   "bind", params=bind_params(KEY_GROUP.service_account, POOL + "/attribute.namespace_id/100")),
            # no keys recorded: the report finds the key through the findings
            Action("mr-api", "merge_request", "acme/api", "MR", findings=(VAR_API.ref,), params=mr_params("acme/api")),
            Action("mr-templates", "merge_request", "acme/templates", "MR",
                   params=mr_params("acme/templates", "gcp.yml",
                                    keys=(retired(KEY_GROUP.service_account, KEY_GROUP.key_id),))),
        ),
        impersonation=(ImpersonationRow(KEY_API.service_account, ("acme/api protected production",),
                                        ("acme/api protected production",), ()),),
        manual=(Problem("file:acme/legacy:.gitlab-ci.yml", "the key is written to disk by a custom script", "manual"),),
    )


def entry(seq: int, ts: str, stage: str, action_id: str, kind: str, target: str, outcome: str,
          evidence: dict[str, Any] | None = None) -> JournalEntry:
    return JournalEntry(seq, decode_time(ts), "run1", "alice@host", stage, action_id, kind, target, "outcome", outcome, "",
                        evidence or {})


def journal() -> list[JournalEntry]:
    api_mr = "https://gitlab.example.com/acme/api/-/merge_requests/7"
    tpl_mr = "https://gitlab.example.com/acme/templates/-/merge_requests/3"
    return [
        entry(1, "2026-03-02T09:00:00Z", "apply", "mr-api", "merge_request", "acme/api", "applied",
              {"project": "acme/api", "web_url": api_mr, "mr_iid": 7}),
        entry(2, "2026-03-02T09:01:00Z", "apply", "mr-templates", "merge_request", "acme/templates", "applied",
              {"project": "acme/templates", "web_url": tpl_mr, "mr_iid": 3}),
        entry(3, "2026-03-03T10:00:00Z", "verify", "mr-api", "verify", "acme/api", "applied",
              {"mr_state": "merged", "merged_at": "2026-03-03T09:00:00Z", "pipeline_id": 55, "web_url": api_mr}),
        entry(4, "2026-03-04T10:00:00Z", "keys", KEY_OLD.key_id, "delete_key",
              f"projects/acme-prod/serviceAccounts/{KEY_OLD.service_account}/keys/{KEY_OLD.key_id}", "applied"),
        entry(5, "2026-03-05T10:00:00Z", "keys", "disable-api", "disable_key", "key", "applied",
              {"service_account": KEY_API.service_account, "key_id": KEY_API.key_id}),
        entry(6, "2026-03-06T10:00:00Z", "keys", "disable-x", "disable_key", "key", "would_apply",
              {"service_account": KEY_GROUP.service_account, "key_id": KEY_GROUP.key_id}),
    ]


def snapshots() -> list[tuple[datetime, Any]]:
    early = inventory("2026-02-01T10:00:00Z", old_disabled=False)
    return [(decode_time("2026-02-01T10:00:05Z"), to_dict(early)),
            (decode_time("2026-03-01T10:00:05Z"), to_dict(inventory()))]


def fixture_commits(doc: FindingsDocument) -> dict[tuple[str, str, str], str]:
    """A made-up commit for every CI file a usage was read from (what `check`/`report` read from GitLab)."""
    return {(e.project, e.file, e.ref or ""): hashlib.sha1(f"{e.project}:{e.file}".encode()).hexdigest()
            for e in doc.exposures if e.kind == "usage" and e.file}
