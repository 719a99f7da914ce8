"""Read CI files with the ids a merge request needs: content, blob id and last commit id.

The plan records what each rewrite was computed from (`base_blob_id`, `base_commit_id`) so apply
can tell a file changed since planning. `GET /projects/:id/repository/files/:path?ref=` answers all
three in one call (content base64-encoded). Read-only.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gitlab
import gitlab.utils

from migrate.apply.ports import FileState
from migrate.core.model import REMOTE_FILES
from migrate.core.progress import Progress
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.components import ComponentError, component_text, is_component
from migrate.gitlab.refusals import explain
from migrate.gitlab.remote import RemoteError, fetch_remote
from migrate.gitlab.templates import content_id, is_template, template_content
from migrate.plan.ports import FileText

log = logging.getLogger(__name__)


@gitlab.exceptions.on_http_error(gitlab.exceptions.GitlabGetError)
def file_data(gl: gitlab.Gitlab, project: str | int, path: str, ref: str) -> dict[str, Any]:
    """`GET /projects/:id/repository/files/:file_path?ref=` as python-gitlab's `files.get` sends
    it (same encoding, same `GitlabGetError`), returning the JSON body: without the lazy
    `Project` and `ProjectFile` objects, whose ~90 sub-managers cost more CPU than the request
    itself when thousands of files are read (issue 18)."""
    data = gl.http_get(f"/projects/{gitlab.utils.EncodedId(project)}/repository/files/"
                       f"{gitlab.utils.EncodedId(path)}", ref=ref)
    if not isinstance(data, dict):
        raise gitlab.exceptions.GitlabGetError("unexpected answer (not a JSON object)", 200)
    return data


def file_state(gl: gitlab.Gitlab, project: str, path: str, ref: str,
               remote_hosts: tuple[str, ...] = ()) -> FileState | None:
    """The file at `ref` with its ids, None when GitLab answers 404; other refusals raise
    `GitlabGetError` (the caller says what it was doing)."""
    if project == REMOTE_FILES:
        try:
            remote = fetch_remote(path, allowed_hosts=remote_hosts)
        except RemoteError as exc:
            raise gitlab.exceptions.GitlabGetError(str(exc), None) from None
        return FileState(path, ref, content_id(remote), "", "", remote)
    if is_component(project):
        try:
            component, body = component_text(gl, path)
        except ComponentError as exc:
            raise gitlab.exceptions.GitlabGetError(str(exc), None) from None
        return FileState(path, ref, str(body.get("blob_id")), str(body.get("commit_id")),
                         str(body.get("last_commit_id")), component)
    if is_template(project):
        template = template_content(gl, path)
        if template is None:
            return None
        return FileState(path, ref, content_id(template), "", "", template)
    try:
        f = file_data(gl, project, path, ref)
    except gitlab.exceptions.GitlabGetError as exc:
        if exc.response_code == 404:
            return None
        raise
    return FileState(path, ref, str(f.get("blob_id")), str(f.get("commit_id")), str(f.get("last_commit_id")),
                     base64.b64decode(str(f.get("content") or "")).decode("utf-8", errors="replace"))


class SharedReads:
    """Files one command run has already read live, handed to the next reader of the same file once.

    `apply` re-reads every CI file a binding rests on (migrate.apply.live_checks) and, moments
    later, the merge-request executor reads the same files to rewrite them: one request serves
    both. Each entry is *taken* (used once): a second read of the same file in the run — a take
    over after GitLab answered "already exists", whose point is to see what is there now — goes
    to GitLab again. Thread-safe (the readers run in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str, str], FileState | None] = {}

    def put(self, project: str, path: str, ref: str, state: FileState | None) -> None:
        with self._lock:
            self._files[(project, path, ref)] = state

    def take(self, project: str, path: str, ref: str) -> tuple[bool, FileState | None]:
        """(True, the file or None for 404) when it was read in this run and not taken yet."""
        with self._lock:
            if (project, path, ref) in self._files:
                return True, self._files.pop((project, path, ref))
        return False, None

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)


def read_file(clients: GitLabClients, project: str, path: str, ref: str) -> FileText | str:
    """The file, or a one-line reason it could not be read (per-item outcome, not an exception)."""
    if project == REMOTE_FILES:
        try:
            remote = fetch_remote(path, allowed_hosts=clients.remote_include_hosts)
        except RemoteError as exc:
            return str(exc)
        return FileText(remote, content_id(remote), None)
    if is_component(project):
        try:
            component, body = component_text(clients.gl(), path)
        except ComponentError as exc:
            return str(exc)
        except gitlab.exceptions.GitlabError as exc:
            return explain(exc, "GET")
        return FileText(component, body.get("blob_id"), body.get("last_commit_id") or body.get("commit_id"))
    if is_template(project):
        try:
            template = template_content(clients.gl(), path)
        except gitlab.exceptions.GitlabError as exc:
            return explain(exc, "GET")
        if template is None:
            return f"404 Not Found (this GitLab has no CI template {path})"
        return FileText(template, content_id(template), None)
    try:
        f = file_data(clients.gl(), project, path, ref)
    except gitlab.exceptions.GitlabError as exc:
        return explain(exc, "GET")
    try:
        content = base64.b64decode(str(f.get("content") or "")).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return "not UTF-8 text"
    return FileText(content, f.get("blob_id"), f.get("last_commit_id") or f.get("commit_id"))


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
