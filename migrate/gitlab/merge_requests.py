"""Branches, commits and merge requests through python-gitlab, returned as small records.

The only module that writes to repositories. `apply/merge_request_executor.py` decides; this module does one REST call
per method (plus pagination) and converts python-gitlab objects and errors at the boundary:
a missing file/branch is `None`; "already exists" on a create (a branch, an open MR) is
`GitLabConflict` so the caller can re-read and take over; anything else GitLab refuses becomes
`GitLabError` with what was attempted. Every method goes through the shared `GitLabClients` (rate limiter, per-thread client).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import gitlab
import gitlab.exceptions
from gitlab.utils import EncodedId

from migrate.apply.ports import BotIdentity, CommitInfo, FileAction, FileState, GroupMergeRequests, MRInfo
from migrate.core.errors import GitLabConflict, GitLabError
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.files import SharedReads, file_state
from migrate.gitlab.refusals import converts_transport_errors, explain

log = logging.getLogger(__name__)


def _mr(obj: Any) -> MRInfo:
    a = obj.attributes if hasattr(obj, "attributes") else dict(obj)
    closed = a.get("closed_by") or {}
    author = a.get("author") or {}
    return MRInfo(iid=int(a["iid"]), state=str(a.get("state")), title=str(a.get("title") or ""),
                  description=str(a.get("description") or ""), labels=tuple(a.get("labels") or ()),
                  web_url=str(a.get("web_url") or ""), source_branch=str(a.get("source_branch")),
                  target_branch=str(a.get("target_branch")), sha=a.get("sha"),
                  merge_commit_sha=a.get("merge_commit_sha"), squash_commit_sha=a.get("squash_commit_sha"),
                  merged_at=a.get("merged_at"),
                  closed_by=closed.get("username") if isinstance(closed, dict) else None,
                  author=author.get("username") if isinstance(author, dict) else None)


def _commit(data: Mapping[str, Any]) -> CommitInfo:
    return CommitInfo(id=str(data["id"]), message=str(data.get("message") or data.get("title") or ""),
                      author_name=str(data.get("author_name") or ""),
                      author_email=str(data.get("author_email") or ""),
                      parent_ids=tuple(data.get("parent_ids") or ()), web_url=str(data.get("web_url") or ""))


def _whole_listing(gl: gitlab.Gitlab, path: str, query: Mapping[str, Any]) -> list[Any] | None:
    """Every row of an offset-paginated listing, or None when it cannot be shown to be whole: GitLab's
    `X-Total` on the first and on the last page and the rows received must all agree, with no row
    twice. A row deleted before the page it is on was read shifts a later row onto a page already
    read (then the totals differ); one created shifts a row onto the next page twice (the totals
    differ, a row repeats). Past 10,000 rows GitLab sends no total: None too."""
    pages = gl.http_list(path, iterator=True, query_data=dict(query))
    first = getattr(pages, "total", None)
    rows = list(pages)
    last = getattr(pages, "total", None)
    ids = [row.get("id") if isinstance(row, Mapping) else None for row in rows]
    if first is None or first != last or len(rows) != first or len(set(ids)) != len(ids):
        return None
    return rows


@converts_transport_errors
class GitLabMergeRequests:
    """`MergeRequestBackend` over python-gitlab (one shared `GitLabClients`)."""

    def __init__(self, clients: GitLabClients, reads: SharedReads | None = None) -> None:
        self.clients = clients
        self.reads = reads  # files this run already read live (each served once), see SharedReads

    def _project(self, project: str) -> Any:
        return self.clients.gl().projects.get(project, lazy=True)

    @staticmethod
    def _fail(what: str, exc: gitlab.exceptions.GitlabError, method: str = "GET") -> GitLabError:
        return GitLabError(f"{what}: GitLab answered {explain(exc, method)}")

    def whoami(self) -> BotIdentity:
        gl = self.clients.gl()
        try:
            gl.auth()
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail("GET /user", exc) from None
        user = gl.user
        if user is None:
            raise GitLabError("GET /user returned no user")
        attrs = getattr(user, "attributes", {}) or {}
        emails = tuple(dict.fromkeys(str(attrs[k]) for k in ("commit_email", "email", "public_email")
                                     if attrs.get(k)))
        user_id = attrs.get("id")
        return BotIdentity(str(user.username), int(user_id) if isinstance(user_id, int) else None, emails)

    # Reads go through `http_get`/`http_list` with the paths python-gitlab's managers use, without
    # building a lazy `Project` (~90 sub-managers) per call: at thousands of actions that object
    # cost more CPU than the request (issue 18).
    def file(self, project: str, path: str, ref: str) -> FileState | None:
        if self.reads is not None:
            seen, state = self.reads.take(project, path, ref)
            if seen:
                return state
        try:
            return file_state(self.clients.gl(), project, path, ref, self.clients.remote_include_hosts)
        except gitlab.exceptions.GitlabGetError as exc:
            raise self._fail(f"read {project}:{path}@{ref}", exc) from None

    def branch_head(self, project: str, branch: str) -> CommitInfo | None:
        try:
            b = self.clients.gl().http_get(f"/projects/{EncodedId(project)}/repository/branches/{EncodedId(branch)}")
        except gitlab.exceptions.GitlabHttpError as exc:
            if exc.response_code == 404:
                return None
            raise self._fail(f"read branch {project}:{branch}", exc) from None
        if not isinstance(b, dict) or not isinstance(b.get("commit"), dict):
            raise GitLabError(f"read branch {project}:{branch}: GitLab answered without the branch's commit")
        return _commit(b["commit"])

    def merge_requests(self, project: str, source_branch: str) -> list[MRInfo]:
        try:
            mrs = self.clients.gl().http_list(f"/projects/{EncodedId(project)}/merge_requests",
                                              query_data={"source_branch": source_branch, "state": "all"},
                                              get_all=True)
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"list merge requests of {project} from {source_branch}", exc) from None
        return [_mr(m) for m in mrs]

    def group_merge_requests(self, group_id: int, source_branch: str) -> GroupMergeRequests | None:
        """Every merge request from `source_branch` in the group and its subgroups, in two
        paginated listings instead of one request per project (issue 18):

        - `GET /groups/:id/merge_requests?source_branch=&state=all` (lib/api/merge_requests.rb:
          `MergeRequestsFinder` with `group_id`, `include_subgroups: true`; archived projects left
          out by default, `non_archived`, GitLab MR 23809), and
        - `GET /groups/:id/projects?include_subgroups=true` for which projects that listing covers:
          listed now, not archived, `merge_requests_access_level` "enabled". A project moved out of
          the group, archived, with merge requests private or disabled, or not visible is not
          covered, and the executor asks it by itself.

        None (nothing covered) when either listing fails or cannot be shown whole (`_whole_listing`)."""
        gl = self.clients.gl()
        try:
            rows = _whole_listing(gl, f"/groups/{int(group_id)}/projects", {
                "include_subgroups": True, "with_shared": False, "per_page": 100})
            mrs = _whole_listing(gl, f"/groups/{int(group_id)}/merge_requests", {
                "source_branch": source_branch, "state": "all", "per_page": 100})
        except gitlab.exceptions.GitlabError as exc:
            log.info("group %s: merge requests not listed (%s); each project is asked by itself", group_id,
                     explain(exc, "GET"))
            return None
        if rows is None or mrs is None:
            log.info("group %s: a listing changed while it was paged (or has no total); each project is asked "
                     "by itself", group_id)
            return None
        paths: dict[int, str] = {}
        for row in rows:
            a = row if isinstance(row, Mapping) else {}
            if (isinstance(a.get("id"), int) and isinstance(a.get("path_with_namespace"), str)
                    and a.get("archived") is False and a.get("merge_requests_access_level") == "enabled"):
                paths[int(a["id"])] = str(a["path_with_namespace"])
        found: dict[str, list[MRInfo]] = {}
        for m in mrs:
            a = m if isinstance(m, Mapping) else {}
            path = paths.get(a.get("project_id"))  # type: ignore[arg-type]
            if path is not None and a.get("source_branch") == source_branch:
                found.setdefault(path, []).append(_mr(a))
        return GroupMergeRequests(frozenset(paths.values()), {p: tuple(v) for p, v in found.items()})

    def get_mr(self, project: str, iid: int) -> MRInfo:
        try:
            return _mr(self._project(project).mergerequests.get(iid))
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"read merge request {project}!{iid}", exc) from None

    def commit(self, project: str, branch: str, message: str, actions: Sequence[FileAction],
               start_branch: str | None = None) -> CommitInfo:
        data: dict[str, Any] = {"branch": branch, "commit_message": message,
                                "actions": [a.to_api() for a in actions]}
        if start_branch:
            data["start_branch"] = start_branch
        try:
            c = self._project(project).commits.create(data)
        except gitlab.exceptions.GitlabError as exc:
            # GitLab answers 400 when the commit no longer fits what we read: "A branch called '…'
            # already exists" (start_branch), "A file with this name already exists" (create), "…
            # a file that has changed since you started editing it" (update with last_commit_id).
            # After a lost answer that is our own commit; the caller re-reads to find out.
            message = str(exc.error_message)
            if exc.response_code == 400 and ("already exists" in message or "changed since you started" in message):
                raise GitLabConflict(f"commit to {project}:{branch}: {message[:160]}") from None
            raise self._fail(f"commit to {project}:{branch}", exc, "POST") from None
        return _commit(c.attributes)

    def create_mr(self, project: str, source: str, target: str, title: str, description: str,
                  labels: Sequence[str], assignee_ids: Sequence[int]) -> MRInfo:
        data: dict[str, Any] = {"source_branch": source, "target_branch": target, "title": title,
                                "description": description, "labels": ",".join(labels),
                                "remove_source_branch": True}
        if assignee_ids:
            data["assignee_ids"] = list(assignee_ids)
        try:
            return _mr(self._project(project).mergerequests.create(data))
        except gitlab.exceptions.GitlabError as exc:
            if exc.response_code == 409:  # "Another open merge request already exists for this source branch"
                raise GitLabConflict(f"open a merge request in {project} from {source}: "
                                     f"{exc.error_message}") from None
            raise self._fail(f"open a merge request in {project} from {source}", exc, "POST") from None

    def update_mr(self, project: str, iid: int, changes: Mapping[str, Any]) -> MRInfo:
        try:
            result = self._project(project).mergerequests.update(iid, dict(changes))
        except gitlab.exceptions.GitlabError as exc:
            raise self._fail(f"update merge request {project}!{iid}", exc, "POST") from None
        return _mr(result)

    def user_ids(self, usernames: Sequence[str]) -> list[int]:
        ids: list[int] = []
        gl = self.clients.gl()
        for name in usernames:
            try:
                found = gl.users.list(username=name, get_all=False)
            except gitlab.exceptions.GitlabError as exc:
                raise self._fail(f"look up user {name}", exc) from None
            if not found:
                raise GitLabError(f"merge_requests.assignees: no GitLab user {name!r}")
            ids.append(int(found[0].id))
        return ids
