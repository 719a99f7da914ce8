"""Read CI files with the ids a merge request needs: content, blob id and last commit id.

The plan records what each rewrite was computed from (`base_blob_id`, `base_commit_id`) so apply
can tell a file changed since planning. `GET /projects/:id/repository/files/:path?ref=` answers all
three in one call (content base64-encoded). Read-only.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import gitlab

from migrate.core.progress import Progress
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.refusals import explain
from migrate.plan.ports import FileText

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


def read_files(clients: GitLabClients, wanted: Iterable[tuple[str, str, str]],
               concurrency: int = 8, progress: Progress | None = None) -> dict[tuple[str, str, str], FileText | str]:
    """Every wanted file, read by `concurrency` threads through the shared (rate-limited) clients:
    one request each, so thousands of files take seconds, not minutes."""
    keys = sorted(set(wanted))
    out: dict[tuple[str, str, str], FileText | str] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="read-file") as pool:
        for key, result in zip(keys, pool.map(lambda k: read_file(clients, *k), keys), strict=True):
            out[key] = result
            if progress is not None:
                progress.advance()
            if isinstance(result, str):
                log.info("could not read %s:%s@%s: %s", *key, result)
    return out
