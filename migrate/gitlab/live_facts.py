"""The GitLab facts a binding rests on, read live before it is granted: the adapter behind
`migrate.apply.ports.LiveGitLab` (the comparison is `migrate.apply.live_checks`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from migrate.core.model import KeyVariable
from migrate.retire.ports import VariableHolding


class GitLabLiveFacts:
    """`LiveGitLab` over python-gitlab: variables through `GitLabVariableAdmin` (scope-filtered
    reads, value parsed for its identity only), projects by id, files with their ids.

    `gl`: one `gitlab.Gitlab` (one thread), or with `clients` a `GitLabClients` whose per-thread
    client each read uses (then the reads may run in worker threads: `CachedLive.prefetch`).
    `reads`: where the files read here are left for the merge-request executor of the same run
    (`migrate.gitlab.files.SharedReads`), so each file is fetched once per run."""

    def __init__(self, gl: Any = None, *, clients: Any = None, reads: Any = None) -> None:
        if (gl is None) == (clients is None):
            raise ValueError("GitLabLiveFacts needs a gitlab.Gitlab or a GitLabClients")
        self._gl: Callable[[], Any] = clients.gl if clients is not None else (lambda: gl)
        self._remote_hosts: tuple[str, ...] = tuple(getattr(clients, "remote_include_hosts", ()) or ())
        self.reads = reads

    def holding(self, var: KeyVariable) -> VariableHolding:
        from migrate.gitlab.variables_admin import GitLabVariableAdmin

        return GitLabVariableAdmin(self._gl()).holding(var)

    def file_text(self, project: str, path: str, ref: str) -> str | None:
        """The file's content at `ref` now (`GET /projects/:id/repository/files/:path`; without a
        ref, `…/raw` at the default branch)."""
        from migrate.core.errors import GitLabError
        from migrate.core.model import REMOTE_FILES
        from migrate.gitlab.templates import is_template, template_content

        if is_template(project):
            return _read_or_none(f"read template {path}", lambda: template_content(self._gl(), path))
        import gitlab

        from migrate.gitlab.components import ComponentError, component_text, is_component

        if is_component(project):
            try:
                return component_text(self._gl(), path)[0]
            except ComponentError as exc:
                raise GitLabError(str(exc)) from None
            except gitlab.exceptions.GitlabGetError as exc:
                raise GitLabError(f"read component {path}: {exc}") from None
        if project == REMOTE_FILES:
            from migrate.gitlab.remote import RemoteError, fetch_remote

            try:
                return fetch_remote(path, allowed_hosts=self._remote_hosts)
            except RemoteError as exc:
                raise GitLabError(str(exc)) from None
        if not ref:
            raw = _read_or_none(f"read {project}:{path}", lambda: self._gl().projects.get(project, lazy=True)
                                .files.raw(file_path=path, ref=None))
            if raw is None:
                return None
            data = raw if isinstance(raw, bytes) else bytes(raw or b"")
        else:
            import base64

            from migrate.gitlab.files import file_data

            body = _read_or_none(f"read {project}:{path}@{ref}", lambda: file_data(self._gl(), project, path, ref))
            if self.reads is not None:
                self._share(project, path, ref, body)
            if body is None:
                return None
            try:
                data = base64.b64decode(str(body.get("content") or ""))
            except ValueError:
                raise GitLabError(f"read {project}:{path}@{ref}: content is not base64") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise GitLabError(f"read {project}:{path}@{ref}: not UTF-8 text") from None

    def _share(self, project: str, path: str, ref: str, body: Mapping[str, Any] | None) -> None:
        import base64

        from migrate.apply.ports import FileState

        if body is None:
            self.reads.put(project, path, ref, None)
            return
        try:
            content = base64.b64decode(str(body.get("content") or "")).decode("utf-8", errors="replace")
        except ValueError:
            return  # not shared: the executor reads it itself and reports it
        self.reads.put(project, path, ref, FileState(path, ref, str(body.get("blob_id")), str(body.get("commit_id")),
                                                     str(body.get("last_commit_id")), content))

    def group_projects(self, group_id: int) -> dict[int, int]:
        """Project id → namespace id of every project under the group, subgroups included
        (`GET /groups/:id/projects?include_subgroups=true`, paginated): one request per 100
        projects instead of one per project (`per_page` given: `http_list` does not take the
        client's `per_page=100`, and GitLab's default page is 20). A project not listed (moved out, deleted, not
        visible) is read by id. The pages are read one after the other and only the two ids of each
        project kept: a full project object is ~3 KB of JSON, and the listings of 16 top-level groups
        held whole at once by the worker threads were ~15 MB of the dry run's peak at 10,000
        projects (issue 18)."""
        def listing() -> dict[int, int]:
            out: dict[int, int] = {}
            for row in self._gl().http_list(f"/groups/{int(group_id)}/projects", query_data={
                    "include_subgroups": True, "with_shared": False, "per_page": 100}, iterator=True):
                if isinstance(row, Mapping) and isinstance(row.get("id"), int):
                    out[int(row["id"])] = int((row.get("namespace") or {}).get("id") or 0)
            return out

        # an error on any page (the iterator raises it there) is the listing's error
        return _read_or_none(f"list the projects of group {group_id}", listing) or {}

    def project_namespace(self, project_id: int) -> int | None:
        project = _read_or_none(f"read project {project_id}", lambda: self._gl().http_get(f"/projects/{int(project_id)}"))
        if project is None:
            return None
        return int(((project if isinstance(project, Mapping) else {}).get("namespace") or {}).get("id") or 0)


def _read_or_none(what: str, read: Callable[[], Any]) -> Any:
    """One GitLab read: its answer, None on 404 (gone), else a GitLabError naming `what` and the cause."""
    import gitlab
    import requests

    from migrate.core.errors import GitLabError

    try:
        return read()
    except gitlab.exceptions.GitlabError as exc:
        if exc.response_code == 404:
            return None
        raise GitLabError(f"{what}: HTTP {exc.response_code}") from None
    except requests.RequestException as exc:
        raise GitLabError(f"{what}: GitLab not reachable ({type(exc).__name__})") from None
