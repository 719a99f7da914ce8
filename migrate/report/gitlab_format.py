"""GitLab secret-detection report (`gl-secret-detection-report.json`, schema 15.2.1) so key findings
appear in GitLab's security dashboard (Ultimate; lower tiers keep the artifact).

One vulnerability per exposure: each CI/CD variable holding a key and each CI location using one.
Ids are UUIDv5 of (kind, location, key id), so the same finding keeps its id across runs and GitLab
tracks it instead of opening a new one. The key material never appears: `raw_source_code_extract`
names the variable and the key's identity only.

Location (reference/gitlab.md §8: `commit.sha` is required, `file` is repository-relative):
a usage points at its file *relative to the project that holds it* (`.gitlab-ci.yml`, the project
is named in the vulnerability's name and description), its lines, and the real SHA of the commit
the file was read at (`commits`, read from GitLab by `check`). A CI/CD variable lives outside any
repository: it points at the CI file that reads it, at that file's commit. A finding whose commit
is not known (an offline `--inventory` without GitLab access) is left out of this report, with a
scan message saying how many and why — never a branch name or forty zeros as a SHA; `check`'s
table and SARIF still list it.

Validated against GitLab's own schema (schemas/, see its README for why that copy is 15.2.4 while
the report declares 15.2.1): tests/report/test_gitlab_schema.py.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from migrate.core.codec import format_time
from migrate.report.findings import FindingsDocument, KeyExposure
from migrate.report.text import framework_refs

FILENAME = "gl-secret-detection-report.json"
SCHEMA_VERSION = "15.2.1"
SCHEMA_URL = ("https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
              f"v{SCHEMA_VERSION}/dist/secret-detection-report-format.json")
_NAMESPACE = uuid.UUID("5f1d0d2e-7b0c-4e53-9a53-7769662d6d69")  # fixed: ids must be stable forever
SEVERITY = {None: "Unknown", "found": "Critical", "mr_opened": "Critical", "migrated": "High",
            "disabled": "Medium", "deleted": "Low"}
CIS_CONTROL = "gcp-sa-only-google-managed-keys"


def _time(moment: datetime) -> str:
    """GitLab wants YYYY-MM-DDTHH:MM:SS: no zone, no fraction (times here are UTC)."""
    return format_time(moment).removesuffix("Z")


def _identifiers(e: KeyExposure, doc: FindingsDocument) -> list[dict[str, str]]:
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


def _describe(e: KeyExposure) -> tuple[str, str, str]:
    key = f"key {e.key_id} of {e.service_account}" if e.key_id else "a value suspected to be a key"
    status = f" (migration status: {e.key_status})" if e.key_status else ""
    if e.kind == "variable":
        name = f"Service-account key in CI/CD variable {e.variable}"
        desc = f"The CI/CD variable {e.subject} holds {key}{status}; {e.detail}."
        extract = f"{e.variable} = <{key}>"
    else:
        name = f"Service-account key used in {e.project}/{e.file}"
        lines = f"line {e.start_line}" if e.start_line == e.end_line else f"lines {e.start_line}-{e.end_line}"
        source = f"from the variable {e.variable}" if e.variable else "from a variable the scan could not name"
        desc = (f"In {e.project}, {e.file} {lines} (jobs: {', '.join(e.jobs) or 'none'}) "
                f"authenticate with {key} {source}{status}; {e.detail}.")
        extract = f"{e.variable or '(unnamed variable)'} -> {key}"
    return name, desc, extract


NAME_MAX = 255  # vulnerabilities[].name maxLength (schemas/secret-detection-report-format-15.2.4.json)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
Commits = Mapping[tuple[str, str, str], str]  # (project, file, ref) -> commit SHA


def _reader_of(e: KeyExposure, doc: FindingsDocument) -> KeyExposure | None:
    """For a variable: a usage of it (same name, in the owner or below it)."""
    for u in doc.exposures:
        if u.kind == "usage" and u.variable == e.variable and u.file and (
                u.project == e.project or u.project.startswith(e.project + "/") or e.subject.startswith("instance:")):
            return u
    return None


def _location(e: KeyExposure, doc: FindingsDocument, commits: Commits) -> dict[str, Any] | None:
    where = e if e.kind == "usage" else _reader_of(e, doc)
    if where is None or not where.file:
        return None
    sha = commits.get((where.project, where.file, where.ref or ""), "")
    if not SHA.fullmatch(sha):
        return None
    location: dict[str, Any] = {"file": where.file, "commit": {"sha": sha}}
    if e.kind == "usage" and e.start_line:
        location.update(start_line=e.start_line, end_line=e.end_line or e.start_line)
    return location


def _vulnerability(e: KeyExposure, doc: FindingsDocument, location: dict[str, Any]) -> dict[str, Any]:
    name, desc, extract = _describe(e)
    return {
        "id": str(uuid.uuid5(_NAMESPACE, f"{e.kind}|{e.subject}|{e.key_id}")),
        "name": _bounded(name, NAME_MAX),  # the schema's maxLength; the description has it all
        "description": desc,
        "severity": SEVERITY.get(e.key_status, "Unknown"),
        "solution": "Move the pipelines to Workload Identity Federation (wif-migrate plan, apply, verify), then "
                    "disable and delete the key and the variable (wif-migrate keys).",
        "identifiers": _identifiers(e, doc),
        "location": location,
        "raw_source_code_extract": extract,
    }


def render(doc: FindingsDocument, commits: Commits | None = None) -> str:
    """`commits`: the SHA each usage's file was read at; findings without one are left out."""
    scanner = {"id": "wif-migrate", "name": "wif-migrate", "version": doc.tool_version,
               "vendor": {"name": "wif-migrate"}}
    messages = [{"level": "warn", "value": f"{i.subject} could not be read: {i.reason}"} for i in doc.errors]
    vulnerabilities = []
    left_out = 0
    for e in doc.exposures:
        location = _location(e, doc, commits or {})
        if location is None:
            left_out += 1
        else:
            vulnerabilities.append(_vulnerability(e, doc, location))
    if left_out:
        messages.append({"level": "warn", "value": f"{left_out} finding(s) left out: the commit of the CI file "
                         "is not known (run `wif-migrate check` with GitLab access); `check` lists them all"})
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
        "vulnerabilities": vulnerabilities,
    }
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
