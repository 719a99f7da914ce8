"""The plain frozen dataclasses passed between stages (scan → plan → apply → verify → keys → report).

Nothing here ever holds private key material: a key is known by its identity (service-account
e-mail + key id = the key file's `private_key_id`) and where it is stored. Every type converts to and
from JSON-ready data through the one codec (`migrate.core.codec`; `to_dict` / `from_dict` here are
its names of old), so inventories and plans are reviewable files and a hand-edited field that does
not fit its type is refused, named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from migrate.core import evidence as journal_evidence
from migrate.core.codec import OMIT_DEFAULT, CodecError, decode, encode, tagged
from migrate.core.outcome import ProjectStatus, Status

INVENTORY_VERSION = 1

VariableLevel = Literal["instance", "group", "project"]
VariableType = Literal["env_var", "file"]
KeyEncoding = Literal["json", "base64", "unknown"]
AuthMode = Literal["key", "federated", "none"]


@dataclass(frozen=True)
class KeyIdentity:
    """Who a key belongs to. `key_id` is the JSON key file's `private_key_id` (40 hex characters).

    `public_key_sha256` is the SHA-256 of the public half of the file's private key (public, like
    the certificate Google serves for the key id): '' when unknown or the private key is unreadable.
    """

    service_account: str
    key_id: str
    project_id: str = ""
    public_key_sha256: str = ""

    @property
    def label(self) -> str:
        return f"{self.service_account}#{self.key_id[:8]}"


@dataclass(frozen=True)
class JournaledKey:
    """The key a `keys` journal row is about: every row that stage writes carries these two fields
    in its evidence (`migrate.retire.runner`), so the report reads them instead of taking names apart."""

    service_account: str
    key_id: str


def journaled_key(evidence: Mapping[str, Any]) -> JournaledKey | None:
    """The key a row's evidence names (both fields strings, through the codec), else None."""
    fields = {name: evidence[name] for name in ("service_account", "key_id") if name in evidence}
    try:
        return decode(JournaledKey, fields)
    except CodecError:
        return None


@dataclass(frozen=True)
class KeyVariable:
    """A CI/CD variable that holds (or is suspected to hold) a service-account key.

    `owner` is the group or project full path ('' for the instance); `owner_id` its numeric id.
    `key` is None when the value could not be read (hidden) — then `suspected_reason` says why we
    think it is a key anyway.
    """

    level: VariableLevel
    owner: str
    owner_id: int | None
    name: str
    variable_type: VariableType = "env_var"
    protected: bool = False
    masked: bool = False
    hidden: bool = False
    environment_scope: str = "*"
    encoding: KeyEncoding = "json"
    key: KeyIdentity | None = None
    suspected_reason: str | None = None

    @property
    def ref(self) -> str:
        """Stable human id: `project:acme/api:GCP_KEY[production]`."""
        scope = "" if self.environment_scope == "*" else f"[{self.environment_scope}]"
        return f"{self.level}:{self.owner}:{self.name}{scope}"


@dataclass(frozen=True)
class CIFinding:
    """One place in a CI file that uses a key (the `ci analyze` contract; lines 1-based)."""

    line: int
    end_line: int
    kind: str
    variable: str | None
    jobs: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class UsageRun:
    """One effective job that runs a usage: in which project's pipeline, under which job name and
    environment (as written: `review/$CI_COMMIT_REF_SLUG` stays dynamic). `known=False`: no job of
    the consumer could be found that runs it (e.g. a template job the consumer does not extend);
    `job` is then the template's job and the environment is unknown."""

    consumer: str
    job: str
    environment: str | None = None
    known: bool = True


@dataclass(frozen=True)
class KeyUsage:
    """A finding located in GitLab: which file of which project, read by which projects.

    `file_project` holds the file; `consumers` are the projects whose pipelines include it (the
    project itself for its own CI file; every including project for a shared template).
    """

    file_project: str
    file_path: str
    ref: str
    finding: CIFinding
    consumers: tuple[str, ...]
    variables: tuple[str, ...] = ()  # KeyVariable.ref of the variables this usage can read
    # The effective jobs that run it (per consumer); empty in inventories written before they
    # were recorded — the planner then falls back to `variables`.
    runs: tuple[UsageRun, ...] = ()


# The pseudo project that holds GitLab's own CI templates (`include: template: X.gitlab-ci.yml`) as
# CI files: read through `GET /templates/gitlab_ci_ymls/:key` (lib/api/templates.rb), never changed.
# No GitLab project path can start with "@" (`Gitlab::PathRegex`), so it cannot clash with one.
GITLAB_TEMPLATES = "@gitlab-templates"
TEMPLATE_SUFFIX = ".gitlab-ci.yml"  # lib/gitlab/ci/config/external/file/template.rb SUFFIX
# The pseudo project of `include: remote: <URL>` files (path = the URL): fetched over HTTP(S)
# (lib/gitlab/ci/config/external/file/remote.rb), never changed.
REMOTE_FILES = "@remote"
# The pseudo project of `include: component: <fqdn>/<project>/<name>@<version>` files (path = the
# address): read from the component project at that version (`migrate.core.components`), never
# changed by a merge request of this tool.
COMPONENT_FILES = "@component"
PSEUDO_PROJECTS = (GITLAB_TEMPLATES, REMOTE_FILES, COMPONENT_FILES)


@dataclass(frozen=True)
class CIFileRef:
    """A CI file a project's pipeline reads: its own config or an included file."""

    project: str
    path: str
    ref: str
    included_by: str | None = None  # the project whose config includes it, if not its own
    # The files its own `include:` names, in order, as (project, path, ref; "" = default branch):
    # with them the planner rebuilds the pipeline's include tree and merges the files in GitLab's
    # order to resolve the consumer's effective jobs (issue 15 §3).
    includes: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ProjectRecord:
    """A project in scope and what became of scanning it. ERROR rows carry `error`."""

    id: int
    path: str
    namespace_id: int
    namespace_path: str
    ancestor_ids: tuple[int, ...] = ()  # namespace ids from top-level group down to the project's
    default_branch: str | None = None
    ci_config_path: str = ".gitlab-ci.yml"
    archived: bool = False
    status: ProjectStatus = Status.SCANNED
    error: str | None = None
    auth: AuthMode = "none"
    ci_files: tuple[CIFileRef, ...] = ()
    # Projects whose pipelines used a key: the longest interval between two firings of any of
    # their active pipeline schedules (seconds; 0 = none) and which schedule it is. The plan's
    # no-use window and grace rest on it (issue 16 §5); `None`: not read (no key use, or the
    # schedule list was unreadable, which is a Problem row).
    schedule_interval_s: int | None = None
    schedule_reason: str = ""
    # Pipeline schedule variables named like a key variable this project's jobs use: the scheduled
    # pipelines receive another value (schedule variables outrank project/group/instance ones,
    # doc/ci/variables/_index.md), so the project's files go to manual review. variable "*": the
    # schedules could not be read, so any key variable may be overridden.
    schedule_overrides: tuple[ScheduleOverride, ...] = ()
    # Keys held in this project's pipeline schedule variables: the plan's retire steps of those
    # keys are blocked by them (the scheduled pipelines still receive the key).
    schedule_keys: tuple[ScheduleKey, ...] = ()


@dataclass(frozen=True)
class ScheduleOverride:
    """One pipeline schedule variable that overrides a key variable (see ProjectRecord)."""

    variable: str
    reason: str


@dataclass(frozen=True)
class ScheduleKey:
    """A key found in a pipeline schedule variable; `subject` names the schedule and variable."""

    subject: str
    key: KeyIdentity


@dataclass(frozen=True)
class KeyFacts:
    """What Google says about one key. `None` fields are unknown; `unknown_reason` says why."""

    key: KeyIdentity
    service_account_exists: bool | None = None
    service_account_disabled: bool | None = None
    key_exists: bool | None = None
    created: str | None = None
    expires: str | None = None
    disabled: bool | None = None
    last_authenticated: str | None = None
    last_auth_unknown_reason: str | None = None
    # Policy Analyzer's observation window for `last_authenticated` (None: not known).
    observation_start: str | None = None
    observation_end: str | None = None
    # Why service-account / key facts above are None (permission denied, API error), if they are.
    unknown_reason: str | None = None
    key_type: str | None = None  # USER_MANAGED / SYSTEM_MANAGED
    # Does the file's private key match the public certificate Google serves for the key id?
    # None: not checked (no certificate, or the key is unknown); see migrate.google.key_facts.
    key_matches: bool | None = None
    # Google's disableReason (USER_INITIATED, EXPOSED, COMPROMISE_DETECTED) and extendedStatus.
    disable_reason: str | None = None
    extended_status: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """Something that could not be read or decided; becomes an ERROR or MANUAL row in reports."""

    subject: str  # e.g. "project:acme/api", "file:acme/api:.gitlab-ci.yml", "key:sa#id"
    reason: str
    severity: Literal["error", "manual", "warning"] = "error"


@dataclass(frozen=True)
class OutsideReader:
    """A project that can read a key variable but whose CI the scan did not check.

    GitLab gives a group variable to every project of the group and its subgroups, an instance
    variable to every project (doc/ci/variables/_index.md, "For a group" / "For an instance"), so
    such a variable reaches projects the configured scope leaves out (not listed, excluded by
    `scope.include`/`scope.exclude`, archived) or could not read (an ERROR row). `project` is ''
    when the readers could not be listed at all (`reason` says why). `keys retire` refuses the key
    while any remains, unless the operator accepts them (`--accept-outside-readers KEY_ID`).
    """

    variable: str  # KeyVariable.ref
    project: str
    project_id: int | None = None
    reason: str = ""
    archived: bool = False


@dataclass(frozen=True)
class FileBlob:
    """A CI file as the scan read it: the ids GitLab gave with its content (the raw endpoint's
    `X-Gitlab-Blob-Id` / `X-Gitlab-Last-Commit-Id` headers, lib/api/files.rb `set_http_headers(blob_data)`)
    and the sha256 of that content. The scan keeps the text in the state database under its
    sha256 (`core.state.State.save_texts`); `plan` uses it instead of reading the file again when
    the kept text still has that sha256 (`migrate.plan.scanned_files`, issue 18)."""

    project: str
    path: str
    ref: str
    blob_id: str
    commit_id: str
    sha256: str


@dataclass(frozen=True)
class Inventory:
    """Everything `scan` learned. Versioned; see docs/inventory.md."""

    gitlab_url: str
    gitlab_version: str
    generated_at: datetime  # aware UTC; RFC 3339 in the file (`codec.encode_time`)
    projects: tuple[ProjectRecord, ...] = ()
    variables: tuple[KeyVariable, ...] = ()
    usages: tuple[KeyUsage, ...] = ()
    key_facts: tuple[KeyFacts, ...] = ()
    problems: tuple[Problem, ...] = ()
    groups: tuple[GroupRecord, ...] = ()
    outside_readers: tuple[OutsideReader, ...] = ()
    version: int = INVENTORY_VERSION
    # CI/CD variables that hold no key but share a name with a variable CI uses as a key: they
    # shadow key variables at other levels (migrate.ci.variables resolves which one a job gets).
    other_variables: tuple[KeyVariable, ...] = ()
    # Every CI file read with its ids (one per project, path and ref); empty in inventories
    # written before they were recorded (the plan then reads every file from GitLab).
    file_blobs: tuple[FileBlob, ...] = field(default=(), metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class GroupRecord:
    """A group in scope: ids let bindings and conditions use immutable namespace ids."""

    id: int
    path: str
    parent_id: int | None = None


@dataclass(frozen=True)
class ActionResult:
    """The outcome of one plan action: data, not an exception. `outcome`: applied, would_apply,
    skipped, refused or failed (the one `Status`; the journal's outcome column holds its word)."""

    action_id: str
    outcome: Status
    detail: str = ""
    evidence: journal_evidence.ApplyEvidence = field(default_factory=journal_evidence.NoEvidence)


# ---------------------------------------------------------------------------------------------
# JSON conversion: the one codec (migrate.core.codec), strict on the way in.

to_dict = encode
from_dict = decode


# ---------------------------------------------------------------------------------------------
# Plan (from `plan`, consumed by `apply`, `verify`, `keys`, `report`). See docs/plan.md.

PLAN_VERSION = 1

ActionKind = Literal[
    "ensure_pool",
    "ensure_provider",
    "ensure_binding",
    "merge_request",
    "disable_key",
    "delete_key",
]


# --- per-kind action params (the `params` of an Action; docs/plan.md "Action kinds and params") ---


@dataclass(frozen=True)
class EnsureParams:
    """`ensure_pool` / `ensure_provider`: the resource, its desired REST body (Google's shape, kept
    as JSON), what plan saw (`observed_known`: did it read Google; `observed`: null = absent, else
    `state` and the compared fields) and the update-mask fields apply may patch."""

    project: str
    name: str
    desired: dict[str, Any]
    observed_known: bool
    observed: dict[str, Any] | None
    patch: tuple[str, ...]


@dataclass(frozen=True)
class ScopeRow:
    """One context a binding admits: a project (by immutable id; `project` its path when planned),
    protected refs only or any ref, an environment (None: any; '': jobs without one), and the
    attribute and value of the principal set that expresses it."""

    project_id: int
    project: str
    protected_only: bool
    environment: str | None
    attribute: str
    value: str


@dataclass(frozen=True)
class ConsolidatedScope:
    """Project scopes folded into one namespace principal set to fit Google's policy size limit."""

    namespace_id: int
    protected_only: bool
    environment: str | None
    attribute: str
    value: str
    describe: str
    replaces_projects: tuple[int, ...]


@dataclass(frozen=True)
class BindingParams:
    """`ensure_binding`: `role` on the service account (`resource`) for `members` (principal sets),
    the contexts they stand for (`scopes`; `consolidated` only when the limit forced it), the members
    seen bound when planning, and the account's credential configuration (an `external_account`
    JSON, Google's shape)."""

    service_account: str
    resource: str
    role: str
    members: tuple[str, ...]
    already_present: tuple[str, ...]
    scopes: tuple[ScopeRow, ...]
    credential_configuration: dict[str, Any]
    consolidated: tuple[ConsolidatedScope, ...] = field(default=(), metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class RetiredVariable:
    """A CI/CD variable that holds a key a key step retires (its value is never in the plan)."""

    level: VariableLevel
    owner: str
    owner_id: int | None
    name: str
    environment_scope: str
    ref: str  # KeyVariable.ref

    def as_key_variable(self) -> KeyVariable:
        return KeyVariable(level=self.level, owner=self.owner, owner_id=self.owner_id, name=self.name,
                           environment_scope=self.environment_scope or "*")


@dataclass(frozen=True)
class DisableKeyParams:
    """`disable_key`: the key, where it is stored, what blocks it and its planned no-use window."""

    service_account: str
    key_id: str
    key_project: str
    variables: tuple[RetiredVariable, ...]
    # manual files that still use the key, and pipeline schedule variables that hold it
    blocked_by: tuple[str, ...]
    # readers whose CI was not checked: retire refuses unless --accept-outside-readers KEY_ID
    outside_readers: tuple[OutsideReader, ...]
    no_use_window_days: int
    no_use_window_reason: str


@dataclass(frozen=True)
class DeleteKeyParams(DisableKeyParams):
    """`delete_key`: as `disable_key`, plus the grace period after the disable."""

    grace_days: int
    grace_reason: str


@dataclass(frozen=True)
class RetiredKey:
    """A key a merge request makes unnecessary: identity only and the variables (KeyVariable.ref)
    it sat in."""

    service_account: str
    key_id: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class BindingRefs:
    """The binding actions a merge request rests on (`binding.bindings`: their action ids)."""

    bindings: tuple[str, ...]


FileId = tuple[str, str, str]  # (project, path, ref; "" = default branch)


@dataclass(frozen=True)
class MRRewriteOptions:
    """What the CI rewriter was called with (apply calls it again on a file changed since).

    A consumer merge request (issue 21) only adds an ID token: it has the audience and GitLab
    version and none of the others (None = absent from the file)."""

    audience: str
    gitlab_version: str | None
    service_accounts: dict[str, str] | None = field(default=None, metadata=OMIT_DEFAULT)
    job_service_accounts: dict[str, dict[str, str]] | None = field(default=None, metadata=OMIT_DEFAULT)
    # job → key variable → context (a sentence) → the account of the key received there
    context_accounts: dict[str, dict[str, dict[str, str]]] | None = field(default=None, metadata=OMIT_DEFAULT)
    included: tuple[FileId, ...] | None = field(default=None, metadata=OMIT_DEFAULT)
    key_variables: tuple[str, ...] | None = field(default=None, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class CheckedFile:
    """One file of a consumer's pipeline and the files its own `include:` names, in order."""

    id: FileId
    includes: tuple[FileId, ...]


@dataclass(frozen=True)
class CheckedPipeline:
    """The files one project's pipeline reads (root first); `unread`: why the scan could not read
    all of it ('' = it could)."""

    consumer: str
    unread: str
    files: tuple[CheckedFile, ...]


@dataclass(frozen=True)
class ConsumerCheckInputs:
    """What the consumer check of one rewritten file runs on (migrate.plan.consumer_check): the
    pipelines that read it, the key variables, the token mode and, per consumer, job → key variable
    → context → account. Apply recomputes it from the journaled scan and refuses a difference."""

    pipelines: tuple[CheckedPipeline, ...]
    key_variables: tuple[str, ...]
    token_mode: Literal["id_tokens", "jwt_v2"]
    accounts: dict[str, dict[str, dict[str, dict[str, str]]]]


@dataclass(frozen=True)
class ConsumerTokens:
    """A consumer merge request's change (migrate.plan.consumer_changes): the template action it
    prepares, the token variable, the jobs per file and the files each file is resolved with."""

    template_action: str
    token_var: str
    jobs: dict[str, tuple[str, ...]]
    included: dict[str, tuple[FileId, ...]]


@dataclass(frozen=True)
class MRFile:
    """One file a merge request's commit writes: the planned content and what it was planned on."""

    file_path: str
    new_content: str
    diff: str
    jobs: tuple[str, ...]
    base_blob_id: str | None
    base_commit_id: str | None


@dataclass(frozen=True)
class MergeRequestParams:
    """`merge_request`: one branch, one commit, one MR in `project` against `ref`.

    One file: `file_path`, `new_content`, `base_blob_id`, `base_commit_id`, `diff` at the top level;
    several (a consumer MR whose jobs sit in more than one file): `files`, with `file_path` and
    `diff` the joined paths and diffs. `consumer_check` and `service_accounts` belong to a file's own
    MR, `consumer_tokens` to a consumer MR (None: absent). See docs/plan.md."""

    project: str
    project_id: int | None
    ref: str
    file_path: str
    diff: str
    status: Literal["rewritten"]
    reasons: tuple[str, ...]
    jobs: tuple[str, ...]
    consumers: tuple[str, ...]
    effective_jobs: dict[str, tuple[str, ...]]
    provider: str
    audience: str
    keys: tuple[RetiredKey, ...]
    binding: BindingRefs
    rewrite_options: MRRewriteOptions
    new_content: str | None = field(default=None, metadata=OMIT_DEFAULT)
    base_blob_id: str | None = field(default=None, metadata=OMIT_DEFAULT)
    base_commit_id: str | None = field(default=None, metadata=OMIT_DEFAULT)
    files: tuple[MRFile, ...] = field(default=(), metadata=OMIT_DEFAULT)
    service_accounts: dict[str, str] | None = field(default=None, metadata=OMIT_DEFAULT)
    consumer_check: ConsumerCheckInputs | None = field(default=None, metadata=OMIT_DEFAULT)
    # a template's MR: the consumer MR actions that must be *merged* before it is opened
    after_merged: tuple[str, ...] = field(default=(), metadata=OMIT_DEFAULT)
    consumer_tokens: ConsumerTokens | None = field(default=None, metadata=OMIT_DEFAULT)

    def __post_init__(self) -> None:
        if not self.files and self.new_content is None:
            raise CodecError("new_content", "missing (a merge request writes one file, or several under files)")

    @property
    def target_branch(self) -> str:
        return self.ref

    @property
    def changes(self) -> tuple[MRFile, ...]:
        """Every file the commit writes, whichever of the two shapes the params have."""
        if self.files:
            return self.files
        return (MRFile(self.file_path, self.new_content or "", self.diff, self.jobs, self.base_blob_id,
                       self.base_commit_id),)

    @property
    def file_jobs(self) -> tuple[str, ...]:
        """The jobs of every file the commit writes, in order, once each."""
        return tuple(dict.fromkeys(j for f in self.changes for j in f.jobs))


ActionParams = EnsureParams | BindingParams | MergeRequestParams | DisableKeyParams | DeleteKeyParams
PARAMS_BY_KIND: dict[str, Any] = {
    "ensure_pool": EnsureParams,
    "ensure_provider": EnsureParams,
    "ensure_binding": BindingParams,
    "merge_request": MergeRequestParams,
    "disable_key": DisableKeyParams,
    "delete_key": DeleteKeyParams,
}

P = TypeVar("P")


def params_as(action: Action, cls: type[P]) -> P:
    """The action's params as `cls` (what its kind decodes to); anything else is a bug here."""
    if not isinstance(action.params, cls):
        raise TypeError(f"action {action.id}: params are {type(action.params).__name__}, not {cls.__name__}")
    return action.params


@dataclass(frozen=True)
class Action:
    """One step of a plan. `id` is stable across re-plans of the same inventory and config
    (derived from kind + target), so apply can journal by it and MRs can carry it in a marker.
    `params` is the kind's frozen params (`PARAMS_BY_KIND`; docs/plan.md); `findings` names the
    inventory items (KeyVariable.ref, usage locations, key labels) the action exists for."""

    id: str
    kind: ActionKind
    target: str
    summary: str
    depends_on: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    params: ActionParams = field(kw_only=True, metadata=tagged("kind", PARAMS_BY_KIND))


@dataclass(frozen=True)
class AdversarialToken:
    """One adversarial token case of the simulation (a fork MR, a look-alike namespace, …): whether
    the federation admits it after the migration, and why (`migrate.plan.impersonation`)."""

    case: str
    kind: str
    after: bool
    why_after: str


@dataclass(frozen=True)
class ImpersonationRow:
    """One service account's row of the plan's who-can-impersonate table: the token cases that could
    use its key before and that federation admits after. `broader` (after but not before: any entry
    makes the plan unsafe) and `adversarial` are written by every build since they exist; a plan of
    an earlier build may lack them, and then they stay absent (None) when the plan is written back."""

    service_account: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    broader: tuple[str, ...] | None = field(default=None, metadata=OMIT_DEFAULT)
    adversarial: tuple[AdversarialToken, ...] | None = field(default=None, metadata=OMIT_DEFAULT)

    @property
    def widened(self) -> tuple[str, ...]:
        """The cases admitted after that were not before: `broader`, or after − before when absent."""
        if self.broader is not None:
            return self.broader
        return tuple(sorted(set(self.after) - set(self.before)))


# ---------------------------------------------------------------------------------------------
# The plan's inputs: what the federation and the bindings are derived from (`plan.planner.derive`).
# The JSON object is the one every build since inputs exist has written (same keys, same values), so
# `inputs_digest` — sha256 of that object with sorted keys — is unchanged for plans on disk.


@dataclass(frozen=True)
class InputProject:
    """A project a binding may name: the scan's `ProjectRecord`, reduced to where it sits."""

    id: int
    path: str
    namespace_id: int
    namespace_path: str
    ancestor_ids: tuple[int, ...]
    default_branch: str | None


@dataclass(frozen=True)
class InputGroup:
    id: int
    path: str


@dataclass(frozen=True)
class InputUsage:
    """One use of a key variable in a CI file (the scan's `KeyUsage`, without the finding's text):
    `variable` is the name the line reads, `runs` the effective jobs that run it."""

    file_project: str
    file_path: str
    ref: str
    variable: str | None
    variables: tuple[str, ...]
    consumers: tuple[str, ...]
    line: int
    runs: tuple[UsageRun, ...]


@dataclass(frozen=True)
class KeyFactRow:
    """What Google said about one key at scan time, the part the key gate
    (`plan.key_identity.refusal`) reads; a `KeyFacts` without times and certificates."""

    service_account: str
    key_id: str
    public_key_sha256: str
    service_account_exists: bool | None
    service_account_disabled: bool | None
    key_exists: bool | None
    disabled: bool | None
    key_type: str | None
    key_matches: bool | None
    unknown_reason: str | None
    disable_reason: str | None


@dataclass(frozen=True)
class PlanInputs:
    """The part of inventory, configuration and live facts the federation and bindings depend on.

    `policy_members_other` (per service account, the principals of its IAM policy that are not this
    tool's) is present only when `plan` read a non-zero size, so plans that read none keep the
    digest they always had."""

    gitlab_url: str
    gitlab_version: str
    issuer: str
    identity_project: str
    project_number: str
    pool_id: str
    provider_id: str
    jwks_json: str | None
    namespace_ids: tuple[int, ...]
    service_accounts: Mapping[str, str]
    projects: tuple[InputProject, ...]
    variables: tuple[KeyVariable, ...]
    keys: tuple[KeyFactRow, ...]
    other_variables: tuple[KeyVariable, ...]
    groups: tuple[InputGroup, ...]
    usages: tuple[InputUsage, ...]
    # Projects that can read a key variable but whose CI was not checked (docs/keys.md): keys
    # retire re-reads them from here, under the digest, so deleting them from a step is caught.
    outside_readers: tuple[OutsideReader, ...]
    policy_members_other: Mapping[str, int] = field(default_factory=dict, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class Plan:
    """Everything the migration will do, reviewable as a file. `apply` re-checks each action's
    precondition against live state, so a stale plan is refused per action, never executed."""

    gitlab_url: str
    identity_project: str
    project_number: str
    pool_id: str
    provider_id: str
    generated_at: datetime  # aware UTC; RFC 3339 in the file (`codec.encode_time`)
    inventory_digest: str
    actions: tuple[Action, ...] = ()
    manual: tuple[Problem, ...] = ()
    impersonation: tuple[ImpersonationRow, ...] = ()  # who-can-impersonate, before/after per SA
    version: int = PLAN_VERSION
    # What the federation and bindings were derived from (projects, variables, usages, namespace
    # ids, issuer, ids): apply re-derives the design from it and refuses hand-widened bindings.
    # None: a plan without inputs (apply refuses its Google actions); builds before the inputs were
    # typed wrote such a plan's inputs as `{}`, which `plan_io` reads as absent.
    inputs: PlanInputs | None = field(default=None, metadata=OMIT_DEFAULT)
    inputs_digest: str = ""
