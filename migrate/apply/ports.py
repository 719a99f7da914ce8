"""What `apply` needs from the outside: the Protocols its executors call and the records they return.

The adapters (`migrate.gitlab.merge_requests.GitLabMergeRequests`, …) implement them; the executors
never import an adapter, and the CLI builds the adapters and hands them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from migrate.core.codec import decode_time_or_none
from migrate.core.errors import GoogleError
from migrate.core.model import KeyVariable
from migrate.retire.ports import VariableHolding


@dataclass(frozen=True)
class FileState:
    path: str
    ref: str
    blob_id: str
    commit_id: str
    last_commit_id: str
    content: str


@dataclass(frozen=True)
class CommitInfo:
    id: str
    message: str
    author_name: str
    author_email: str
    parent_ids: tuple[str, ...] = ()
    web_url: str = ""


@dataclass(frozen=True)
class BotIdentity:
    """Who the tool's token is, as far as commit authorship goes. GitLab authors API commits with
    the user's `commit_email` (`commit_email_or_default`: the chosen address, the private
    `ID-USERNAME@<commit_email_hostname>` one, or the primary email; app/models/user.rb), which
    `GET /user` exposes as `commit_email` (lib/api/entities/user_public.rb); `email` and
    `public_email` are what older commits or a changed setting may carry."""

    username: str
    user_id: int | None = None
    emails: tuple[str, ...] = ()

    def authored(self, commit: CommitInfo) -> bool:
        """True when `commit` carries one of the addresses GitLab may author this user's commits with."""
        author = commit.author_email.strip().lower()
        if not author:
            return False
        if author in {e.strip().lower() for e in self.emails if e and e.strip()}:
            return True
        # Gitlab::PrivateCommitEmail.for_user: "#{user.id}-#{user.username}@#{hostname}"
        return self.user_id is not None and author.startswith(f"{self.user_id}-{self.username.lower()}@")


@dataclass(frozen=True)
class MRInfo:
    iid: int
    state: str  # opened | closed | merged | locked
    title: str
    description: str
    labels: tuple[str, ...]
    web_url: str
    source_branch: str
    target_branch: str
    sha: str | None = None
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    # GitLab's own text (`2026-03-01T09:00:00.123Z`), kept as it came: `apply` and `verify` journal
    # it as evidence byte for byte, and retire reads that evidence; compare with `merged_time`
    merged_at: str | None = None
    closed_by: str | None = None
    author: str | None = None

    @property
    def merged_time(self) -> datetime | None:
        """`merged_at` as an aware UTC time (None: not merged, or not a time)."""
        return decode_time_or_none(self.merged_at)


@dataclass(frozen=True)
class GroupMergeRequests:
    """The merge requests from one source branch of every project a group listing *covers*.

    `covered`: full paths of the projects whose merge requests the listing is known to include —
    listed under the group now, not archived, merge requests enabled for everyone with access
    (GitLab's group listing leaves out archived projects and those whose merge requests the user
    may not read). `merge_requests`: path → that project's merge requests from the branch, newest
    first as the project listing answers; a covered project that is absent has none. A project
    not covered says nothing: it is asked one by one (see the merge-request executor)."""

    covered: frozenset[str]
    merge_requests: Mapping[str, tuple[MRInfo, ...]]

    def of(self, project: str) -> list[MRInfo] | None:
        """The project's merge requests, or None when the listing cannot answer for it."""
        if project not in self.covered:
            return None
        return list(self.merge_requests.get(project, ()))


@dataclass(frozen=True)
class FileAction:
    """One entry of a commit's `actions[]` (GitLab API: repository/commits)."""

    action: str  # create | update
    file_path: str
    content: str
    last_commit_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action, "file_path": self.file_path, "content": self.content}
        if self.last_commit_id:
            data["last_commit_id"] = self.last_commit_id
        return data


class MergeRequestBackend(Protocol):
    """What the MR executor needs from GitLab (the real one is `GitLabMergeRequests`)."""

    def whoami(self) -> BotIdentity: ...
    def file(self, project: str, path: str, ref: str) -> FileState | None: ...
    def branch_head(self, project: str, branch: str) -> CommitInfo | None: ...
    def merge_requests(self, project: str, source_branch: str) -> list[MRInfo]: ...
    # optional (the executor asks with getattr): one listing for a whole group, None when it
    # cannot be had or trusted (then every project is asked by itself)
    # def group_merge_requests(self, group_id: int, source_branch: str) -> GroupMergeRequests | None: ...
    def commit(self, project: str, branch: str, message: str, actions: Sequence[FileAction],
               start_branch: str | None = None) -> CommitInfo: ...
    def create_mr(self, project: str, source: str, target: str, title: str, description: str,
                  labels: Sequence[str], assignee_ids: Sequence[int]) -> MRInfo: ...
    def update_mr(self, project: str, iid: int, changes: Mapping[str, Any]) -> MRInfo: ...
    def user_ids(self, usernames: Sequence[str]) -> list[int]: ...


class ServiceAccountMissingError(GoogleError):
    """The service account does not exist (404) or we may not see it (403)."""



@dataclass(frozen=True)
class PolicyChange:
    """What an additive update did (or, in a dry run, would do)."""

    resource: str
    role: str
    added: tuple[str, ...]
    already: tuple[str, ...]
    attempts: int = 0  # setIamPolicy calls made (0: nothing to write, or dry run)
    etag: str = ""
    answer_lost: bool = False  # a write went unanswered and the re-read shows `added` bound


class LiveGitLab(Protocol):
    def holding(self, var: KeyVariable) -> VariableHolding: ...
    def project_namespace(self, project_id: int) -> int | None: ...  # None: the project is gone
    def file_text(self, project: str, path: str, ref: str) -> str | None: ...  # None: the file is gone


class WorkloadIdentityAdmin(Protocol):
    """Pools and providers on IAM (the real one is `migrate.google.workload_identity.WifAdmin`).

    `get` answers also soft-deleted resources (state DELETED) and None when absent; writes wait for
    their long-running operation and return the resource as read afterwards. `create` raises
    `GoogleAlreadyExists` on 409, `create`/`patch` raise `GoogleNoAnswer` when the answer was lost."""

    def get(self, name: str) -> dict[str, Any] | None: ...
    def create(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def undelete(self, name: str) -> dict[str, Any]: ...
    def patch(self, name: str, body: Mapping[str, Any], mask: Sequence[str]) -> dict[str, Any]: ...


class ServiceAccountPolicies(Protocol):
    """Additive IAM policy updates on service accounts (the real one is
    `migrate.google.iam_policy.PolicyEditor`); `ServiceAccountMissingError` when the account is
    missing or not visible."""

    def ensure_members(self, resource: str, role: str, members: Sequence[str], dry_run: bool,
                       max_attempts: int = ...) -> PolicyChange: ...
