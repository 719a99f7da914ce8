"""verify's pure decisions: which pipeline counts, how jobs are judged, what reaches the journal."""

from __future__ import annotations

from migrate.gitlab.pipelines import JobInfo, PipelineInfo
from migrate.verify import exit_code, failure_reason, judge_jobs, pipeline_after_merge, redact


def pl(pid: int, sha: str, created: str, status: str = "success") -> PipelineInfo:
    return PipelineInfo(pid, sha, "main", status, "push", created)


class Traces:
    """A PipelineReader that only knows job logs (judge_jobs reads nothing else)."""

    def __init__(self, logs: dict[int, str]) -> None:
        self.logs = logs

    def trace(self, project: str, job_id: int) -> str:
        return self.logs[job_id]


def test_pipeline_after_merge_prefers_the_merge_commit_then_time() -> None:
    pipelines = [pl(1, "old", "2026-01-01T00:00:00Z"), pl(2, "other", "2026-01-02T00:00:00.500Z"),
                 pl(3, "merge", "2026-01-02T00:00:01Z")]
    assert pipeline_after_merge(pipelines, "merge", "2026-01-02T00:00:00Z").id == 3  # type: ignore[union-attr]
    assert pipeline_after_merge(pipelines, None, "2026-01-02T00:00:00Z").id == 2  # type: ignore[union-attr]
    assert pipeline_after_merge(pipelines, "nope", "2026-01-03T00:00:00Z") is None


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
                       [JobInfo(70, "deploy", "deploy", "failed"), JobInfo(71, "test", "test", "success")],
                       ["deploy"], Traces({70: log}))  # type: ignore[arg-type]
    assert check.status == "failed" and "job deploy (70) failed in pipeline 7" in check.detail


def test_judging_jobs() -> None:
    ok = judge_jobs("p", pl(1, "s", "t"), [JobInfo(1, "deploy", "d", "success"), JobInfo(2, "x", "t", "failed")],
                    ["deploy"], Traces({}))  # type: ignore[arg-type]
    assert ok.status == "verified"  # only the authenticating job counts
    manual = judge_jobs("p", pl(1, "s", "t"), [JobInfo(1, "deploy", "d", "manual")], ["deploy"], Traces({}))  # type: ignore[arg-type]
    assert manual.status == "pending" and "deploy: manual" in manual.detail
    renamed = judge_jobs("p", pl(1, "s", "t"), [JobInfo(1, "deploy-prod", "d", "success")], [".gcp-auth"],
                         Traces({}))  # type: ignore[arg-type]
    assert renamed.status == "verified" and "judged on all its jobs" in renamed.detail


def test_exit_code() -> None:
    assert exit_code([]) == 0
