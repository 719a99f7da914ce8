"""verify's pure decisions: which pipeline counts, how jobs are judged, what reaches the journal."""

from __future__ import annotations

from migrate.apply.ports import MRInfo
from migrate.ci.emit import MARKER
from migrate.core.codec import decode_time, decode_time_or_none
from migrate.verify.ports import PipelineInfo, PipelineJob
from migrate.verify.runner import (
    exit_code,
    failure_reason,
    judge_jobs,
    merged_sha,
    pipeline_after_merge,
    redact,
)

SIGNED = f"$ gcloud auth login --cred-file=c.json\nAuthenticated with external account credentials for: [sa].\n{MARKER}\n"


def pl(pid: int, sha: str, created: str, status: str = "success") -> PipelineInfo:
    return PipelineInfo(pid, sha, "main", status, "push", decode_time_or_none(created))  # "t": no time


class Traces:
    """A PipelineReader that only knows job logs (judge_jobs reads nothing else)."""

    def __init__(self, logs: dict[int, str]) -> None:
        self.logs = logs

    def trace(self, project: str, job_id: int) -> str:
        return self.logs[job_id]


def test_pipeline_after_merge_is_the_merge_commits_own() -> None:
    """By commit SHA, never by time: an unrelated pipeline created after the merge is not evidence
    (issue 16 §3); without a SHA (a template's consumer) the first pipeline since the merge."""
    pipelines = [pl(1, "old", "2026-01-01T00:00:00Z"), pl(2, "other", "2026-01-02T00:00:00.500Z"),
                 pl(3, "merge", "2026-01-02T00:00:01Z")]
    merged = decode_time("2026-01-02T00:00:00Z")
    assert pipeline_after_merge(pipelines, "merge", merged).id == 3  # type: ignore[union-attr]
    assert pipeline_after_merge(pipelines, None, merged).id == 2  # type: ignore[union-attr]
    assert pipeline_after_merge(pipelines, "nope", decode_time("2026-01-03T00:00:00Z")) is None
    assert pipeline_after_merge(pipelines[:2], "merge", merged) is None  # not "other"
    # a consumer's first pipeline at/after the merge, whatever zone GitLab answers in; an unreadable
    # creation time never counts, nor does anything without a merge time
    zoned = [pl(4, "a", "2026-01-02T00:59:59+01:00"), pl(5, "b", "t"), pl(6, "c", "2026-01-02T01:00:00.250+01:00")]
    assert pipeline_after_merge(zoned, None, merged).id == 6  # type: ignore[union-attr]
    assert pipeline_after_merge(pipelines, None, None) is None


def test_a_fast_forward_merge_is_found_by_the_mr_head_sha() -> None:
    ff = MRInfo(1, "merged", "t", "", (), "", "b", "main", sha="head1", merge_commit_sha=None)
    assert merged_sha(ff) == "head1"
    assert merged_sha(MRInfo(1, "merged", "t", "", (), "", "b", "main", sha="h", merge_commit_sha="m")) == "m"
    assert merged_sha(MRInfo(1, "merged", "t", "", (), "", "b", "main", sha="h", squash_commit_sha="q")) == "q"


# Built at run time: no PEM header is ever committed, not even a fake one.
PEM_HEADER = "-----BEGIN " + "PRIVATE KEY-----"


def test_failed_job_reason_comes_from_its_log_redacted() -> None:
    log = ("$ gcloud auth login --cred-file=x\n"
           f"{PEM_HEADER}\n"
           "ERROR: (gcloud.auth.login) federated sign-in as sa@p refused: Unable to acquire impersonated "
           "credentials: PERMISSION_DENIED Permission 'iam.serviceAccounts.getAccessToken' denied\n"
           "ERROR: Job failed: exit code 1\n")
    reason = failure_reason(log)
    assert "Unable to acquire impersonated credentials" in reason and "Job failed" not in reason
    assert "PRIVATE KEY" not in failure_reason(f"secret:\n{PEM_HEADER}\nMIIEv" + "A" * 80 + "\n")
    assert redact("token ya29." + "x" * 70).startswith("[redacted")
    check = judge_jobs("acme/api", pl(7, "m", "t", "failed"),
                       [PipelineJob(70, "deploy", "deploy", "failed"), PipelineJob(71, "test", "test", "success")],
                       ["deploy"], Traces({70: log}))  # type: ignore[arg-type]
    assert check.status == "failed" and "job deploy (70) failed in pipeline 7" in check.detail


def test_judging_jobs() -> None:
    ok = judge_jobs("p", pl(1, "s", "t"), [PipelineJob(1, "deploy", "d", "success"), PipelineJob(2, "x", "t", "failed")],
                    ["deploy"], Traces({1: SIGNED}))  # type: ignore[arg-type]
    assert ok.status == "verified"  # only the authenticating job counts
    manual = judge_jobs("p", pl(1, "s", "t"), [PipelineJob(1, "deploy", "d", "manual")], ["deploy"], Traces({}))  # type: ignore[arg-type]
    assert manual.status == "pending" and "manual job not played" in manual.detail
    assert manual.unverified == ({"project": "p", "job": "deploy", "reason": "manual job not played yet"},)
    template = judge_jobs("p", pl(1, "s", "t"), [PipelineJob(1, "deploy-prod", "d", "success"),
                                                 PipelineJob(2, "lint", "t", "success")], [".gcp-auth"],
                          Traces({1: SIGNED, 2: "$ yamllint .\n"}))  # type: ignore[arg-type]
    assert template.status == "verified" and "deploy-prod" in template.detail and "lint" not in template.detail
    unsigned = judge_jobs("p", pl(1, "s", "t"), [PipelineJob(1, "deploy-prod", "d", "success")], [".gcp-auth"],
                          Traces({1: "$ ./build.sh\n"}))  # type: ignore[arg-type]
    assert unsigned.status == "pending" and unsigned.unverified


def test_a_job_that_did_not_run_keeps_the_project_pending() -> None:
    """The attack from issue 16: the keyed job runs only on tags; the pipeline after the merge ran
    only a build job that never touches Google. That is not evidence: pending, naming the job."""
    check = judge_jobs("acme/release", pl(9, "m", "t"), [PipelineJob(90, "build", "build", "success")],
                       ["publish"], Traces({90: "$ make\n"}))  # type: ignore[arg-type]
    assert check.status == "pending", check
    assert check.unverified[0]["job"] == "publish" and "did not run" in check.unverified[0]["reason"]
    assert "judged on all its jobs" not in check.detail


def test_a_job_that_succeeded_without_the_marker_is_not_verified() -> None:
    check = judge_jobs("p", pl(1, "s", "t"), [PipelineJob(1, "deploy", "d", "success")], ["deploy"],
                       Traces({1: "$ gcloud auth login --cred-file=c.json || true\n$ ./deploy.sh\n"}))  # type: ignore[arg-type]
    assert check.status == "pending" and "marker" in check.unverified[0]["reason"]
    # the marker must be a line of its own, not a word in some other output
    fake = judge_jobs("p", pl(1, "s", "t"), [PipelineJob(1, "deploy", "d", "success")], ["deploy"],
                      Traces({1: f"$ echo 'not {MARKER} really'\n"}))  # type: ignore[arg-type]
    assert fake.status == "pending"


def test_exit_code() -> None:
    assert exit_code([]) == 0


class Commit:
    """A PipelineReader over a few pipelines of one project (what check_project reads)."""

    def __init__(self, pipelines: list[PipelineInfo], jobs: dict[int, list[PipelineJob]], logs: dict[int, str]) -> None:
        self._pipelines, self._jobs, self.logs = pipelines, jobs, logs

    def default_branch(self, project: str) -> str:
        return "main"

    def pipelines(self, project: str, ref: str) -> list[PipelineInfo]:
        return [p for p in self._pipelines if p.ref == ref]

    def pipelines_at(self, project: str, sha: str) -> list[PipelineInfo]:
        return [p for p in self._pipelines if p.sha == sha]

    def jobs(self, project: str, pipeline_id: int) -> list[PipelineJob]:
        return self._jobs.get(pipeline_id, [])

    def trace(self, project: str, job_id: int) -> str:
        return self.logs.get(job_id, "")


def test_a_tag_only_job_is_verified_by_a_tag_pipeline_of_the_merged_commit() -> None:
    """Issue 16's job-level gate, unchanged: the tag pipeline of *the merged SHA* runs the merged
    file, so its job is the same evidence; a tag pipeline of another commit, a failed or unmarked
    tag job, or no tag pipeline at all leaves the job unverified."""
    from migrate.verify.runner import check_project

    mr = MRInfo(1, "merged", "t", "", (), "", "b", "main", sha="h", merge_commit_sha="m")
    branch = PipelineInfo(1, "m", "main", "success", "push", None)
    build = [PipelineJob(10, "assemble", "build", "success")]

    def tag(pid: int, sha: str, status: str = "success") -> PipelineInfo:
        return PipelineInfo(pid, sha, "v1.0.0", status, "push", None)

    def check(pipelines: list[PipelineInfo], jobs: dict[int, list[PipelineJob]], logs: dict[int, str]) -> object:
        reader = Commit(pipelines, {1: build, **jobs}, logs)
        return check_project(reader, "acme/app", "main", mr, ["distribute"])  # type: ignore[arg-type]

    alone = check([branch], {}, {})
    assert alone.status == "pending" and "did not run" in alone.detail  # type: ignore[attr-defined]
    ok = check([branch, tag(2, "m")], {2: [PipelineJob(20, "distribute", "d", "success")]}, {20: SIGNED})
    assert ok.status == "verified" and "distribute in pipeline 2 (v1.0.0)" in ok.detail  # type: ignore[attr-defined]
    other_commit = check([branch, tag(2, "later")], {2: [PipelineJob(20, "distribute", "d", "success")]}, {20: SIGNED})
    assert other_commit.status == "pending"  # type: ignore[attr-defined]
    unmarked = check([branch, tag(2, "m")], {2: [PipelineJob(20, "distribute", "d", "success")]}, {20: "ok\n"})
    assert unmarked.status == "pending"  # type: ignore[attr-defined]
    failed = check([branch, tag(2, "m", "failed")], {2: [PipelineJob(20, "distribute", "d", "failed")]},
                   {20: "ERROR: (gcloud.auth.login) refused\n"})
    assert failed.status == "failed" and "v1.0.0" in failed.detail  # type: ignore[attr-defined]
