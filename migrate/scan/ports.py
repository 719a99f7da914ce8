"""What `scan` needs from the outside: the `GitLabSource`, `FileSource` and `KeyFactsSource`
Protocols and the small frozen records the GitLab reader returns (instead of python-gitlab objects).

The adapters (`migrate.gitlab.read.GitLabReader`, `migrate.google.key_facts.KeyFactsReader`)
implement them; the scan never imports an adapter.

Converting at the boundary keeps memory flat (a python-gitlab object holds the whole JSON entity)
and keeps secrets in: a `VariableInfo` carries the *identity* of a key found in the value, never
the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from migrate.core.errors import GitLabError
from migrate.core.model import KeyEncoding, KeyFacts, KeyIdentity, VariableLevel, VariableType


@dataclass(frozen=True)
class GroupInfo:
    id: int
    full_path: str
    parent_id: int | None = None


@dataclass(frozen=True)
class ProjectInfo:
    """What a project listing row already tells (no extra request needed)."""

    id: int
    path: str  # path_with_namespace
    namespace_id: int
    namespace_path: str
    namespace_kind: str = "group"  # group | user
    namespace_parent_id: int | None = None
    default_branch: str | None = None
    ci_config_path: str | None = None
    archived: bool = False
    empty_repo: bool = False


@dataclass(frozen=True)
class ScheduleVariable:
    """A pipeline schedule's variable, its value reduced to a key identity (or none)."""

    name: str
    variable_type: VariableType
    key: KeyIdentity | None = None
    encoding: KeyEncoding = "unknown"
    key_problem: str | None = None


@dataclass(frozen=True)
class ScheduleInfo:
    """A pipeline schedule and its variables (GET /projects/:id/pipeline_schedules/:schedule_id)."""

    id: int
    description: str
    ref: str
    active: bool
    variables: tuple[ScheduleVariable, ...] = ()


@dataclass(frozen=True)
class VariableInfo:
    """A CI/CD variable as the scan needs it. `key` is set when the value is a key file.

    `readable` is False for hidden variables (the API answers `value: null`).
    """

    level: VariableLevel
    owner: str
    owner_id: int | None
    name: str
    variable_type: VariableType
    protected: bool
    masked: bool
    hidden: bool
    environment_scope: str
    readable: bool
    key: KeyIdentity | None = None
    encoding: KeyEncoding = "unknown"
    key_problem: str | None = None  # a key file with a malformed identity (migrate.core.keyfile)


class ReadError(GitLabError):
    """A read GitLab refused or that failed after retries. `status` is the HTTP status, if any.

    Per-item: the scan turns it into an ERROR row / Problem, it does not stop the run.
    """

    def __init__(self, what: str, status: int | None, message: str) -> None:
        self.what = what
        self.status = status
        # GitLab's messages often carry the status already ("403 Forbidden"): do not repeat it.
        prefixed = status is not None and message.startswith(str(status))
        self.reason = message if not status or prefixed else f"{status} {message}".strip()
        super().__init__(f"{what}: {self.reason}")


@dataclass(frozen=True)
class FileRead:
    """A file's text and the ids GitLab answered with it ("" when it gave none: a template, a
    remote URL, a proxy that drops headers)."""

    text: str
    blob_id: str = ""
    commit_id: str = ""  # the last commit that changed the file (else the ref's commit)


class TextSink(Protocol):
    """Where the scan keeps the CI texts it read, by their sha256, for `plan` (the CLI gives the
    state database: `core.state.State.save_texts`)."""

    def keep(self, sha256: str, text: str) -> None: ...


class GitLabSource(Protocol):
    """The GitLab reads a scan needs (real: `migrate.gitlab.read.GitLabReader`)."""

    def version(self) -> str: ...
    def group(self, ref: str | int) -> GroupInfo: ...
    def descendant_groups(self, group_id: int) -> Iterator[GroupInfo]: ...
    def group_projects(self, group_id: int, include_archived: bool = True) -> Iterator[ProjectInfo]: ...
    def project(self, ref: str | int) -> ProjectInfo: ...
    def all_projects(self, include_archived: bool = True) -> Iterator[ProjectInfo]: ...
    def all_groups(self) -> Iterator[GroupInfo]: ...
    def variables(self, level: VariableLevel, owner: str, owner_id: int | None) -> list[VariableInfo]: ...
    def file_text(self, project: str | int, path: str, ref: str | None) -> str: ...
    def file_read(self, project: str | int, path: str, ref: str | None) -> FileRead: ...
    def schedules(self, project: str | int) -> list[dict[str, Any]]: ...
    def pipeline_schedules(self, project: str, project_id: int) -> list[ScheduleInfo]: ...


class KeyFactsSource(Protocol):
    """Google's facts per key (real: `migrate.google.key_facts.KeyFactsReader`)."""

    def facts(self, key: KeyIdentity) -> KeyFacts: ...


class FileSource(Protocol):
    def file_read(self, project: str | int, path: str, ref: str | None) -> FileRead: ...
