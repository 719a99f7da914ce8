"""SARIF 2.1.0 from `check`, so code-scanning dashboards (GitHub, GitLab's SARIF import, Azure DevOps,
any SARIF viewer) show where keys are held and used.

One result per exposure. A CI location is a physical location `<project>/<file>` with its lines
(the run covers many projects, so the project is part of the URI, relative to the GitLab instance
as `originalUriBaseIds.GITLAB`); a CI/CD variable is not in any file, so it is a logical location
(`project:acme/api:GCP_SA_KEY`). Stable `partialFingerprints` (the same as the GitLab report's
ids) let dashboards track a finding across runs. Never key material: the variable name and the
key's identity only.

Schema: https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from migrate.core.codec import format_time
from migrate.report.findings import FindingsDocument, KeyExposure

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
_NAMESPACE = uuid.UUID("5f1d0d2e-7b0c-4e53-9a53-7769662d6d69")  # the GitLab report's: same ids
RULES = {
    "variable": ("gcp-sa-key-ci-variable", "A Google service-account key is stored in a GitLab CI/CD variable"),
    "usage": ("gcp-sa-key-ci-usage", "A GitLab CI job authenticates to Google with a service-account key"),
}
LEVEL = {None: "error", "found": "error", "mr_opened": "error", "migrated": "warning", "disabled": "note",
         "deleted": "note"}


def _message(e: KeyExposure) -> str:
    key = f"key {e.key_id} of {e.service_account}" if e.key_id else "a value suspected to be a key"
    status = f" (migration status: {e.key_status})" if e.key_status else ""
    if e.kind == "variable":
        return f"CI/CD variable {e.subject} holds {key}{status}."
    via = f" from variable {e.variable}" if e.variable else ""
    jobs = f" (jobs: {', '.join(e.jobs)})" if e.jobs else ""
    return f"{e.project}/{e.file}{jobs} authenticates with {key}{via}{status}."


def _result(e: KeyExposure, index: dict[str, int]) -> dict[str, Any]:
    rule_id = RULES[e.kind][0]
    result: dict[str, Any] = {
        "ruleId": rule_id, "ruleIndex": index[rule_id], "level": LEVEL.get(e.key_status, "error"),
        "message": {"text": _message(e)},
        "partialFingerprints": {"wifMigrateFinding/v1": str(uuid.uuid5(_NAMESPACE, f"{e.kind}|{e.subject}|{e.key_id}"))},
        "properties": {"project": e.project, "service_account": e.service_account, "key_id": e.key_id,
                       "key_status": e.key_status or "unknown"},
    }
    if e.kind == "usage" and e.file:
        region: dict[str, int] = {}
        if e.start_line:
            region = {"startLine": e.start_line, "endLine": e.end_line or e.start_line}
        physical: dict[str, Any] = {"artifactLocation": {"uri": f"{e.project}/{e.file}", "uriBaseId": "GITLAB"}}
        if region:
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    else:
        result["locations"] = [{"logicalLocations": [{"fullyQualifiedName": e.subject, "kind": "variable"}]}]
    return result


def render(doc: FindingsDocument) -> str:
    rules: list[dict[str, Any]] = [{"id": rid, "name": rid.replace("-", "_"), "shortDescription": {"text": text},
              "helpUri": "https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines",
              "help": {"text": "Move the pipelines to Workload Identity Federation (wif-migrate plan, apply, "
                               "verify), then disable and delete the key and the variable (wif-migrate keys)."}}
             for rid, text in RULES.values()]
    index = {str(r["id"]): i for i, r in enumerate(rules)}
    notifications = [{"level": "error", "message": {"text": f"{i.subject} could not be read: {i.reason}"}}
                     for i in doc.errors]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "wif-migrate", "version": doc.tool_version, "informationUri":
                            "https://cloud.google.com/iam/docs/workload-identity-federation", "rules": rules}},
        "originalUriBaseIds": {"GITLAB": {"uri": doc.gitlab_url.rstrip("/") + "/"}},
        "invocations": [{"executionSuccessful": not doc.errors, "toolExecutionNotifications": notifications,
                         "endTimeUtc": format_time(doc.generated_at)}],
        "results": [_result(e, index) for e in doc.exposures],
    }
    return json.dumps({"$schema": SCHEMA, "version": VERSION, "runs": [run]}, indent=2, ensure_ascii=False) + "\n"
