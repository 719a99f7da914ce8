"""What `plan` reads from the outside, read-only: the `PlanGitLab` and `PlanGoogle` Protocols and
the CI file record the GitLab file reader returns.

The adapters (`migrate.gitlab.plan_reads.GitLabPlanReads`, `migrate.google.plan_reads.GooglePlanReads`)
implement them; the plan stage (`migrate.plan.runner`) never imports an adapter, and the CLI only
builds them (issue 20: a thin `cli/plan.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from migrate.core.progress import Progress

FileId = tuple[str, str, str]  # (project path, file path, ref)


@dataclass(frozen=True)
class FileText:
    """A CI file as read (read-only) for the rewrite: content and the ids it was read at."""

    content: str
    blob_id: str | None = None
    commit_id: str | None = None


class PlanGitLab(Protocol):
    """The instance, read-only: its OIDC issuer and keys, and CI files at a ref."""

    def discovered_issuer(self) -> str: ...  # raises WifMigrateError when discovery cannot be read
    def jwks_json(self) -> str: ...
    # every wanted file, or a one-line reason it could not be read (per-item outcome)
    def ci_files(self, wanted: Iterable[FileId], progress: Progress) -> dict[FileId, FileText | str]: ...


class PlanTexts(Protocol):
    """The CI texts `scan` kept, by sha256 (real: the state database, `core.state.State.texts`)."""

    def texts(self, sha256s: Iterable[str]) -> Mapping[str, str]: ...


class PlanGoogle(Protocol):
    """Google, read-only: the identity project's number and the federation as it is now."""

    def project_number(self, project: str) -> str: ...
    def federation_resource(self, name: str) -> dict[str, Any] | None: ...  # a pool or provider; None: absent
    def iam_policy(self, resource: str) -> dict[str, Any]: ...  # raises WifMigrateError when unreadable
