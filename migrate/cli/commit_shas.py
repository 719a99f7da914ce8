"""The commit SHA each offending CI file was read at, for GitLab's security report (`commit.sha`
must be a real commit: reference/gitlab.md §8). One files-API read per file, through the shared
rate-limited clients; a file that cannot be read just has no SHA (its finding is left out of that
report, with a message)."""

from __future__ import annotations

import logging

import requests

from migrate.core.config import Config
from migrate.core.errors import WifMigrateError
from migrate.core.progress import Progress, SilentProgress
from migrate.report.findings import FindingsDocument

log = logging.getLogger(__name__)


def file_commits(config: Config | None, doc: FindingsDocument,
                 progress: Progress | None = None) -> dict[tuple[str, str, str], str]:
    wanted = {(e.project, e.file, e.ref or "") for e in doc.exposures if e.kind == "usage" and e.file and e.ref}
    if config is None or not wanted:
        return {}
    from migrate.gitlab.client import GitLabClients
    from migrate.gitlab.files import read_files
    from migrate.plan.ports import FileText

    progress = progress or SilentProgress()
    progress.start("Reading the CI files' commits from GitLab", len(wanted))
    try:
        texts = read_files(GitLabClients.from_config(config), wanted, config.concurrency, progress)
    except (WifMigrateError, requests.RequestException) as exc:  # the report is still written, without those
        log.warning("cannot read the CI files' commits from GitLab (%s): the GitLab report leaves their "
                    "findings out", type(exc).__name__)
        return {}
    finally:
        progress.finish()
    return {k: str(t.commit_id) for k, t in texts.items() if isinstance(t, FileText) and t.commit_id}
