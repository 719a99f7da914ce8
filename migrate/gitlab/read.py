"""Read-only GitLab operations the scan needs: scope walk, variables, raw files, version.

Every call goes through this thread's python-gitlab client (`GitLabClients.gl()`), so it is paced
by the shared rate limiter and retried on 429/5xx by python-gitlab. Rows are converted to the small
records of `migrate.scan.ports` as they stream in (listings are iterated page by page, never
materialised), and python-gitlab exceptions become `ReadError` with the HTTP status, which the scan
turns into per-item problems.

Variable values are handed to `migrate.core.keyfile.parse_key` here and dropped; only the key identity
leaves this module.

Request economy (reference/gitlab.md §3.1): group project listings already carry
`ci_config_path`, `default_branch`, `namespace` and `empty_repo`, so no per-project GET is made;
files are read through the raw endpoint (one request, no base64 envelope).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.utils import EncodedId

from migrate.core.keyfile import parse_key
from migrate.core.model import REMOTE_FILES, VariableLevel
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.components import ComponentError, component_text, is_component
from migrate.gitlab.refusals import explain
from migrate.gitlab.remote import RemoteError, fetch_remote
from migrate.gitlab.templates import is_template, template_content
from migrate.scan.ports import (
    FileRead,
    GroupInfo,
    ProjectInfo,
    ReadError,
    ScheduleInfo,
    ScheduleVariable,
    VariableInfo,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
PER_PAGE = 100


class GitLabReader:
    """The read side of the GitLab backend (implements `migrate.scan.ports.GitLabSource`)."""

    def __init__(self, clients: GitLabClients) -> None:
        self.clients = clients

    @property
    def url(self) -> str:
        return self.clients.url

    # --- instance ------------------------------------------------------------------------
    def version(self) -> str:
        """`GET /version` (python-gitlab's `gl.version()` hides errors as 'unknown'; we do not)."""
        data = self._call("version", lambda gl: gl.http_get("/version"))
        return str(data.get("version", "")) if isinstance(data, dict) else ""

    # --- scope walk ----------------------------------------------------------------------
    def group(self, ref: str | int) -> GroupInfo:
        data = self._call(f"group:{ref}",
                          lambda gl: gl.http_get(f"/groups/{EncodedId(ref)}", {"with_projects": False}))
        return _group(data)

    def descendant_groups(self, group_id: int) -> Iterator[GroupInfo]:
        for row in self._list(f"group:{group_id}:descendant_groups",
                              f"/groups/{group_id}/descendant_groups", {"all_available": True}):
            yield _group(row)

    def group_projects(self, group_id: int, include_archived: bool = True) -> Iterator[ProjectInfo]:
        """Every project below the group (subgroups included, shared-in projects not). Archived
        ones are listed unless `include_archived=False`, so the scan can account for them."""
        query: dict[str, Any] = {"include_subgroups": True, "with_shared": False,
                                 "order_by": "id", "sort": "asc"}
        if not include_archived:
            query["archived"] = False
        for row in self._list(f"group:{group_id}:projects", f"/groups/{group_id}/projects", query):
            yield _project(row)

    def project(self, ref: str | int) -> ProjectInfo:
        return _project(self._call(f"project:{ref}", lambda gl: gl.http_get(f"/projects/{EncodedId(ref)}")))

    def all_projects(self, include_archived: bool = True) -> Iterator[ProjectInfo]:
        """Every project of the instance, by keyset pagination: GitLab refuses offset pagination
        of projects past 50,000 rows with 405 (lib/api/helpers/pagination_strategies.rb), and
        keyset pages do not shift when projects are created during the walk."""
        query: dict[str, Any] = {"pagination": "keyset", "order_by": "id", "sort": "asc"}
        if not include_archived:
            query["archived"] = False
        for row in self._list("projects", "/projects", query):
            yield _project(row)

    def all_groups(self) -> Iterator[GroupInfo]:
        for row in self._list("groups", "/groups", {"all_available": True, "order_by": "id", "sort": "asc"}):
            yield _group(row)

    # --- variables and files -------------------------------------------------------------
    def variables(self, level: VariableLevel, owner: str, owner_id: int | None) -> list[VariableInfo]:
        """All variables of an instance/group/project, values reduced to key identities."""
        if level == "instance":
            path, what = "/admin/ci/variables", "instance variables"
        elif level == "group":
            path, what = f"/groups/{owner_id}/variables", f"group:{owner} variables"
        else:
            path, what = f"/projects/{owner_id}/variables", f"project:{owner} variables"
        return [_variable(row, level, owner, owner_id) for row in self._list(what, path, {})]

    def pipeline_schedules(self, project: str, project_id: int) -> list[ScheduleInfo]:
        """Every pipeline schedule of the project (active or not: a paused one can be resumed) with
        its variables, values reduced to key identities. The listing has no variables; each
        schedule's GET has (doc/api/pipeline_schedules.md, "Get a single pipeline schedule")."""
        out = []
        for row in list(self._list(f"project:{project} pipeline schedules",
                                   f"/projects/{project_id}/pipeline_schedules", {})):
            sid = int(row["id"])
            what = f"project:{project} pipeline schedule {sid}"
            url = f"/projects/{project_id}/pipeline_schedules/{sid}"
            data = self._call(what, lambda gl: gl.http_get(url))  # noqa: B023 - called at once
            if not isinstance(data, dict) or not isinstance(data.get("variables"), list):
                raise ReadError(what, None, "the schedule's variables were not returned")
            variables = []
            for v in data["variables"]:
                value = v.pop("value", None) if isinstance(v, dict) else None
                parsed = parse_key(value) if isinstance(value, str) else None
                del value  # drop the value as early as we can
                variables.append(ScheduleVariable(
                    name=str(v.get("key", "")),
                    variable_type="file" if v.get("variable_type") == "file" else "env_var",
                    key=parsed.identity if parsed and parsed.problem is None else None,
                    encoding=parsed.encoding if parsed else "unknown",
                    key_problem=parsed.problem if parsed else None))
            out.append(ScheduleInfo(sid, str(data.get("description") or ""), str(data.get("ref") or ""),
                                    bool(data.get("active", True)), tuple(variables)))
        return out

    def file_text(self, project: str | int, path: str, ref: str | None) -> str:
        """A file's content at `ref` (None: the default branch); see `file_read`."""
        return self.file_read(project, path, ref).text

    def file_read(self, project: str | int, path: str, ref: str | None) -> FileRead:
        """A file's content at `ref` (None: the default branch), via the raw endpoint, with the
        blob and commit ids GitLab sends as headers (lib/api/files.rb: the raw endpoint calls
        `set_http_headers(blob_data)`: `X-Gitlab-Blob-Id`, `X-Gitlab-Last-Commit-Id`, …); a GitLab
        CI template (`core.model.GITLAB_TEMPLATES`) via the templates API (`gitlab.templates`),
        a component or remote file as they are read (no ids)."""
        if project == REMOTE_FILES:
            try:
                return FileRead(fetch_remote(path, allowed_hosts=self.clients.remote_include_hosts))
            except RemoteError as exc:
                raise ReadError(f"remote:{path}", None, str(exc)) from None
        if is_component(project):
            what = f"component:{path}"
            try:
                return FileRead(self._call(what, lambda gl: component_text(gl, path)[0]))
            except ComponentError as exc:
                raise ReadError(what, None, str(exc)) from None
        if is_template(project):
            what = f"template:{path}"
            content = self._call(what, lambda gl: template_content(gl, path))
            if content is None:
                raise ReadError(what, 404, f"404 Not Found (this GitLab has no CI template {path})")
            return FileRead(content)
        url = f"/projects/{EncodedId(project)}/repository/files/{EncodedId(path)}/raw"
        query = {"ref": ref} if ref else {}
        what = f"file:{project}:{path}@{ref or 'HEAD'}"
        response = self._call(what, lambda gl: gl.http_get(url, query, raw=True, streamed=False))
        headers = response.headers if isinstance(response, requests.Response) else {}
        body = response.content if isinstance(response, requests.Response) else response
        if not isinstance(body, bytes):
            raise ReadError(what, None, "unexpected response (not a file body)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ReadError(what, None, "not UTF-8 text") from None
        return FileRead(text, str(headers.get("X-Gitlab-Blob-Id") or ""),
                        str(headers.get("X-Gitlab-Last-Commit-Id") or headers.get("X-Gitlab-Commit-Id") or ""))

    # --- plumbing ------------------------------------------------------------------------
    def schedules(self, project: str | int) -> list[dict[str, Any]]:
        """The project's active pipeline schedules (`GET /projects/:id/pipeline_schedules?scope=active`,
        doc/api/pipeline_schedules.md): {id, description, ref, cron, cron_timezone}."""
        return [{"id": row.get("id"), "description": str(row.get("description") or ""),
                 "ref": str(row.get("ref") or ""), "cron": str(row.get("cron") or ""),
                 "cron_timezone": str(row.get("cron_timezone") or "UTC")}
                for row in self._list(f"project:{project}:pipeline_schedules",
                                      f"/projects/{EncodedId(project)}/pipeline_schedules", {"scope": "active"})
                if row.get("active", True)]

    def _call(self, what: str, fn: Callable[[gitlab.Gitlab], T]) -> T:
        try:
            return fn(self.clients.gl())
        except gitlab.exceptions.GitlabError as exc:
            raise _read_error(what, exc) from None
        except requests.RequestException as exc:
            raise ReadError(what, None, f"connection failed ({type(exc).__name__})") from None

    def _list(self, what: str, path: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Stream a paginated listing row by row; a failing page raises ReadError."""
        query = {"per_page": PER_PAGE, **query}
        rows = self._call(what, lambda gl: gl.http_list(path, query, iterator=True,
                                                        max_retries=self.clients.max_retries))
        iterator = iter(rows)
        while True:
            try:
                row = next(iterator)
            except StopIteration:
                return
            except gitlab.exceptions.GitlabError as exc:
                raise _read_error(what, exc) from None
            except requests.RequestException as exc:
                raise ReadError(what, None, f"connection failed ({type(exc).__name__})") from None
            if isinstance(row, dict):
                yield row


def _read_error(what: str, exc: gitlab.exceptions.GitlabError) -> ReadError:
    return ReadError(what, exc.response_code, explain(exc, "GET"))


def _group(data: Any) -> GroupInfo:
    return GroupInfo(id=int(data["id"]), full_path=str(data.get("full_path") or data.get("path")),
                     parent_id=data.get("parent_id"))


def _project(data: Any) -> ProjectInfo:
    ns = data.get("namespace") or {}
    return ProjectInfo(
        id=int(data["id"]),
        path=str(data["path_with_namespace"]),
        namespace_id=int(ns.get("id", 0)),
        namespace_path=str(ns.get("full_path") or ""),
        namespace_kind=str(ns.get("kind") or "group"),
        namespace_parent_id=ns.get("parent_id"),
        default_branch=data.get("default_branch"),
        ci_config_path=data.get("ci_config_path") or None,
        archived=bool(data.get("archived", False)),
        empty_repo=bool(data.get("empty_repo", False)),
    )


def _variable(row: dict[str, Any], level: VariableLevel, owner: str, owner_id: int | None) -> VariableInfo:
    value = row.get("value")
    parsed = parse_key(value) if isinstance(value, str) else None
    hidden = bool(row.get("hidden", False)) or value is None
    info = VariableInfo(
        level=level,
        owner=owner,
        owner_id=owner_id,
        name=str(row.get("key", "")),
        variable_type="file" if row.get("variable_type") == "file" else "env_var",
        protected=bool(row.get("protected", False)),
        masked=bool(row.get("masked", False)),
        hidden=hidden,
        environment_scope=str(row.get("environment_scope") or "*"),
        readable=value is not None,
        key=parsed.identity if parsed and parsed.problem is None else None,
        encoding=parsed.encoding if parsed else "unknown",
        key_problem=parsed.problem if parsed else None,
    )
    row.pop("value", None)  # drop the value as early as we can
    return info
