"""What `plan` reads from the outside: the CI file records the GitLab file reader returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileText:
    """A CI file as read (read-only) for the rewrite: content and the ids it was read at."""

    content: str
    blob_id: str | None = None
    commit_id: str | None = None
