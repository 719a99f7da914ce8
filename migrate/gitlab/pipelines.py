"""Pipelines, jobs and job logs through python-gitlab (reads only), for `verify`.

Returns small frozen records; a job log is returned as text for the caller to redact (a real job
log may contain whatever a script printed, key material included, so `verify` keeps only the
lines that explain a failure, after redaction).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import gitlab.exceptions

from migrate.core.codec import decode_time_or_none
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.gitlab.refusals import converts_transport_errors
from migrate.verify.ports import PipelineInfo, PipelineJob

log = logging.getLogger(__name__)


@converts_transport_errors
class GitLabPipelines(GitLabMergeRequests):
    """`PipelineReader` over python-gitlab."""

    def __init__(self, clients: GitLabClients) -> None:
        super().__init__(clients)

    def default_branch(self, project: str) -> str | None:
        try:
            p = self.clients.gl().projects.get(project)
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"read project {project}", exc) from None
        value = getattr(p, "default_branch", None)
        return str(value) if value else None

    def pipelines(self, project: str, ref: str) -> list[PipelineInfo]:
        """The ref's pipelines, oldest first."""
        try:
            rows: list[Any] = self._project(project).pipelines.list(ref=ref, order_by="id", sort="asc",
                                                                    get_all=True)
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"list pipelines of {project} on {ref}", exc) from None
        return _oldest_first(rows)

    def pipelines_at(self, project: str, sha: str) -> list[PipelineInfo]:
        """Every pipeline of one commit, whatever its ref (branch or tag), oldest first
        (GET /projects/:id/pipelines?sha=, doc/api/pipelines.md)."""
        try:
            rows: list[Any] = self._project(project).pipelines.list(sha=sha, order_by="id", sort="asc",
                                                                    get_all=True)
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"list pipelines of {project} at {sha[:12]}", exc) from None
        return _oldest_first(p for p in rows if str(p.sha) == sha)

    def jobs(self, project: str, pipeline_id: int) -> list[PipelineJob]:
        try:
            pipeline = self._project(project).pipelines.get(pipeline_id, lazy=True)
            rows: list[Any] = pipeline.jobs.list(get_all=True, include_retried=False)
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"list jobs of pipeline {pipeline_id} in {project}", exc) from None
        return [PipelineJob(int(j.id), str(j.name), str(j.stage), str(j.status),
                        getattr(j, "failure_reason", None), bool(getattr(j, "allow_failure", False)),
                        str(getattr(j, "web_url", "") or "")) for j in rows]

    def schedules(self, project: str) -> list[dict[str, Any]]:
        """The project's active pipeline schedules: {id, description, ref, cron, cron_timezone}
        (GET /projects/:id/pipeline_schedules?scope=active)."""
        try:
            rows: list[Any] = self._project(project).pipelineschedules.list(scope="active", get_all=True)
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"list pipeline schedules of {project}", exc) from None
        return [{"id": int(r.id), "description": str(getattr(r, "description", "") or ""),
                 "ref": str(getattr(r, "ref", "") or ""), "cron": str(getattr(r, "cron", "") or ""),
                 "cron_timezone": str(getattr(r, "cron_timezone", "") or "UTC")}
                for r in rows if getattr(r, "active", True)]

    def trace(self, project: str, job_id: int) -> str:
        try:
            raw = self._project(project).jobs.get(job_id, lazy=True).trace()
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"read the log of job {job_id} in {project}", exc) from None
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


def _oldest_first(rows: Iterable[Any]) -> list[PipelineInfo]:
    """python-gitlab pipeline rows as records, oldest first."""
    return sorted((PipelineInfo(int(p.id), str(p.sha), str(p.ref), str(p.status),
                                str(getattr(p, "source", "") or ""), decode_time_or_none(getattr(p, "created_at", None)),
                                str(getattr(p, "web_url", "") or "")) for p in rows),
                  key=lambda p: p.id)
