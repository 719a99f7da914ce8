"""GitLab secret-detection report (`gl-secret-detection-report.json`, schema 15.2.1) so key findings
appear in GitLab's security dashboard (Ultimate; lower tiers keep the artifact).

One vulnerability per exposure: each CI/CD variable holding a key and each CI location using one.
Ids are UUIDv5 of (kind, location, key id), so the same finding keeps its id across runs and GitLab
tracks it instead of opening a new one. The key material never appears: `raw_source_code_extract`
names the variable and the key's identity only.

Location: a usage points at `<project>/<file>` (the report covers many projects, so the project
is part of the path) with its lines, and `commit.sha` is the ref the file was read at. A variable
lives outside any repository; its `file` is the variable's reference and `commit.sha` the all-zero
id, because the schema requires one (reference/gitlab.md §8).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from migrate.report.findings import Exposure, FindingsDocument
from migrate.report.text import framework_refs

FILENAME = "gl-secret-detection-report.json"
SCHEMA_VERSION = "15.2.1"
SCHEMA_URL = ("https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
              f"v{SCHEMA_VERSION}/dist/secret-detection-report-format.json")
NO_COMMIT = "0" * 40
_NAMESPACE = uuid.UUID("5f1d0d2e-7b0c-4e53-9a53-7769662d6d69")  # fixed: ids must be stable forever
SEVERITY = {None: "Unknown", "found": "Critical", "mr_opened": "Critical", "migrated": "High",
            "disabled": "Medium", "deleted": "Low"}
CIS_CONTROL = "gcp-sa-only-google-managed-keys"


def _time(ts: str) -> str:
    """GitLab wants YYYY-MM-DDTHH:MM:SS: no zone, no fraction (times here are UTC)."""
    return ts.replace("Z", "")[:19]


def _identifiers(e: Exposure, doc: FindingsDocument) -> list[dict[str, str]]:
    rule = "gcp-sa-key-ci-variable" if e.kind == "variable" else "gcp-sa-key-ci-usage"
    ids = [{"type": "wif_migrate_rule_id", "name": "Google Cloud service-account key in GitLab CI", "value": rule}]
    if e.key_id:
        ids.append({"type": "gcp_service_account_key", "name": f"{e.service_account} key {e.key_id}",
                    "value": e.key_id})
    for control in doc.controls:
        if control.id == CIS_CONTROL:
            ids += [{"type": "cis_gcp", "name": label, "value": label.split(" (")[0].rsplit(" ", 1)[-1]}
                    for label in framework_refs(r for r in control.frameworks if r.framework.startswith("CIS"))]
    return ids[:20]


def _describe(e: Exposure) -> tuple[str, str, str]:
    key = f"key {e.key_id} of {e.service_account}" if e.key_id else "a value suspected to be a key"
    status = f" (migration status: {e.key_status})" if e.key_status else ""
    if e.kind == "variable":
        name = f"Service-account key in CI/CD variable {e.variable}"
        desc = f"The CI/CD variable {e.subject} holds {key}{status}; {e.detail}."
        extract = f"{e.variable} = <{key}>"
    else:
        name = f"Service-account key used in {e.project}/{e.file}"
        lines = f"line {e.start_line}" if e.start_line == e.end_line else f"lines {e.start_line}-{e.end_line}"
        desc = (f"{e.project}/{e.file} {lines} (jobs: {', '.join(e.jobs) or 'none'}) "
                f"authenticate with {key} from ${e.variable or '?'}{status}; {e.detail}.")
        extract = f"${e.variable} -> {key}"
    return name, desc, extract


def _vulnerability(e: Exposure, doc: FindingsDocument) -> dict[str, Any]:
    name, desc, extract = _describe(e)
    if e.kind == "variable":
        location: dict[str, Any] = {"file": e.subject, "commit": {"sha": NO_COMMIT}}
    else:
        location = {"file": f"{e.project}/{e.file}", "start_line": e.start_line, "end_line": e.end_line,
                    "commit": {"sha": e.ref or NO_COMMIT}}
    return {
        "id": str(uuid.uuid5(_NAMESPACE, f"{e.kind}|{e.subject}|{e.key_id}")),
        "name": name,
        "description": desc,
        "severity": SEVERITY.get(e.key_status, "Unknown"),
        "solution": "Move the pipelines to Workload Identity Federation (wif-migrate plan, apply, verify), then "
                    "disable and delete the key and the variable (wif-migrate keys).",
        "identifiers": _identifiers(e, doc),
        "location": location,
        "raw_source_code_extract": extract,
    }


def render(doc: FindingsDocument) -> str:
    scanner = {"id": "wif-migrate", "name": "wif-migrate", "version": doc.tool_version,
               "vendor": {"name": "wif-migrate"}}
    messages = [{"level": "warn", "value": f"{i.subject} could not be read: {i.reason}"} for i in doc.errors]
    report = {
        "version": SCHEMA_VERSION,
        "schema": SCHEMA_URL,
        "scan": {
            "analyzer": scanner,
            "scanner": scanner,
            "type": "secret_detection",
            "start_time": _time(doc.inventory_generated_at),
            "end_time": _time(doc.generated_at),
            "status": "success",
            "messages": messages,
        },
        "vulnerabilities": [_vulnerability(e, doc) for e in doc.exposures],
    }
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
