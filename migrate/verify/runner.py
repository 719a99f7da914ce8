"""`verify`: did each merge request of the plan land, and did every job that used the key sign in
through federation afterwards?

For every `merge_request` action: find the MR from the bot branch (open, merged or closed). Once
merged, for each project whose pipelines run the changed file (the project itself, or every
consumer of a shared template) take the pipeline after the merge — in the MR's own project the
pipeline *of the merge commit* (`merge_commit_sha`; `squash_commit_sha`; for a fast-forward merge,
which has no merge commit, the MR's `sha`), never "the next pipeline by time", which could be an
unrelated one; in a template's consumers the first pipeline created at/after `merged_at` — and judge
it **job by job**: every job the plan rewrote (the jobs that used the key) must

  1. be in that pipeline (a job left out by `rules:`/`only:` — tag-only, schedule-only, another
     environment — did not run: the project stays *pending*, naming the job and why), or, in the
     MR's own project, in another pipeline of exactly the merged SHA (a tag pipeline of the merge
     commit runs the merged file: a release tag runs the tag-only jobs);
  2. have succeeded (a manual job not yet played is pending; a failed one is *failed*, with the
     `ERROR` lines of its log, redacted);
  3. show in its log (jobs trace API) the marker line the rewritten step prints after its token
     mint (`migrate.ci.emit.MARKER`, or `MARKER_CONFIGURED` for jobs whose tool reads the
     credential configuration) — a job that succeeded without it did not go through the new step.

A template's own jobs are hidden (`.gcp-auth`); its consumers' jobs that extend them are judged by
the marker: at least one job must print it, and none may fail. Only when every project's every
relevant job passes is the action *verified*. Pending results carry `unverified_jobs`
(project, job, reason), which `keys retire --accept-job PROJECT:JOB` can accept explicitly
(journaled, shown in the report).

Outcomes are data (`VerifyResult`) and are journaled (stage "verify", kind "verify"): applied
(verified), failed, skipped (pending). The keys stage reads these rows as its migration gate.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from migrate.apply.merge_request_content import branch_name
from migrate.apply.ports import MRInfo
from migrate.ci.emit import MARKER, MARKER_CONFIGURED
from migrate.core.errors import WifMigrateError
from migrate.core.evidence import JobRow, PipelineEvidence, UnverifiedJob, VerifyEvidence, journal_object
from migrate.core.model import Action, MergeRequestParams, Plan, params_as, to_dict
from migrate.core.outcome import Status, journal_word
from migrate.core.progress import Progress, SilentProgress
from migrate.core.state import State
from migrate.verify.ports import PipelineInfo, PipelineJob, PipelineReader
from migrate.verify.propagation import explain, parse_time, within_propagation

log = logging.getLogger(__name__)

STAGE = "verify"
KIND = "verify"
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
    # Jobs that keep the project pending although the pipeline ran (did not run, not played, no
    # marker): {"project", "job", "reason"}; an operator may accept them by name at retire time.
    unverified: tuple[dict[str, str], ...] = ()


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
    def outcome(self) -> Status:
        """The word of the journal's outcome column (`core.outcome.journal_word`)."""
        return journal_word(self.status)

    def evidence(self) -> VerifyEvidence:
        """What the journal records of this verification (`migrate.core.evidence.VerifyEvidence`)."""
        return VerifyEvidence(
            self.project, self.mr_iid, self.mr_state, self.web_url, self.merge_commit_sha, self.merged_at,
            self.status, self.checks[0].pipeline_id if len(self.checks) == 1 else None,
            tuple(PipelineEvidence(c.project, c.pipeline_id, c.status, c.detail, tuple(JobRow(**j) for j in c.jobs))
                  for c in self.checks),
            tuple(JobRow(**j) for c in self.checks for j in c.jobs),
            tuple(UnverifiedJob(**u) for c in self.checks for u in c.unverified),
            # True when only named jobs keep it pending (each pipeline found, nothing failed):
            # what `keys retire --accept-job` may accept.
            self.status == Status.PENDING and bool(self.checks) and all(
                c.status == Status.VERIFIED or bool(c.status == Status.PENDING and c.unverified and c.pipeline_id)
                for c in self.checks))

    def to_dict(self) -> dict[str, Any]:
        return {"action_id": self.action_id, "outcome": self.outcome, "detail": self.detail,
                **to_dict(self.evidence())}


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
                         merged_at: datetime | None) -> PipelineInfo | None:
    """The pipeline after the merge. With a commit SHA (the MR's own project): the pipeline of
    exactly that commit, nothing else — a later or unrelated pipeline proves nothing about the
    merged change. Without one (a template's consumer project, whose commits are its own): the
    first pipeline created at/after `merged_at`."""
    ordered = sorted(pipelines, key=lambda p: p.id)
    if merge_sha:
        return next((p for p in ordered if p.sha == merge_sha), None)
    if merged_at is None:
        return None
    for p in ordered:
        if p.created_at is not None and p.created_at >= merged_at:
            return p
    return None


def merged_sha(mr: MRInfo) -> str | None:
    """The commit the merge put on the target branch: the merge commit, the squash commit, or —
    for a fast-forward merge, which has neither — the MR's head `sha` (GitLab merge requests API)."""
    return mr.merge_commit_sha or mr.squash_commit_sha or mr.sha


def has_marker(trace: str) -> bool:
    """The rewritten step's marker line is in the job log (as a line of its own)."""
    return any(line.strip() in (MARKER, MARKER_CONFIGURED) for line in trace.splitlines())


_NOT_RUN = ("its rules/only/except left it out of this pipeline (it runs only on tags, schedules, "
            "other refs or environments); it stays pending until it runs after the merge")


def judge_jobs(project: str, pipeline: PipelineInfo, jobs: Sequence[PipelineJob], expected: Iterable[str],
               reader: PipelineReader) -> ProjectCheck:
    """Job-level evidence: each job that used the key ran after the merge, succeeded and printed
    the marker (module docstring)."""
    wanted = sorted({j for j in expected if not j.startswith(".")})
    by_name = {j.name: j for j in jobs}
    rows = tuple({"project": project, "pipeline_id": pipeline.id, "job": j.name, "job_id": j.id,
                  "status": j.status, "web_url": j.web_url} for j in jobs if not wanted or j.name in wanted)
    if not wanted:
        return _judge_by_marker(project, pipeline, jobs, reader, rows)
    failed = [by_name[n] for n in wanted if n in by_name and by_name[n].status == "failed"
              and not by_name[n].allow_failure]
    if failed:
        j = failed[0]
        reason = failure_reason(reader.trace(project, j.id))
        return ProjectCheck(project, Status.FAILED, f"job {j.name} ({j.id}) failed in pipeline {pipeline.id}: "
                            f"{reason or j.failure_reason or 'no log'}", pipeline.id, pipeline.web_url, rows)
    unverified: list[dict[str, str]] = []
    for name in wanted:
        job = by_name.get(name)
        if job is None:
            unverified.append({"project": project, "job": name, "reason": f"did not run: {_NOT_RUN}"})
        elif job.status == "manual":
            unverified.append({"project": project, "job": name, "reason": "manual job not played yet"})
        elif job.status in _RUNNING:
            return ProjectCheck(project, Status.PENDING, f"pipeline {pipeline.id}: job {name} is {job.status}",
                                pipeline.id, pipeline.web_url, rows)
        elif job.status != "success":
            unverified.append({"project": project, "job": name, "reason": f"job {job.status}, not run to success"})
        elif not has_marker(reader.trace(project, job.id)):
            unverified.append({"project": project, "job": name, "reason": "succeeded, but its log has no "
                               f"federated sign-in marker ({MARKER!r}): it did not run the rewritten step"})
    if unverified:
        shown = "; ".join(f"job {u['job']}: {u['reason']}" for u in unverified)
        return ProjectCheck(project, Status.PENDING, f"pipeline {pipeline.id}: {shown}", pipeline.id,
                            pipeline.web_url, rows, tuple(unverified))
    return ProjectCheck(project, Status.VERIFIED, f"pipeline {pipeline.id}: {', '.join(wanted)} signed in through "
                        "federation and succeeded", pipeline.id, pipeline.web_url, rows)


def _judge_by_marker(project: str, pipeline: PipelineInfo, jobs: Sequence[PipelineJob], reader: PipelineReader,
                     rows: tuple[dict[str, Any], ...]) -> ProjectCheck:
    """A template's consumer: its jobs that extend the template are the ones printing the marker."""
    failed = [j for j in jobs if j.status == "failed" and not j.allow_failure]
    if failed:
        j = failed[0]
        reason = failure_reason(reader.trace(project, j.id))
        return ProjectCheck(project, Status.FAILED, f"job {j.name} ({j.id}) failed in pipeline {pipeline.id}: "
                            f"{reason or j.failure_reason or 'no log'}", pipeline.id, pipeline.web_url, rows)
    if any(j.status in _RUNNING for j in jobs):
        return ProjectCheck(project, Status.PENDING, f"pipeline {pipeline.id} still has running jobs", pipeline.id,
                            pipeline.web_url, rows)
    signed = [j.name for j in jobs if j.status == "success" and has_marker(reader.trace(project, j.id))]
    if not signed:
        unverified = ({"project": project, "job": "(jobs extending the template)",
                       "reason": f"no job of pipeline {pipeline.id} printed the federated sign-in marker"},)
        return ProjectCheck(project, Status.PENDING, f"pipeline {pipeline.id}: no job printed the federated sign-in "
                            "marker", pipeline.id, pipeline.web_url, rows, unverified)
    return ProjectCheck(project, Status.VERIFIED, f"pipeline {pipeline.id}: {', '.join(signed)} signed in through "
                        "federation and succeeded", pipeline.id, pipeline.web_url, rows)


def check_project(reader: PipelineReader, project: str, ref: str | None, mr: MRInfo,
                  expected: Sequence[str], own: bool = True) -> ProjectCheck:
    branch = ref or reader.default_branch(project)
    if not branch:
        return ProjectCheck(project, Status.FAILED, "project has no default branch")
    merge_sha = merged_sha(mr) if own else None
    pipeline = pipeline_after_merge(reader.pipelines(project, branch), merge_sha, mr.merged_time)
    if pipeline is None:
        what = f"for the merge commit {merge_sha[:12]}" if merge_sha else "since the merge"
        return ProjectCheck(project, Status.PENDING, f"no pipeline on {branch} {what} yet")
    if pipeline.status in _RUNNING:
        return ProjectCheck(project, Status.PENDING, f"pipeline {pipeline.id} is {pipeline.status}",
                            pipeline.id, pipeline.web_url)
    judged = judge_jobs(project, pipeline, reader.jobs(project, pipeline.id), expected, reader)
    if merge_sha and judged.status == Status.PENDING and judged.unverified:
        return _other_pipelines_of_the_commit(reader, project, branch, merge_sha, judged)
    return judged


def check_harmless(reader: PipelineReader, project: str, ref: str, mr: MRInfo, jobs: Sequence[str]) -> ProjectCheck:
    """A consumer's MR only declares the ID token a shared template's copied sign-in will read: until
    the template's MR is merged the jobs still sign in with the key. Its evidence is that the pipeline
    of its merge commit ran and none of those jobs failed (the federated sign-in itself is judged on
    the template's MR, in this project's first pipeline after that merge)."""
    merge_sha = merged_sha(mr)
    pipeline = pipeline_after_merge(reader.pipelines(project, ref), merge_sha, mr.merged_time)
    if pipeline is None:
        return ProjectCheck(project, Status.PENDING, f"no pipeline on {ref} for the merge commit "
                            f"{(merge_sha or '')[:12]} yet")
    if pipeline.status in _RUNNING:
        return ProjectCheck(project, Status.PENDING, f"pipeline {pipeline.id} is {pipeline.status}", pipeline.id,
                            pipeline.web_url)
    ran = [j for j in reader.jobs(project, pipeline.id) if j.name in set(jobs)]
    rows = tuple({"project": project, "pipeline_id": pipeline.id, "job": j.name, "job_id": j.id, "status": j.status,
                  "web_url": j.web_url} for j in ran)
    failed = [j for j in ran if j.status == "failed" and not j.allow_failure]
    if failed:
        reason = failure_reason(reader.trace(project, failed[0].id))
        return ProjectCheck(project, Status.FAILED, f"job {failed[0].name} ({failed[0].id}) failed in pipeline "
                            f"{pipeline.id} after the ID token was added: {reason or 'no log'}", pipeline.id,
                            pipeline.web_url, rows)
    if any(j.status in _RUNNING for j in ran):
        return ProjectCheck(project, Status.PENDING, f"pipeline {pipeline.id} still runs {', '.join(jobs)}", pipeline.id,
                            pipeline.web_url, rows)
    shown = ", ".join(f"{j.name} {j.status}" for j in ran) or "the jobs did not run in it"
    return ProjectCheck(project, Status.VERIFIED, f"merged; pipeline {pipeline.id} of the merge commit: {shown} (the ID "
                        "token is declared; the template's merge request switches the sign-in)", pipeline.id,
                        pipeline.web_url, rows)


def _other_pipelines_of_the_commit(reader: PipelineReader, project: str, branch: str, merge_sha: str,
                                   judged: ProjectCheck) -> ProjectCheck:
    """A job that runs only on tags (`rules: if $CI_COMMIT_TAG`, `only: tags`) is not in the merge
    commit's branch pipeline; a tag pipeline *of that same commit* runs the merged file, so its
    jobs are the same job-level evidence (ran, succeeded, printed the marker). Only pipelines of
    exactly the merged SHA count, never a later commit's."""
    missing = [u["job"] for u in judged.unverified if u["reason"].startswith("did not run")]
    others = [p for p in reader.pipelines_at(project, merge_sha)
              if p.id != judged.pipeline_id and p.ref != branch and p.sha == merge_sha]
    if not missing or not others:
        return judged
    found: dict[str, PipelineInfo] = {}
    rows = list(judged.jobs)
    for pipeline in sorted(others, key=lambda p: -p.id):  # the newest run of the job decides
        wanted = [job for job in missing if job not in found]
        jobs = [j for j in reader.jobs(project, pipeline.id) if j.name in wanted]
        for job in jobs:
            check = judge_jobs(project, pipeline, [job], [job.name], reader)
            if check.status == Status.FAILED:
                return ProjectCheck(project, Status.FAILED, f"{check.detail} (ref {pipeline.ref} at the merge commit)",
                                    pipeline.id, pipeline.web_url, (*rows, *check.jobs))
            if check.status == Status.VERIFIED:
                found[job.name] = pipeline
                rows.extend(check.jobs)
    unverified = tuple(u for u in judged.unverified if u["job"] not in found)
    shown = ", ".join(f"{job} in pipeline {p.id} ({p.ref})" for job, p in sorted(found.items()))
    if not found:
        return judged
    if unverified:
        rest = "; ".join(f"job {u['job']}: {u['reason']}" for u in unverified)
        return ProjectCheck(project, Status.PENDING, f"pipeline {judged.pipeline_id}: {rest}; signed in: {shown}",
                            judged.pipeline_id, judged.pipeline_url, tuple(rows), unverified)
    return ProjectCheck(project, Status.VERIFIED, f"pipeline {judged.pipeline_id} and the merge commit's other "
                        f"pipelines: {shown} signed in through federation and succeeded", judged.pipeline_id,
                        judged.pipeline_url, tuple(rows))


def verify_action(reader: PipelineReader, action: Action, branch_prefix: str) -> VerifyResult:
    params = params_as(action, MergeRequestParams)
    branch = branch_name(branch_prefix, action.id)
    mrs = reader.merge_requests(params.project, branch)
    mr = next((m for m in mrs if m.state == "merged"), None) or \
        next((m for m in mrs if m.state in ("opened", "locked")), None) or \
        next((m for m in mrs if m.state == "closed"), None)
    if mr is None:
        return VerifyResult(action.id, params.project, Status.PENDING,
                            f"no merge request from {branch} (run `wif-migrate apply`)")
    base = {"mr_iid": mr.iid, "mr_state": mr.state, "web_url": mr.web_url}
    if mr.state == "closed":
        return VerifyResult(action.id, params.project, Status.FAILED,
                            f"!{mr.iid} was closed without merging", **base)  # type: ignore[arg-type]
    if mr.state != "merged":
        return VerifyResult(action.id, params.project, Status.PENDING, f"!{mr.iid} is open, not merged yet",
                            **base)  # type: ignore[arg-type]
    if params.consumer_tokens:
        check = check_harmless(reader, params.project, params.target_branch, mr, params.file_jobs)
        return VerifyResult(action.id, params.project, check.status, check.detail, mr.iid, mr.state, mr.web_url,
                            merged_sha(mr), mr.merged_at, (check,))
    projects = list(params.consumers) or [params.project]
    checks = tuple(check_project(reader, p, params.target_branch if p == params.project else None, mr,
                                 params.effective_jobs.get(p) or (
                                     params.file_jobs if p == params.project or not params.consumers else
                                     [j for j in params.file_jobs if j.startswith(".")] or params.file_jobs),
                                 own=p == params.project) for p in projects)
    status = Status.FAILED if any(c.status == Status.FAILED for c in checks) else \
        Status.PENDING if any(c.status == Status.PENDING for c in checks) else Status.VERIFIED
    detail = "; ".join(f"{c.project}: {c.detail}" if len(checks) > 1 else c.detail for c in checks
                       if c.status == status or status == Status.VERIFIED)
    return VerifyResult(action.id, params.project, status, detail, mr.iid, mr.state, mr.web_url,
                        merged_sha(mr), mr.merged_at, checks)


def verify_plan(reader: PipelineReader, plan: Plan, branch_prefix: str, state: State | None = None,
                progress: Progress | None = None) -> list[VerifyResult]:
    """Verify every merge_request action; journal each result (stage verify) when `state` is given;
    `progress` counts the merge requests (the CLI's bar on stderr)."""
    results: list[VerifyResult] = []
    progress = progress or SilentProgress()
    actions = [a for a in plan.actions if a.kind == "merge_request"]
    progress.start("Verifying merge requests", len(actions))
    try:
        for action in actions:
            results.append(_verify_one(reader, action, branch_prefix, state))
            progress.advance()
    finally:
        progress.finish()
    return results


def _verify_one(reader: PipelineReader, action: Action, branch_prefix: str, state: State | None) -> VerifyResult:
    """One merge request's result, journaled when `state` is given (a read failure is its result)."""
    try:
        result = verify_action(reader, action, branch_prefix)
    except WifMigrateError as exc:  # one MR's read failure (the adapter's GitLabError) is its result
        log.debug("verify %s failed", action.id, exc_info=True)
        result = VerifyResult(action.id, params_as(action, MergeRequestParams).project, Status.FAILED,
                              f"could not read GitLab: {exc}")
    if state is not None and result.status == Status.FAILED:
        result = _propagation(result, action, state)
    if state is not None:
        state.outcome(STAGE, action.id, KIND, action.target, result.outcome, result.detail,
                      journal_object(result.evidence()))
    return result


def _propagation(result: VerifyResult, action: Action, state: State) -> VerifyResult:
    """A refusal within the IAM propagation window of this MR's binding is pending, not failed
    (migrate/verify/propagation.py); the post-merge pipeline starts at the merge."""

    bound = [e for d in action.depends_on if d.startswith("ensure_binding:")
             for e in [state.last_outcome(d, stage="apply")] if e is not None and e.outcome == Status.APPLIED]
    if not bound:
        return result
    bound_at = max(e.ts for e in bound)
    seconds = within_propagation(result.detail, bound_at, parse_time(result.merged_at))
    if seconds is None:
        return result
    checks = tuple(dataclasses.replace(c, status=Status.PENDING, detail=f"{c.detail} — {explain(seconds, bound_at)}")
                   if c.status == Status.FAILED else c for c in result.checks)
    return dataclasses.replace(result, status=Status.PENDING, detail=f"{result.detail} — {explain(seconds, bound_at)}",
                               checks=checks)


def exit_code(results: Sequence[VerifyResult]) -> int:
    """0 when everything is verified; 1 when anything failed or is pending."""
    return 0 if all(r.status == Status.VERIFIED for r in results) else 1
