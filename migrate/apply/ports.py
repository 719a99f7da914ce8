"""What `apply` needs from the outside: the Protocols its executors call and the records they return.

The adapters (`migrate.gitlab.merge_requests.GitLabMergeRequests`, …) implement them; the executors
never import an adapter, and the CLI builds the adapters and hands them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


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
    merged_at: str | None = None
    closed_by: str | None = None
    author: str | None = None


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
    def commit(self, project: str, branch: str, message: str, actions: Sequence[FileAction],
               start_branch: str | None = None) -> CommitInfo: ...
    def create_mr(self, project: str, source: str, target: str, title: str, description: str,
                  labels: Sequence[str], assignee_ids: Sequence[int]) -> MRInfo: ...
    def update_mr(self, project: str, iid: int, changes: Mapping[str, Any]) -> MRInfo: ...
    def user_ids(self, usernames: Sequence[str]) -> list[int]: ...
