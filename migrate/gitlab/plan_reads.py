"""The GitLab side of `plan` (migrate.plan.ports.PlanGitLab), read-only: the instance's OIDC
issuer and JWKS (discovery) and the CI files the rewrites start from (migrate.gitlab.files)."""

from __future__ import annotations

from collections.abc import Iterable

from migrate.core.config import Config
from migrate.core.progress import Progress
from migrate.gitlab import oidc
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.files import read_files
from migrate.plan.ports import FileId, FileText


class GitLabPlanReads:
    """Built by the CLI from the configuration; the clients (and their rate limiter) are built on
    the first file read, not before."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def discovered_issuer(self) -> str:
        return oidc.issuer(self.config.gitlab.url, self.config.gitlab.ssl_verify)

    def jwks_json(self) -> str:
        return oidc.jwks_json(self.config.gitlab.url, self.config.gitlab.ssl_verify)

    def ci_files(self, wanted: Iterable[FileId], progress: Progress) -> dict[FileId, FileText | str]:
        wanted = set(wanted)
        progress.start("Reading CI files from GitLab", len(wanted))
        try:
            return read_files(GitLabClients.from_config(self.config), wanted, self.config.concurrency, progress)
        finally:
            progress.finish()
