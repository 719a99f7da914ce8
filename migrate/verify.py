"""`verify`: did each merge request of the plan land, and did the next pipeline authenticate?

For every `merge_request` action: find the MR from the bot branch (open, merged or closed). Once
merged, for each project whose pipelines run the changed file (the project itself, or every
consumer of a shared template) take the first pipeline on its default branch at or after the
merge (same sha as the merge commit, or created at/after `merged_at`) and judge its jobs that
authenticate (the jobs the plan rewrote; all jobs when none of those names appear, e.g. a template
whose jobs are named by its consumers):

- verified — every such job succeeded;
- failed — one failed: the job and the reason from its log (the `ERROR` lines, redacted), or the MR
  was closed without merging;
- pending — not merged yet, no pipeline since the merge, or it is still running / waiting on a
  manual job.

Outcomes are data (`VerifyResult`) and are journaled (stage "verify", kind "verify"): applied
(verified), failed, skipped (pending). The keys stage reads these rows as its migration gate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from migrate.gitlab.merge_requests import MRInfo
from migrate.gitlab.pipelines import JobInfo, PipelineInfo, PipelineReader
from migrate.model import Action, Outcome, Plan
from migrate.mr import MRParamsError, branch_name, parse_params
from migrate.state import State

log = logging.getLogger(__name__)

STAGE = "verify"
KIND = "verify"
Status = Literal["verified", "failed", "pending"]
_RUNNING = {"created", "waiting_for_resource", "preparing", "waiting_for_callback", "pending", "running",
            "canceling", "scheduled"}
_SECRETISH = re.compile(r"PRIVATE KEY|private_key|[A-Za-z0-9+/=_-]{60,}")


@dataclass(frozen=True)
class ProjectCheck:
    """One project's pipeline after the merge."""

    project: str
    status: Status
    detail: str
    pipeline_id: int | None = None
    pipeline_url: str = ""
    jobs: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    action_id: str
    project: str
    status: Status
    detail: str
    mr_iid: int | None = None
    mr_state: str | None = None
    web_url: str = ""
    merge_commit_sha: str | None = None
    merged_at: str | None = None
    checks: tuple[ProjectCheck, ...] = field(default_factory=tuple)

    @property
    def outcome(self) -> Outcome:
        return {"verified": "applied", "failed": "failed", "pending": "skipped"}[self.status]  # type: ignore[return-value]

    def evidence(self) -> dict[str, Any]:
        return {"project": self.project, "mr_iid": self.mr_iid, "mr_state": self.mr_state,
                "web_url": self.web_url, "merge_commit_sha": self.merge_commit_sha,
                "merged_at": self.merged_at, "status": self.status,
                "pipeline_id": self.checks[0].pipeline_id if len(self.checks) == 1 else None,
                "pipelines": [{"project": c.project, "pipeline_id": c.pipeline_id, "status": c.status,
                               "detail": c.detail, "jobs": list(c.jobs)} for c in self.checks],
                "jobs": [j for c in self.checks for j in c.jobs]}

    def to_dict(self) -> dict[str, Any]:
        return {"action_id": self.action_id, "outcome": self.outcome, "detail": self.detail,
                **self.evidence()}


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def redact(line: str) -> str:
    """A log line safe to store: anything that looks like key material or a token is cut."""
    return "[redacted: looks like secret material]" if _SECRETISH.search(line) else line


def failure_reason(trace: str, limit: int = 400) -> str:
    """The lines of a job log that say why it failed (ERROR lines, else the last lines), redacted."""
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR") and "Job failed" not in ln]
    picked = errors or [ln for ln in lines if "Job failed" not in ln][-3:]
    text = " | ".join(redact(ln) for ln in picked)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pipeline_after_merge(pipelines: Sequence[PipelineInfo], merge_sha: str | None,
                         merged_at: str | None) -> PipelineInfo | None:
    """The first pipeline at or after the merge: the merge commit's own, else the first created
    at/after `merged_at` (a later commit's pipeline also runs the merged change)."""
    ordered = sorted(pipelines, key=lambda p: p.id)
    for p in ordered:
        if merge_sha and p.sha == merge_sha:
            return p
    when = _time(merged_at)
    if when is None:
        return None
    for p in ordered:
        created = _time(p.created_at)
        if created is not None and created >= when:
            return p
    return None


def judge_jobs(project: str, pipeline: PipelineInfo, jobs: Sequence[JobInfo], expected: Iterable[str],
               reader: PipelineReader) -> ProjectCheck:
    wanted = set(expected)
    relevant = [j for j in jobs if j.name in wanted] if wanted else list(jobs)
    note = ""
    if not relevant:
        relevant = list(jobs)
        if wanted:
            note = f" (jobs {', '.join(sorted(wanted))} not in the pipeline; judged on all its jobs)"
    rows = tuple({"project": project, "pipeline_id": pipeline.id, "job": j.name, "job_id": j.id,
                  "status": j.status, "web_url": j.web_url} for j in relevant)
    if not relevant:
        status: Status = "failed" if pipeline.status == "failed" else \
            "pending" if pipeline.status in _RUNNING else "failed"
        return ProjectCheck(project, status, f"pipeline {pipeline.id} has no jobs ({pipeline.status})",
                            pipeline.id, pipeline.web_url, rows)
    failed = [j for j in relevant if j.status == "failed" and not j.allow_failure]
    if failed:
        j = failed[0]
        reason = failure_reason(reader.trace(project, j.id))
        return ProjectCheck(project, "failed", f"job {j.name} ({j.id}) failed in pipeline {pipeline.id}: "
                            f"{reason or j.failure_reason or 'no log'}", pipeline.id, pipeline.web_url, rows)
    waiting = [j for j in relevant if j.status != "success"]
    if waiting:
        shown = ", ".join(f"{j.name}: {j.status}" for j in waiting)
        return ProjectCheck(project, "pending", f"pipeline {pipeline.id}: {shown}{note}", pipeline.id,
                            pipeline.web_url, rows)
    return ProjectCheck(project, "verified", f"pipeline {pipeline.id}: "
                        f"{', '.join(j.name for j in relevant)} succeeded{note}", pipeline.id,
                        pipeline.web_url, rows)


def check_project(reader: PipelineReader, project: str, ref: str | None, mr: MRInfo,
                  expected: Sequence[str]) -> ProjectCheck:
    branch = ref or reader.default_branch(project)
    if not branch:
        return ProjectCheck(project, "failed", "project has no default branch")
    merge_sha = mr.merge_commit_sha or mr.squash_commit_sha
    pipeline = pipeline_after_merge(reader.pipelines(project, branch), merge_sha, mr.merged_at)
    if pipeline is None:
        return ProjectCheck(project, "pending", f"no pipeline on {branch} since the merge yet")
    if pipeline.status in _RUNNING:
        return ProjectCheck(project, "pending", f"pipeline {pipeline.id} is {pipeline.status}",
                            pipeline.id, pipeline.web_url)
    return judge_jobs(project, pipeline, reader.jobs(project, pipeline.id), expected, reader)


def verify_action(reader: PipelineReader, action: Action, branch_prefix: str) -> VerifyResult:
    try:
        params = parse_params(action)
    except MRParamsError as exc:
        return VerifyResult(action.id, str(action.params.get("project") or ""), "failed", str(exc))
    branch = branch_name(branch_prefix, action.id)
    mrs = reader.merge_requests(params.project, branch)
    mr = next((m for m in mrs if m.state == "merged"), None) or \
        next((m for m in mrs if m.state in ("opened", "locked")), None) or \
        next((m for m in mrs if m.state == "closed"), None)
    if mr is None:
        return VerifyResult(action.id, params.project, "pending",
                            f"no merge request from {branch} (run `wif-migrate apply`)")
    base = {"mr_iid": mr.iid, "mr_state": mr.state, "web_url": mr.web_url}
    if mr.state == "closed":
        return VerifyResult(action.id, params.project, "failed",
                            f"!{mr.iid} was closed without merging", **base)  # type: ignore[arg-type]
    if mr.state != "merged":
        return VerifyResult(action.id, params.project, "pending", f"!{mr.iid} is open, not merged yet",
                            **base)  # type: ignore[arg-type]
    projects = list(params.consumers) or [params.project]
    checks = tuple(check_project(reader, p, params.target_branch if p == params.project else None, mr,
                                 params.effective_jobs.get(p) or params.jobs) for p in projects)
    status: Status = "failed" if any(c.status == "failed" for c in checks) else \
        "pending" if any(c.status == "pending" for c in checks) else "verified"
    detail = "; ".join(f"{c.project}: {c.detail}" if len(checks) > 1 else c.detail for c in checks
                       if c.status == status or status == "verified")
    return VerifyResult(action.id, params.project, status, detail, mr.iid, mr.state, mr.web_url,
                        mr.merge_commit_sha or mr.squash_commit_sha, mr.merged_at, checks)


def verify_plan(reader: PipelineReader, plan: Plan, branch_prefix: str, state: State | None = None
                ) -> list[VerifyResult]:
    """Verify every merge_request action; journal each result (stage verify) when `state` is given."""
    results: list[VerifyResult] = []
    for action in plan.actions:
        if action.kind != "merge_request":
            continue
        try:
            result = verify_action(reader, action, branch_prefix)
        except Exception as exc:  # noqa: BLE001 - one MR's read failure is its result, not the run's
            log.debug("verify %s failed", action.id, exc_info=True)
            result = VerifyResult(action.id, str(action.params.get("project") or ""), "failed",
                                  f"could not read GitLab: {exc}")
        results.append(result)
        if state is not None:
            state.outcome(STAGE, action.id, KIND, action.target, result.outcome, result.detail,
                          result.evidence())
    return results


def exit_code(results: Sequence[VerifyResult]) -> int:
    """0 when everything is verified; 1 when anything failed or is pending."""
    return 0 if all(r.status == "verified" for r in results) else 1
