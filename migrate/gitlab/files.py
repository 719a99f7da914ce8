"""Read CI files with the ids a merge request needs: content, blob id and last commit id.

The plan records what each rewrite was computed from (`base_blob_id`, `base_commit_id`) so apply
can tell a file changed since planning. `GET /projects/:id/repository/files/:path?ref=` answers all
three in one call (content base64-encoded). Read-only.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable

import gitlab

from migrate.gitlab.client import GitLabClients
from migrate.gitlab.refusals import explain
from migrate.plan import FileText

log = logging.getLogger(__name__)


def read_file(clients: GitLabClients, project: str, path: str, ref: str) -> FileText | str:
    """The file, or a one-line reason it could not be read (per-item outcome, not an exception)."""
    try:
        f = clients.gl().projects.get(project, lazy=True).files.get(file_path=path, ref=ref)
    except gitlab.exceptions.GitlabError as exc:
        return explain(exc, "GET")
    try:
        content = base64.b64decode(f.content).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return "not UTF-8 text"
    return FileText(content, getattr(f, "blob_id", None), getattr(f, "last_commit_id", None)
                    or getattr(f, "commit_id", None))


def read_files(clients: GitLabClients, wanted: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], FileText | str]:
    out: dict[tuple[str, str, str], FileText | str] = {}
    for project, path, ref in sorted(set(wanted)):
        out[(project, path, ref)] = read_file(clients, project, path, ref)
        if isinstance(out[(project, path, ref)], str):
            log.info("could not read %s:%s@%s: %s", project, path, ref, out[(project, path, ref)])
    return out
