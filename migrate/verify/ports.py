"""What `verify` needs from GitLab: the `PipelineReader` Protocol and the records it returns.

The adapter (`migrate.gitlab.pipelines.GitLabPipelines`) implements it; `verify` never imports the
adapter, and tests can hand it any object with these methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from migrate.apply.ports import MRInfo


@dataclass(frozen=True)
class PipelineInfo:
    id: int
    sha: str
    ref: str
    status: str
    source: str
    created_at: datetime | None  # aware UTC; None when GitLab sent no readable time (never "after" a merge)
    web_url: str = ""


@dataclass(frozen=True)
class PipelineJob:
    id: int
    name: str
    stage: str
    status: str
    failure_reason: str | None = None
    allow_failure: bool = False
    web_url: str = ""


class PipelineReader(Protocol):
    """What `verify` reads from GitLab (the real one is `GitLabPipelines`)."""

    def merge_requests(self, project: str, source_branch: str) -> list[MRInfo]: ...
    def default_branch(self, project: str) -> str | None: ...
    def pipelines(self, project: str, ref: str) -> list[PipelineInfo]: ...
    def pipelines_at(self, project: str, sha: str) -> list[PipelineInfo]: ...
    def jobs(self, project: str, pipeline_id: int) -> list[PipelineJob]: ...
    def trace(self, project: str, job_id: int) -> str: ...
