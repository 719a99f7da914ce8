"""Main's evidence dicts (before issue 20 typed them, main at 4e5e7d7): the oracle the typed
evidence of `migrate.core.evidence` is compared with — same keys, same presence, same values.

Each builder is the dict code of one executor path, copied as it was (`{**evidence, ...}`,
`evidence.update(...)`), parameterised by what the path read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def binding(added: Sequence[str], already: Sequence[str], attempts: int, answer_lost: bool,
            dry_run: bool) -> dict[str, Any]:
    """migrate/apply/binding_executor.py: EnsureBindingExecutor.execute."""
    evidence = {"added": list(added), "already": list(already), "attempts": attempts}
    if not added:
        return {**evidence, "up_to_date": True}
    if dry_run:
        return evidence
    return {**evidence, "answer_lost": answer_lost}


def ensure(path: str, op: str, steps: Sequence[str], mask: Sequence[str]) -> dict[str, Any]:
    """migrate/apply/pool_provider_executor.py: EnsureExecutor.execute, by the path taken."""
    if path == "would_undelete":
        return {"op": "undelete"}
    if path == "undeleted":
        return {"steps": list(steps)}
    if path == "up_to_date":
        return {"up_to_date": True}
    if path == "would_write":
        return {"op": op, "mask": list(mask)}
    if path == "taken_over":
        return {"steps": list(steps), "mask": list(mask), "taken_over": True}
    if path == "written":
        return {"steps": list(steps), "mask": list(mask)}
    return {}  # refused, failed


def merge_request(project: str, branch: str, target: str, files: Sequence[str], taken_over: bool,
                  events: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """migrate/apply/merge_request_executor.py: `_evidence`, then the updates `_decide`,
    `_converge` and `_write` made in the order of `events` (("merged", (iid, url, sha, at)),
    ("waiting", [ids]), ("mr", (iid, url)), ("commit", sha))."""
    evidence: dict[str, Any] = {"project": project, "branch": branch, "target_branch": target,
                                "files": list(files)}
    if taken_over:
        evidence = {**evidence, "taken_over": True}
    for what, value in events:
        if what == "merged":
            iid, url, sha, at = value
            evidence.update(mr_iid=iid, web_url=url, merge_commit_sha=sha, merged_at=at)
        elif what == "waiting":
            evidence.update(blocked=True, waiting_for=list(value))
        elif what == "mr":
            evidence.update(mr_iid=value[0], web_url=value[1])
        elif what == "commit":
            evidence["commit_sha"] = value
    return evidence


def journaled(evidence: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    """migrate/apply/loop.py: what `apply_plan` journaled for a result's evidence."""
    return {**evidence, "dry_run": dry_run}


def verify(result: Any) -> dict[str, Any]:
    """migrate/verify/runner.py: VerifyResult.evidence() (a `VerifyResult` of any build)."""
    self = result
    return {"project": self.project, "mr_iid": self.mr_iid, "mr_state": self.mr_state,
            "web_url": self.web_url, "merge_commit_sha": self.merge_commit_sha,
            "merged_at": self.merged_at, "status": self.status,
            "pipeline_id": self.checks[0].pipeline_id if len(self.checks) == 1 else None,
            "pipelines": [{"project": c.project, "pipeline_id": c.pipeline_id, "status": c.status,
                           "detail": c.detail, "jobs": list(c.jobs)} for c in self.checks],
            "jobs": [j for c in self.checks for j in c.jobs],
            "unverified_jobs": [u for c in self.checks for u in c.unverified],
            "acceptable": self.status == "pending" and bool(self.checks) and all(
                c.status == "verified" or (c.status == "pending" and c.unverified and c.pipeline_id)
                for c in self.checks)}
