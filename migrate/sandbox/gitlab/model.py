"""The GitLab emulator's state: users, groups, projects, variables, merge requests, pipelines.

Plain mutable dataclasses guarded by `GitLabApp.lock`. Repositories live in `repo.py`. Ids are
global per kind (as in GitLab: project ids, job ids and pipeline ids are instance-wide, merge
request and pipeline `iid`s are per project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrate.sandbox.gitlab.repo import Repository

# GitLab's access levels (doc/api/members.md).
ACCESS_LEVELS: dict[str, int] = {
    "no_access": 0, "minimal": 5, "guest": 10, "planner": 15, "reporter": 20,
    "developer": 30, "maintainer": 40, "owner": 50,
}
ADMIN_LEVEL = 60  # an administrator can do what an owner can, everywhere


@dataclass
class User:
    id: int
    username: str
    token: str
    name: str = ""
    email: str = ""
    admin: bool = False
    scopes: tuple[str, ...] = ("api",)  # the token's scopes (GitLab: api, read_api, read_user, …)
    commit_email: str | None = None  # None: the primary email; "_private": the no-reply address
    public_email: str | None = None
    commit_email_hostname: str = "users.noreply.sandbox.example"

    @property
    def commit_email_or_default(self) -> str:
        """The address GitLab authors this user's web/API commits with (app/models/user.rb
        `commit_email_or_default`; `Gitlab::PrivateCommitEmail.for_user` = `ID-USERNAME@HOST`)."""
        if self.commit_email == "_private":
            return f"{self.id}-{self.username}@{self.commit_email_hostname}"
        return self.commit_email or self.email

    def entity(self, base_url: str) -> dict[str, Any]:
        """The "basic user" shape GitLab embeds in other entities."""
        return {"id": self.id, "username": self.username, "name": self.name or self.username,
                "state": "active", "locked": False, "avatar_url": None,
                "web_url": f"{base_url}/{self.username}"}


@dataclass(frozen=True)
class SaKeyRef:
    """A variable whose value is a sandbox-issued service-account key file."""

    service_account: str
    label: str
    key_id: str
    encoding: str  # "json" | "base64"


@dataclass
class Variable:
    key: str
    value: str | None  # stored value; None only when `sa_key` renders it lazily
    variable_type: str = "env_var"
    protected: bool = False
    masked: bool = False
    hidden: bool = False
    raw: bool = False
    environment_scope: str = "*"
    description: str | None = None
    sa_key: SaKeyRef | None = None


@dataclass
class Group:
    id: int
    path: str
    full_path: str
    name: str
    parent_id: int | None
    created_at: str
    visibility: str = "private"
    description: str = ""
    members: dict[str, int] = field(default_factory=dict)  # username → access level
    variables: list[Variable] = field(default_factory=list)
    subgroup_ids: list[int] = field(default_factory=list)
    project_ids: list[int] = field(default_factory=list)


@dataclass
class Note:
    id: int
    body: str
    author: str
    created_at: str
    system: bool = False


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    author: str
    created_at: str
    updated_at: str
    labels: list[str] = field(default_factory=list)
    state: str = "opened"  # opened | closed | merged | locked
    merged_at: str | None = None
    merged_by: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    merge_commit_sha: str | None = None
    sha: str | None = None  # head of the source branch (at merge time once merged)
    remove_source_branch: bool = False
    squash: bool = False
    notes: list[Note] = field(default_factory=list)


@dataclass
class Job:
    id: int
    name: str
    stage: str
    pipeline_id: int
    project_id: int
    ref: str
    sha: str
    created_at: str
    status: str = "created"
    started_at: str | None = None
    finished_at: str | None = None
    trace: str = ""
    allow_failure: bool = False
    failure_reason: str | None = None
    environment: str | None = None
    tag_list: list[str] = field(default_factory=list)
    when: str = "on_success"
    user: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the job's resolved YAML mapping


@dataclass
class Pipeline:
    id: int
    iid: int
    project_id: int
    sha: str
    ref: str
    source: str  # push | web | api | merge_request_event | trigger | schedule
    created_at: str
    updated_at: str
    status: str = "created"
    user: str | None = None
    before_sha: str = "0" * 40
    tag: bool = False
    yaml_errors: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    jobs: list[Job] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Project:
    id: int
    path: str
    name: str
    namespace_id: int
    path_with_namespace: str
    created_at: str
    repo: Repository
    default_branch: str = "main"
    ci_config_path: str | None = None
    archived: bool = False
    visibility: str = "private"
    description: str = ""
    topics: list[str] = field(default_factory=list)
    members: dict[str, int] = field(default_factory=dict)
    no_access: set[str] = field(default_factory=set)  # invisible to these users (404, unlisted)
    max_role: dict[str, int] = field(default_factory=dict)  # caps these users' level here
    protected_branches: set[str] = field(default_factory=set)
    protected_tags: set[str] = field(default_factory=set)  # names or wildcards (`v*`)
    merge_method: str = "merge"  # merge | ff (fast-forward only: no merge commit)
    # GET /projects/:id/pipeline_schedules rows (id, description, ref, cron, cron_timezone, active, …)
    pipeline_schedules: list[dict[str, Any]] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)
    merge_requests: list[MergeRequest] = field(default_factory=list)
    pipelines: list[Pipeline] = field(default_factory=list)
    ci_id_token_sub_claim_components: list[str] = field(
        default_factory=lambda: ["project_path", "ref_type", "ref"])
    last_activity_at: str = ""
