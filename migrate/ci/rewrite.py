"""`rewrite`: replace service-account key authentication with Workload Identity Federation.

The plan is computed per job (as `migrate.ci.detect` walked it) and applied to the *place* each
command is written, so an anchored or `!reference`d block is changed once; when two jobs would
need different text at the same place, the file goes to manual review instead. Every change is
spliced into the original text. The result is then checked (`migrate.ci.selfcheck`) before it is
called a rewrite; anything doubtful becomes `manual` with the reasons.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping

import yaml

from migrate.ci import (
    acceptance,
    credvars,
    effective,
    emit,
    flowjobs,
    guards,
    includes,
    limits,
    shell,
    tooling,
)
from migrate.ci.commands import Command, classify
from migrate.ci.detect import (
    DEFAULT_CONTEXT,
    GAC_NAMES,
    MAX_VARIABLE_BINDINGS,
    SAFE_READERS,
    Document,
    RunnerJob,
    Step,
    build,
    credential_flags,
    enter,
    refs_key,
    resolve,
    var_node,
    var_text,
)
from migrate.ci.redact import redact
from migrate.ci.tokens import TokenPlan, place_tokens
from migrate.ci.units import MAX_SCRIPT_UNITS, Unit
from migrate.ci.yamlnodes import compose, walk
from migrate.core.outcome import RewriteStatus, Status

FILE_VAR_CONFIG = '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json"'
FILE_VAR_TOKEN = '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.jwt"'


@dataclasses.dataclass(frozen=True)
class RewriteOptions:
    """How to rewrite: the provider resource, service accounts, and the GitLab that runs it."""

    provider: str  # projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
    service_account: str = ""
    service_accounts: Mapping[str, str] = dataclasses.field(default_factory=dict)  # key variable → email
    # job → key variable → email: where jobs of one file received different keys (per environment),
    # each job impersonates the account of the key it received (overrides `service_accounts`).
    job_service_accounts: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    # job → key variable → context → email: what the caller's variable resolver says each job
    # receives in each context (ref class, environment). The self-check refuses a rewrite whose job
    # would sign in, in any of them, as another account than the one of the key it received there.
    context_accounts: Mapping[str, Mapping[str, Mapping[str, str]]] = dataclasses.field(default_factory=dict)
    gitlab_version: tuple[int, int] | None = None
    google_cloud_identity: bool = False
    path: str = ".gitlab-ci.yml"
    key_variables: frozenset[str] = frozenset()  # known from GitLab's variables API to hold keys
    instance_url: str | None = None  # old GitLab (CI_JOB_JWT_V2): the audience its tokens carry
    included: tuple[str, ...] = ()  # texts of the files this one includes, in order (when the caller has them)
    # (project, path, ref) of each of `included`, and the project of this file: with them each
    # `include:` entry is matched to its file, so `rules:` and `inputs:` apply (migrate.ci.includes)
    included_ids: tuple[tuple[str, str, str], ...] = ()
    project: str = ""
    include_facts: includes.IncludeFacts | None = None  # set by `rewrite` from the three above
    # Print the markers `verify` reads from the job log after the federated sign-in (emit.MARKER).
    verify_marker: bool = False


@dataclasses.dataclass(frozen=True)
class RewriteResult:
    status: RewriteStatus
    text: str | None
    reasons: tuple[str, ...]
    diff: str


class Manual(Exception):
    """This file cannot be rewritten safely; the message says why."""


def rewrite(text: str, options: RewriteOptions) -> RewriteResult:
    """Rewrite one CI file; `manual` with reasons whenever the result would not be certainly right.

    Reasons never quote secret-looking content (`migrate.ci.redact`)."""
    with limits.paused_gc():
        if options.included and options.include_facts is None:
            facts = includes.analyse(text, options.project, options.included, options.included_ids)
            options = dataclasses.replace(options, included=facts.texts, include_facts=facts)
        result = _rewrite_file(text, options)
    return dataclasses.replace(result, reasons=tuple(redact(reason) for reason in result.reasons))


def _rewrite_file(text: str, options: RewriteOptions, flow_done: bool = False) -> RewriteResult:
    try:
        limits.check_text(text)
        roots = compose(text)
    except limits.InputRefused as error:
        return RewriteResult(Status.MANUAL, None, (str(error),), "")
    except yaml.YAMLError as error:
        return RewriteResult(Status.MANUAL, None, ("not valid YAML: " + " ".join(str(error).split())[:200],), "")
    doc = build(text, roots, options.key_variables)
    if not doc.findings:
        return RewriteResult(Status.UNCHANGED, None, ("no service-account key use found",), "")
    if doc.truncated:
        return RewriteResult(Status.MANUAL, None, (f"the jobs expand (extends, !reference, anchors) to more than "
                                                   f"{MAX_SCRIPT_UNITS} command lines or {MAX_VARIABLE_BINDINGS} "
                                                   "inherited YAML variables; too large to rewrite safely",), "")
    if doc.pipe.resolved.problems:  # circular or too deep: GitLab rejects the file, with or without includes
        return RewriteResult(Status.MANUAL, None, (f"GitLab would not resolve the jobs as written: "
                                                   f"{doc.pipe.resolved.problems[0]}",), "")
    keyed = {job for jobs in doc.finding_jobs.values() for job in jobs}
    flow = [] if flow_done else flowjobs.flow_jobs(doc.pipe, keyed)
    if flow:
        return _rewrite_flow_jobs(doc, options, flow)
    try:
        _check_tools(doc, options)
        new_text, notes, edits = _rewrite(doc, options)
    except Manual as error:
        return RewriteResult(Status.MANUAL, None, tuple(str(error).split("\n")), "")
    from migrate.ci.selfcheck import check  # local: selfcheck imports this module's types

    failures = check(doc, new_text, options, _token_plan_name(doc))
    if failures:
        return RewriteResult(Status.MANUAL, None, tuple(f"self-check: {failure}" for failure in failures), "")
    diff = emit.unified_diff(doc.lines, edits, _newline(doc), options.path)
    return RewriteResult(Status.REWRITTEN, new_text, tuple(notes), diff)


def _rewrite_flow_jobs(doc: Document, options: RewriteOptions, flow: list[str]) -> RewriteResult:
    """Keyed jobs written in flow style on one line: block style first (`migrate.ci.flowjobs`), then
    the ordinary rewrite; the result is checked against the *original* file once more."""
    converted = flowjobs.block_style(doc.pipe, doc.lines, flow, _newline(doc))
    if converted is None:
        return RewriteResult(Status.MANUAL, None, (f"job {flow[0]} is written in flow style in a form this tool does not "
                                                   "rewrite (more than one line, anchors, aliases or tags): write it in "
                                                   "block style, then rewrite",), "")
    inner = _rewrite_file(converted, options, flow_done=True)
    if inner.status != Status.REWRITTEN or inner.text is None:
        return inner
    from migrate.ci.selfcheck import check

    failures = check(doc, inner.text, options, _token_plan_name(doc))
    if failures:
        return RewriteResult(Status.MANUAL, None, tuple(f"self-check: {failure}" for failure in failures), "")
    before, after = doc.text.splitlines(keepends=True), inner.text.splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(before, after, f"a/{options.path}", f"b/{options.path}"))
    notes = (*inner.reasons, *(f"job {name} was written in flow style on one line; it is now in block style"
                               for name in flow))
    return RewriteResult(Status.REWRITTEN, inner.text, notes, diff)


def _check_tools(doc: Document, options: RewriteOptions) -> None:
    """Keyed jobs whose image or tools cannot take a credential configuration (`migrate.ci.tooling`)."""
    from migrate.ci.selfcheck import original_jobs

    try:
        resolved = original_jobs(doc, options.included)
    except (yaml.YAMLError, limits.InputRefused, RecursionError):
        return  # the self-check reports it
    found: list[str] = []
    for name, job in [*resolved.jobs.items(), *resolved.hidden.items()]:
        if acceptance.is_keyed(job, frozenset(doc.key_vars), frozenset()):
            found.extend(tooling.problems(name, job))
    if found:
        raise Manual("\n".join(dict.fromkeys(found)))


def _token_plan_name(doc: Document) -> str:
    return token_name(doc)


def token_name(doc: Document) -> str:
    """The ID token variable we add: GCP_ID_TOKEN unless the file already uses that name."""
    return "GCP_ID_TOKEN" if "GCP_ID_TOKEN" not in doc.text else "GCP_WIF_ID_TOKEN"


@dataclasses.dataclass
class RewritePlan:
    """Replacement commands per (unit, segment), and what else the rewrite must do."""

    doc: Document
    options: RewriteOptions
    token_var: str
    replacements: dict[tuple[tuple[int, int, str], int], list[str]] = dataclasses.field(default_factory=dict)
    units: dict[tuple[int, int, str], Unit] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    keyed_jobs: set[str] = dataclasses.field(default_factory=set)
    default_keyed: bool = False
    used_keys: set[str] = dataclasses.field(default_factory=set)
    job: str = ""  # the job (context) being planned
    images: dict[str, str] = dataclasses.field(default_factory=dict)  # job (context) -> effective image
    context: RunnerJob | None = None  # the job being planned
    gac_jobs: set[str] = dataclasses.field(default_factory=set)  # jobs that export the federated GAC
    variants: dict[tuple[tuple[int, int, str], int], dict[str, list[str]]] = dataclasses.field(default_factory=dict)
    shared: dict[tuple[tuple[int, int, str], int], Step] = dataclasses.field(default_factory=dict)
    environments: dict[str, str | None] = dataclasses.field(default_factory=dict)  # job -> static environment
    extra_edits: list[emit.Replace | emit.Insert] = dataclasses.field(default_factory=list)  # YAML credential variables

    def put(self, step: Step, commands: list[str]) -> None:
        key = (step.unit.key, step.index)
        self.variants.setdefault(key, {})[self.job] = commands
        previous = self.replacements.get(key)
        if previous is not None and previous != commands:
            self.shared.setdefault(key, step)  # decided once every job is planned (_merge_environments)
            return
        self.replacements[key] = commands
        self.units[step.unit.key] = step.unit

    def problem(self, step: Step | None, message: str) -> None:
        where = f"line {step.unit.first + 1}: " if step is not None else ""
        self.problems.append(where + message)


def _newline(doc: Document) -> str:
    return "\r\n" if doc.text.count("\r\n") > doc.text.count("\n") / 2 else "\n"


def _rewrite(doc: Document, options: RewriteOptions) -> tuple[str, list[str], list[emit.Replace | emit.Insert]]:
    notes: list[str] = []
    _check_options(options)
    old = options.gitlab_version is not None and options.gitlab_version < (15, 7)
    if options.gitlab_version is not None and options.gitlab_version < (14, 7):
        raise Manual("GitLab older than 14.7 issues no OIDC token (neither id_tokens nor CI_JOB_JWT_V2)")
    token_var = "CI_JOB_JWT_V2" if old else token_name(doc)
    plan = RewritePlan(doc, options, token_var)
    if doc.stray:
        plan.problems.extend(f"line {f.first + 1}: {f.detail}" for f in doc.stray)
    for job, item in doc.artifact_hits:
        plan.problems.append(f"line {item.start_mark.line + 1}: job {job} keeps the key file as an artifact; "
                             "jobs that download it would break")
    eligible = _gcloud_eligible(doc)
    plan.images = _images(doc, options)
    plan.environments = _environments(doc, options)
    handled = _yaml_credentials(plan)
    for name, var, node in doc.remaps:
        if id(node) not in handled:
            plan.problems.append(f"line {node.start_mark.line + 1}: " + _remap_reason(name, var))
    for context in doc.contexts:
        _plan_context(plan, context, eligible)
    _merge_environments(plan)
    _check_service_accounts(plan)
    _check_gac_users(plan)
    if plan.problems:
        raise Manual("\n".join(dict.fromkeys(plan.problems)))
    edits = _unit_edits(plan) + plan.extra_edits
    edits += _emptied_scripts(doc, edits)
    if options.google_cloud_identity:
        tokens = TokenPlan(doc, "identity", token_var, options)
    else:
        tokens = TokenPlan(doc, "none" if old else "id_tokens", token_var, options)
    edits += place_tokens(tokens, plan.keyed_jobs, plan.default_keyed)
    if emit.overlapping(edits):
        raise Manual("edits overlap (an authentication command shares lines with a job header)")
    new_text = emit.splice(doc.lines, edits, _newline(doc))
    if old:
        audience = options.instance_url or "your GitLab URL"
        notes.append(f"GitLab {options.gitlab_version} has no id_tokens: uses CI_JOB_JWT_V2, whose audience is "
                     f"{audience}; the provider's allowed audiences must include it")
    if options.google_cloud_identity:
        notes.append("uses identity: google_cloud (GitLab.com Google Cloud IAM integration): grant roles to the "
                     "integration's principals; no service-account impersonation")
    return new_text, notes, edits


_EMPTY_KEY_REST = re.compile(r"^:\s*(#.*)?$")


def _emptied_scripts(doc: Document, edits: list[emit.Replace | emit.Insert]) -> list[emit.Replace | emit.Insert]:
    """A `before_script:`/`after_script:` whose every item was removed (only a `chmod` of a key
    file variable, say) becomes `[]`: an empty list keeps overriding the default, as the job's
    own list did, where an empty value would fail GitLab's schema."""
    removed = {edit.first for edit in edits if isinstance(edit, emit.Replace) and not edit.lines}
    if not removed:
        return []
    found: list[emit.Replace | emit.Insert] = []
    for root in doc.roots:
        for node in walk(root):
            if not isinstance(node, yaml.MappingNode):
                continue
            for key, value in node.value:
                if not (isinstance(key, yaml.ScalarNode) and key.value in ("before_script", "after_script")
                        and isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value
                        and value.tag != "!reference" and value.start_mark.line > key.start_mark.line):
                    continue
                if not all(isinstance(item, yaml.ScalarNode) and item.start_mark.line in removed
                           for item in value.value):
                    continue
                line = doc.lines[key.start_mark.line].rstrip("\r\n")
                rest = _EMPTY_KEY_REST.match(line[key.end_mark.column:])
                if key.start_mark.line != key.end_mark.line or rest is None:
                    continue  # an anchor or a comment we cannot keep: the schema check refuses it
                comment = f" {rest.group(1)}" if rest.group(1) else ""
                found.append(emit.Replace(key.start_mark.line, key.start_mark.line,
                                          (line[:key.end_mark.column] + ": []" + comment,)))
    return found


_NAMED_ACCOUNT = re.compile(r"--service-account=([A-Za-z0-9._%+@-]+)|serviceAccounts/([A-Za-z0-9._%+@-]+):generateAccessToken")
_STATIC_ENVIRONMENT = re.compile(r"^[A-Za-z0-9_./-]+$")


def _environments(doc: Document, options: RewriteOptions) -> dict[str, str | None]:
    """Each job's environment name when it is written literally (None: no environment, or one set at
    run time from variables, which the rewrite cannot choose an account for)."""
    from migrate.ci.selfcheck import original_jobs

    try:
        resolved = original_jobs(doc, options.included)
    except (yaml.YAMLError, limits.InputRefused, RecursionError):
        return {}
    found: dict[str, str | None] = {}
    for name, job in resolved.jobs.items():
        environment = job.get("environment")
        environment = environment.get("name") if isinstance(environment, dict) else environment
        found[name] = environment if isinstance(environment, str) and _STATIC_ENVIRONMENT.match(environment) else None
    return found


def _merge_environments(plan: RewritePlan) -> None:
    """A line shared by jobs that received the key of different service accounts per environment
    (an environment-scoped variable, `environment:` per job, one template): one text that picks the
    account from `$CI_ENVIRONMENT_NAME` (`emit.environment_accounts`), when every job that runs the
    line has its own literal environment and the jobs' texts differ only in the account. The
    self-check evaluates the choice for each job's environment (`acceptance`)."""
    for key, step in plan.shared.items():
        variants = {job: commands for job, commands in plan.variants[key].items()
                    if not job.startswith(".") and job != DEFAULT_CONTEXT}
        merged = _environment_variant(plan, variants)
        if merged is None:
            plan.problems.append(f"line {step.unit.first + 1} is shared by jobs that need different rewrites")
            continue
        plan.replacements[key] = merged


def _environment_variant(plan: RewritePlan, variants: dict[str, list[str]]) -> list[str] | None:
    choices: dict[str, str] = {}
    template: list[str] | None = None
    for job, commands in sorted(variants.items()):
        environment = plan.environments.get(job)
        text = "\n".join(commands)
        emails = {a or b for a, b in _NAMED_ACCOUNT.findall(text)}
        if environment is None or len(emails) != 1 or emit.STS_TOKEN_VAR in text:
            return None
        email = emails.pop()
        if choices.get(environment, email) != email:
            return None  # one environment, two accounts: the choice cannot be made by name
        choices[environment] = email
        shape = [command.replace(email, "\0") for command in commands]
        if template is not None and shape != template:
            return None
        template = shape
    if template is None or len(set(choices.values())) < 2:
        return None
    return [emit.environment_accounts(choices), *(emit.with_account_variable(command) for command in template)]


def _images(doc: Document, options: RewriteOptions) -> dict[str, str]:
    """Each job's effective image (extends, `default:`, top-level `image:`), '' when it names none."""
    from migrate.ci.selfcheck import original_documents, original_jobs

    try:
        resolved = original_jobs(doc, options.included)
        config = effective.from_documents(original_documents(doc))
    except (yaml.YAMLError, limits.InputRefused, RecursionError):
        return {}
    images = {name: tooling.image_name(job) for name, job in [*resolved.hidden.items(), *resolved.jobs.items()]}
    default = config.get("default")
    top = {"image": default["image"]} if isinstance(default, dict) and "image" in default else \
        {"image": config.get("image")}
    images[DEFAULT_CONTEXT] = tooling.image_name(top)
    return images


def _check_options(options: RewriteOptions) -> None:
    if not emit.PROVIDER_RE.match(options.provider):
        raise Manual("provider must be projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER")
    per_job = [e for m in options.job_service_accounts.values() for e in m.values()]
    for email in [options.service_account, *options.service_accounts.values(), *per_job]:
        if email and not emit.EMAIL_RE.match(email):
            raise Manual(f"not a service-account e-mail: {email!r}")


def _check_service_accounts(plan: RewritePlan) -> None:
    """Each key variable needs a service account; different keys must not silently share one."""
    options = plan.options
    if options.google_cloud_identity:
        return
    accounts: dict[str, list[str]] = {}
    for var in sorted(plan.used_keys):
        email = options.service_accounts.get(var) or options.service_account or next(
            (m[var] for m in options.job_service_accounts.values() if var in m), "")
        if not email:
            plan.problems.append(f"no service account for key variable ${var}: pass --service-account {var}=EMAIL (or --map)")
            continue
        accounts.setdefault(email, []).append(var)
    for email, names in accounts.items():
        unmapped = [name for name in names if name not in options.service_accounts]
        if len(names) > 1 and unmapped:
            plan.problems.append(
                f"key variables {', '.join('$' + n for n in names)} would all use {email}; different keys usually "
                f"belong to different service accounts: give each its own with --service-account VARIABLE=EMAIL (or --map VARIABLE=EMAIL)")


def service_account(plan: RewritePlan, var: str | None) -> str:
    if var:
        plan.used_keys.add(var)
    per_job = plan.options.job_service_accounts.get(plan.job, {}).get(var or "")
    return per_job or plan.options.service_accounts.get(var or "", "") or plan.options.service_account


def _gcloud_eligible(doc: Document) -> set[tuple[int, int, str]]:
    """Key writes that can become `gcloud ... create-cred-config` at the activation in every job:
    the next command after the write (assignments aside, in the same shell) activates exactly the
    written file, and nothing in between names it, changes directory or cannot be lexed.

    One pass per job with every write still waiting for its activation (was one scan per write to
    the end of the job: quadratic in a long script of key reads, 108 s for 1 MiB)."""
    verdict: dict[tuple[int, int, str], bool] = {}
    for context in doc.contexts:
        for key, ok in _activations(context.steps, dict(context.env), doc.key_vars):
            verdict[key] = verdict.get(key, True) and ok
    return {key for key, ok in verdict.items() if ok}


def _activations(steps: list[Step], env: dict[str, str], key_vars: set[str]) -> list[tuple[tuple[int, int, str], bool]]:
    """(unit key, whether the activation follows) for every key write of one job, in one pass:
    the pending writes are kept by target, so each is decided once (linear in steps + writes)."""
    done: list[tuple[tuple[int, int, str], bool]] = []
    waiting: dict[str, list[tuple[tuple[int, int, str], str]]] = {}  # target -> (unit key, phase) of pending writes

    def settle_all(answer: Callable[[str, str], bool | None]) -> None:
        for target, pending in list(waiting.items()):
            kept = []
            for key, phase in pending:
                verdict = answer(target, phase)
                if verdict is None:
                    kept.append((key, phase))
                else:
                    done.append((key, verdict))
            if kept:
                waiting[target] = kept
            else:
                del waiting[target]

    phase_now = ""
    for step in steps:
        enter(step, env)
        command = step.command
        if waiting and command is None:
            settle_all(_never)
        elif waiting and step.phase != phase_now:  # a new shell (after_script): earlier writes never activate
            current = step.phase
            settle_all(lambda target, phase, current=current: False if phase != current else None)  # type: ignore[misc]
        phase_now = step.phase
        if command is None:
            continue
        if command.kind == "assign" and command.name:
            env[command.name] = resolve(command.value or "", env)
        elif waiting and command.kind == "activate":
            named = resolve(command.path, env) if command.path else None
            ok = named is not None and not command.unknown
            settle_all(lambda target, phase, named=named, ok=ok: ok and target == named)  # type: ignore[misc]
        elif waiting and any(stage.name in ("cd", "pushd", "popd") for stage in command.segment.stages):
            settle_all(_never)
        elif waiting:
            for word in {resolve(word, env) for stage in command.segment.stages for word in stage.words}:
                done.extend((key, False) for key, _ in waiting.pop(word, ()))  # the file is named before
        if command.kind == "write" and command.var in key_vars and command.path:
            waiting.setdefault(resolve(command.path, env), []).append((step.unit.key, step.phase))
    done.extend((key, False) for pending in waiting.values() for key, _ in pending)  # no activation before the end
    return done


def _never(target: str, phase: str) -> bool:
    return False


def _plan_context(plan: RewritePlan, context: RunnerJob, eligible: set[tuple[int, int, str]]) -> None:
    """Replacement commands for every authentication step of one job."""
    doc, _options = plan.doc, plan.options
    plan.job = context.name
    plan.context = context
    keys = doc.key_vars
    env = dict(context.env)
    written: dict[str, Step] = {}
    token_paths: dict[str, str] = {}
    gcloud: str | None = None
    keyed = False
    _check_conditional_keys(plan, context)
    for step in context.steps:
        enter(step, env)
        command = step.command
        if command is None:
            if guards.guarded(step.unit.text, keys):  # a guard the lexer cannot split: it goes whole
                plan.put(step, [])
                continue
            if "activate-service-account" in step.unit.text or "_json_key" in step.unit.text or \
                    refs_key(step.unit.text, keys):
                plan.problem(step, "authentication in shell this tool cannot parse safely")
                keyed = True
            continue
        kind = command.kind
        if kind == "assign" and command.name:
            var = refs_key(command.value or "", keys)
            if var is not None and content_export(command, var) is not None:
                keyed = True
                _plan_content_export(plan, step, command.name, var)
            elif var is not None:
                plan.problem(step, f"{command.name} is set from key variable ${var}")
            elif written and _names_written(command.value or "", env, written) and \
                    resolve(command.value or "", env) not in written:
                _check_reads(plan, step, command.value or "", env, written)
            env[command.name] = resolve(command.value or "", env)
        elif kind == "write" and command.var in keys and command.path:
            keyed = True
            target = resolve(command.path, env)
            written[target] = step
            _plan_write(plan, step, command, target, token_paths, step.unit.key in eligible)
        elif kind == "activate":
            keyed = True
            gcloud = _plan_activate(plan, step, command, env, written, token_paths) or gcloud
        elif kind == "docker":
            keyed = True
            _plan_docker(plan, step, command, gcloud, env, written)
        elif kind == "cat" and command.path and resolve(command.path, env) in written:
            plan.put(step, [])
            _drop_echo_companions(plan, step)
        elif kind == "echo" and command.var in keys:
            plan.put(step, [])
        else:
            _check_other(plan, step, command, env, written)
    _check_catalogue(plan, context, written)
    if keyed:
        if context.name == DEFAULT_CONTEXT:
            plan.default_keyed = True
        else:
            plan.keyed_jobs.add(context.name)


def _yaml_credentials(plan: RewritePlan) -> set[int]:
    """`NAME: $KEY` in `variables:` where NAME is a catalogued credential variable whose tool accepts
    an external_account configuration (`credvars.yaml`): the value becomes the job's credential
    configuration path, and the jobs that receive that value (the closest definition wins, as in
    GitLab) write the token and the configuration first thing in their script. Only when every such
    job signs in as one service account and starts its script at a list item only they run; anything
    else stays manual (returned: the ids of the value nodes handled)."""
    doc, options = plan.doc, plan.options
    handled: set[int] = set()
    if options.google_cloud_identity:
        return handled
    seen: set[int] = set()
    for name, var, node in doc.remaps:
        entry = credvars.entry(name)
        if id(node) in seen or entry is None or not entry.rewritable or not isinstance(node, yaml.ScalarNode) \
                or shell.single_var(str(node.value)) != var or node.start_mark.line != node.end_mark.line:
            continue
        seen.add(id(node))
        edits = _yaml_credential_edits(plan, name, var, node)
        if edits is not None:
            plan.extra_edits.extend(edits)
            handled.add(id(node))
    return handled


_NEUTRAL = frozenset({"cd", "mkdir", "echo", "set", "true", ":"})


def _writes_configuration_first(steps: list[Step], var: str) -> bool:
    """The job's script, before anything could read a credential, hands the key's contents to a
    catalogued variable (`export GOOGLE_CREDENTIALS="$(cat "$K")"`, rewritten by
    `_plan_content_export` to write the configuration at `FILE_VAR_CONFIG`): then a `NAME: $K` in
    its `variables:` can point at that same file with nothing inserted. Only `cd`, `mkdir`, `echo`,
    `set` and assignments that read no key may come before it."""
    for step in steps:
        command = step.command
        if command is None:
            return False
        if command.kind == "assign" and content_export(command, var) is not None:
            return True
        stage = command.segment.stages[0] if len(command.segment.stages) == 1 else None
        if stage is None or (command.kind != "assign" and stage.name not in _NEUTRAL) or var in step.unit.text:
            return False
    return False


def _receives(context: RunnerJob, name: str, node: yaml.Node) -> bool:
    values = [value for key, value in context.all_vars if key == name]
    return bool(values) and var_node(values[-1]) is node


def _yaml_credential_edits(plan: RewritePlan, name: str, var: str, node: yaml.ScalarNode) -> list[emit.Replace | emit.Insert] | None:
    doc = plan.doc
    jobs = [c for c in doc.contexts if c.name != DEFAULT_CONTEXT and not c.name.startswith(".")]
    receivers = [c for c in jobs if _receives(c, name, node)]
    if not receivers:
        return None  # a template whose jobs live in other files: by hand
    inserts: dict[int, tuple[Unit, list[str]]] = {}
    variants: dict[int, dict[str, list[str]]] = {}
    for context in receivers:
        main = [step for step in context.steps if step.phase == "main"]
        if _writes_configuration_first(main, var):
            plan.keyed_jobs.add(context.name)  # its own content export writes the file first (see below)
            continue
        if not main or main[0].unit.kind != "item":
            return None
        unit = main[0].unit
        plan.job = context.name
        email = service_account(plan, var)
        commands = [_write_token(plan, FILE_VAR_TOKEN),
                    emit.printf_cred_config(plan.options.provider, email, FILE_VAR_TOKEN, FILE_VAR_CONFIG),
                    *_marker(plan, None)]
        variants.setdefault(unit.first, {})[context.name] = commands
        inserts[unit.first] = (unit, commands)
        plan.keyed_jobs.add(context.name)
    for first, by_job in variants.items():
        if len({"\n".join(c) for c in by_job.values()}) > 1:
            # one place, one account per environment (an environment-scoped key): the account is
            # chosen from $CI_ENVIRONMENT_NAME, as for a shared script line; else by hand
            merged = _environment_variant(plan, by_job)
            if merged is None:
                return None
            inserts[first] = (inserts[first][0], merged)
    for context in doc.contexts:  # a template job that sets the variable gets the token too (extends)
        if context.name.startswith(".") and _receives(context, name, node):
            plan.keyed_jobs.add(context.name)
    starts = {line for line, _ in inserts.items()}
    if any(c not in receivers and [s for s in c.steps if s.phase == "main"][:1]
           and [s for s in c.steps if s.phase == "main"][0].unit.first in starts for c in jobs):
        return None  # a job without the variable runs the same first line
    line = doc.lines[node.start_mark.line]
    ending = line[len(line.rstrip("\r\n")):]
    body = line[:len(line) - len(ending)]
    new = body[:node.start_mark.column] + FILE_VAR_CONFIG + body[node.end_mark.column:]
    edits: list[emit.Replace | emit.Insert] = [emit.Replace(node.start_mark.line, node.start_mark.line, (new,))]
    for unit, commands in inserts.values():
        edits.append(emit.Insert(unit.first, tuple(unit.prefix + emit.yaml_scalar(c) for c in commands)))
    return edits


def _remap_reason(name: str, var: str) -> str:
    """Why a YAML variable set from a key variable is left to a human."""
    entry = credvars.entry(name)
    if entry is not None and not entry.rewritable:
        return entry.manual_reason()
    if entry is not None:
        return (f"{name} ({entry.tool}) is set from key variable ${var} in `variables:`; {entry.tool} accepts an "
                "external_account credential configuration there, but the jobs that receive it sign in as different "
                "service accounts at one place (per environment), start their script at a line other jobs run too, "
                "or live in other files: point it at a credential configuration by hand")
    return f"variable {name} is set from key variable ${var}; move each environment to its own service account by hand"


def _check_catalogue(plan: RewritePlan, context: RunnerJob, written: dict[str, Step]) -> None:
    """A key handed to a tool through its own variable (`credvars.yaml`) whose tool does not accept
    an external_account credential configuration: after the rewrite the file it reads would hold
    one, so the job goes to manual review naming the tool (the order of write and export does not
    matter: the tool reads the variable when it runs)."""
    keys = plan.doc.key_vars
    env = dict(context.env)
    for name, value in context.all_vars:
        entry = credvars.entry(name)
        text, node = var_text(value) or "", var_node(value)
        if entry is not None and not entry.rewritable and text and \
                (refs_key(text, keys) or shell.normalize_path(text) in written):
            where = f"line {node.start_mark.line + 1}: " if node is not None else ""
            plan.problem(None, where + entry.manual_reason())
    for step in context.steps:
        enter(step, env)
        command = step.command
        if command is None or command.kind != "assign" or not command.name:
            continue
        entry = credvars.entry(command.name)
        target = resolve(command.value or "", env)
        env[command.name] = target
        if entry is not None and not entry.rewritable and \
                (refs_key(command.value or "", keys) or target in written):
            plan.problem(step, entry.manual_reason())


OPENERS = frozenset({"if", "case", "while", "until", "for", "select"})
CLOSERS = frozenset({"fi", "esac", "done"})
BRANCH_WORDS = frozenset({"then", "else", "elif", "do"})
TESTS = frozenset({"[", "[[", "test"})


def _check_conditional_keys(plan: RewritePlan, context: RunnerJob) -> None:
    """Which key a job gets must not be decided inside its script (`if [ "$CI_COMMIT_BRANCH" = main ]`,
    `[ … ] && echo "$PROD" > k || echo "$STAGING" > k`, `case $CI_ENVIRONMENT_NAME`): one rewrite would
    give every branch or environment the same service account."""
    keys = plan.doc.key_vars
    depth = 0
    previous: dict[tuple[int, int, str], list[Step]] = {}
    targets: dict[str, set[str]] = {}
    activated = {shell.normalize_path(s.command.path) for s in context.steps
                 if s.command is not None and s.command.kind == "activate" and s.command.path}
    for step in context.steps:
        command = step.command
        if command is None:
            continue
        first = command.segment.stages[0].words[0] if command.segment.stages and command.segment.stages[0].words \
            else ""
        earlier = previous.setdefault(step.unit.key, [])
        write = _written(command)
        if write is not None and (write[0] in keys or shell.normalize_path(write[1]) in activated):
            var, path = write
            targets.setdefault(shell.normalize_path(path), set()).add(var)
            tested = any(s.command is not None and s.command.segment.stages
                         and s.command.segment.stages[0].name in TESTS for s in earlier)
            conditional = depth > 0 or first in BRANCH_WORDS or command.segment.before == "||" or \
                (command.segment.before == "&&" and tested)
            if conditional:
                plan.problem(step, f"which key is written to {path} is decided inside the script (a branch, "
                             "environment or other condition); one rewrite would give every case the same service "
                             "account: give each ref class or environment its own scoped variable and rewrite by hand")
        if first in OPENERS:
            depth += 1
        elif first in CLOSERS:
            depth = max(depth - 1, 0)
        earlier.append(step)
    for path, names in targets.items():
        if len(names) > 1:
            plan.problems.append(f"{path} is written from different key variables "
                                 f"({', '.join('$' + n for n in sorted(names))}) in one job; which key is used "
                                 "depends on the run: rewrite by hand")


def _written(command: Command) -> tuple[str, str] | None:
    """(variable, path) of a key write, also behind a `then`/`else`/`do` keyword."""
    if command.kind == "write" and command.var and command.path:
        return command.var, command.path
    stages = command.segment.stages
    if stages and stages[0].words and stages[0].words[0] in BRANCH_WORDS:
        rest = command.segment.text.split(None, 1)[1] if len(command.segment.text.split(None, 1)) > 1 else ""
        parts = shell.segments(rest) or []
        if len(parts) == 1:
            inner = classify(parts[0])
            if inner.kind == "write" and inner.var and inner.path:
                return inner.var, inner.path
    return None


def _drop_echo_companions(plan: RewritePlan, step: Step) -> None:
    """`echo "using key:" && cat key.json`: the echo only announced the print, so it goes too."""
    parts = shell.segments(step.unit.text) or []
    others = [index for index in range(len(parts)) if index != step.index]
    if others and all(len(parts[i].stages) == 1 and parts[i].stages[0].name == "echo"
                      and not parts[i].stages[0].redirects for i in others):
        for index in others:
            plan.put(dataclasses.replace(step, index=index), [])


def _marker(plan: RewritePlan, gcloud: str | None) -> list[str]:
    """What follows a federated sign-in: a token mint, so a federation mistake fails right at the
    authentication step with Google's message (`gcloud auth login --cred-file` itself contacts no
    one; google-github-actions/auth fails early the same way), plus the verify marker when asked."""
    if not plan.options.verify_marker:
        return [emit.mint(gcloud)] if gcloud else []
    return [emit.marker_after_login(gcloud) if gcloud else emit.marker_configured()]


_CAT_OF_VAR = re.compile(r'^"?\$\(cat "?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"?\)"?$')


def content_export(command: Command, var: str) -> str | None:
    """`export NAME="$(cat "$K")"`: the whole key file handed to a tool through a catalogued variable
    that takes a path *or* the JSON itself (Terraform's GOOGLE_CREDENTIALS) and accepts an
    external_account configuration. The name, or None for anything else (another command in the
    substitution, part of the file, a plain assignment that exports nothing)."""
    entry = credvars.entry(command.name or "")
    if entry is None or not entry.rewritable or entry.takes != "path-or-json":
        return None
    match = _CAT_OF_VAR.match(command.value or "")
    stage = command.segment.stages[0] if command.segment.stages else None
    if match is None or match.group(1) != var or stage is None or stage.name != "export":
        return None
    return command.name


def _plan_content_export(plan: RewritePlan, step: Step, name: str | None, var: str) -> None:
    """The tool gets the credential configuration's *path* instead of the key's contents (it takes
    either), written where a file-type key variable's configuration goes (`FILE_VAR_CONFIG`)."""
    email = service_account(plan, var)
    plan.put(step, [_write_token(plan, FILE_VAR_TOKEN),
                    emit.printf_cred_config(plan.options.provider, email, FILE_VAR_TOKEN, FILE_VAR_CONFIG),
                    f"export {name}={FILE_VAR_CONFIG}", *_marker(plan, None)])


def _write_token(plan: RewritePlan, token_path: str) -> str:
    return f'echo "${{{plan.token_var}}}" > {token_path}'


def _plan_write(plan: RewritePlan, step: Step, command: Command, target: str, token_paths: dict[str, str],
                gcloud_mode: bool) -> None:
    raw = command.path or ""
    if plan.options.google_cloud_identity:
        if target in {f"${name}" for name in GAC_NAMES}:
            plan.problem(step, "the key is written to GOOGLE_APPLICATION_CREDENTIALS, which the Google Cloud "
                         "IAM integration sets itself; remove the variable by hand")
            return
        plan.put(step, [f'cp "$GOOGLE_APPLICATION_CREDENTIALS" {raw}'])
        return
    token = emit.token_path_for(raw, shell.unquote(raw))
    if token is None:
        plan.problem(step, f"cannot derive a token file next to {raw}")
        return
    token_paths[target] = token
    email = service_account(plan, command.var)
    if gcloud_mode:
        plan.put(step, [_write_token(plan, token)])
    else:
        plan.put(step, [_write_token(plan, token), emit.printf_cred_config(plan.options.provider, email, token, raw),
                        *_marker(plan, None)])


def _plan_activate(plan: RewritePlan, step: Step, command: Command, env: dict[str, str], written: dict[str, Step],
                   token_paths: dict[str, str]) -> str | None:
    if command.unknown:
        plan.problem(step, f"gcloud auth activate-service-account with options this tool does not know: "
                     f"{' '.join(command.unknown)}")
        return None
    g = command.gcloud
    keep = (" " + " ".join(command.keep)) if command.keep else ""
    keys = plan.doc.key_vars
    if command.var and command.var in keys and command.var not in env:
        if command.var == GAC and not plan.options.google_cloud_identity:
            return _plan_gac_file_variable(plan, step, command, g, keep)
        if command.var in GAC_NAMES:
            plan.problem(step, f"the key is the CI/CD file variable {command.var}; tools read it implicitly, "
                         "so it must be removed and replaced by hand")
            return None
        if plan.options.google_cloud_identity:
            plan.put(step, [f'{g} auth login --cred-file="$GOOGLE_APPLICATION_CREDENTIALS"{keep}',
                            *_marker(plan, g)])
            return g
        email = service_account(plan, command.var)
        plan.put(step, [_write_token(plan, FILE_VAR_TOKEN),
                        emit.create_cred_config(g, plan.options.provider, email, FILE_VAR_TOKEN, FILE_VAR_CONFIG),
                        f"{g} auth login --cred-file={FILE_VAR_CONFIG}{keep}", *_marker(plan, g)])
        return g
    if not command.path:
        plan.problem(step, "gcloud auth activate-service-account without a key file this tool can follow")
        return None
    target = resolve(command.path, env)
    write = written.get(target)
    if write is None:
        plan.problem(step, f"the activation reads {command.path}, which this job does not write from a key variable")
        return None
    login = f"{g} auth login --cred-file={command.path}{keep}"
    if plan.options.google_cloud_identity:
        plan.put(step, [login, *_marker(plan, g)])
        return g
    write_cmd = write.command
    token = token_paths.get(target)
    is_gcloud_mode = token is not None and plan.replacements.get((write.unit.key, write.index)) == \
        [_write_token(plan, token)]
    if is_gcloud_mode and token is not None and write_cmd is not None:
        email = service_account(plan, write_cmd.var)
        plan.put(step, [emit.create_cred_config(g, plan.options.provider, email, token, command.path), login,
                        *_marker(plan, g)])
    else:
        plan.put(step, [login, *_marker(plan, g)])
    return g


GAC = "GOOGLE_APPLICATION_CREDENTIALS"
# Commands that never read Google credentials (implicitly through GOOGLE_APPLICATION_CREDENTIALS):
# what may run before the federated configuration replaces the key file in a job's environment.
QUIET = frozenset({"echo", "printf", "mkdir", "cd", "pwd", "ls", "set", "true", ":", "date", "chmod", "rm",
                   "test", "[", "export", "sleep", "whoami", "id", "uname", ""})
# Tools that read Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS) on their own.
ADC_TOOLS = frozenset({"gcloud", "gsutil", "bq", "terraform", "terragrunt", "tofu", "pulumi", "kubectl", "helm",
                       "skaffold", "firebase", "kaniko", "executor", "docker-credential-gcr", "serverless", "sls"})


def _plan_gac_file_variable(plan: RewritePlan, step: Step, command: Command, gcloud: str, keep: str) -> str | None:
    """The key is a file-type CI/CD variable named GOOGLE_APPLICATION_CREDENTIALS and the job also
    activates it. A CI/CD variable overrides YAML `variables:` (GitLab's variable precedence), so
    the federated configuration is pointed at by an `export` in the script, at the activation;
    `keys delete` later removes the variable itself. Safe only when nothing before the activation
    could already have read the key implicitly, the job's after_script (a new shell, where GitLab
    sets the variable to the key file again) reads no credentials, and no other job of the file runs
    a tool that reads the variable implicitly."""
    context = plan.context
    if context is None:
        return None
    for earlier in context.steps:
        if earlier is step or (earlier.unit.key == step.unit.key and earlier.index == step.index):
            break
        if earlier.phase != "main":
            continue
        name = _command_name(earlier)
        if name is None or (name not in QUIET and not _handled_key_step(earlier, plan)):
            plan.problem(step, f"`{name or 'a line this tool cannot read'}` runs before the activation and may "
                         f"read {GAC} (the key file) implicitly; move the activation first, then rewrite")
            return None
    for later in context.steps:
        name = _command_name(later) if later.phase == "after" else ""
        if name is None or (name and name not in QUIET and not _handled_key_step(later, plan)):
            plan.problem(step, f"job {context.name}: its after_script runs in a new shell where GitLab sets {GAC} "
                         f"to the key file again (`{name or 'a line this tool cannot read'}`); rewrite by hand")
            return None
    plan.gac_jobs.add(context.name)
    email = service_account(plan, command.var)
    plan.put(step, [_write_token(plan, FILE_VAR_TOKEN),
                    emit.create_cred_config(gcloud, plan.options.provider, email, FILE_VAR_TOKEN, FILE_VAR_CONFIG),
                    f"export {GAC}={FILE_VAR_CONFIG}",
                    f"{gcloud} auth login --cred-file={FILE_VAR_CONFIG}{keep}", *_marker(plan, gcloud)])
    return gcloud


def _command_name(step: Step) -> str | None:
    command = step.command
    if command is None:
        return None
    stages = command.segment.stages
    return stages[0].name if stages else ""


def _handled_key_step(step: Step, plan: RewritePlan) -> bool:
    """A step the rewrite itself removes (a guard, `chmod`/`cat` of the key file)."""
    command = step.command
    return command is not None and (guards.guarded(step.unit.text, plan.doc.key_vars) is not None
                                    or (command.kind in ("cat", "echo") and refs_key(command.segment.text,
                                                                                    plan.doc.key_vars) is not None))


def _check_gac_users(plan: RewritePlan) -> None:
    """Other jobs of the file that may read the GOOGLE_APPLICATION_CREDENTIALS key implicitly."""
    if not plan.gac_jobs:
        return
    for context in plan.doc.contexts:
        if context.name in plan.gac_jobs or context.name == DEFAULT_CONTEXT:
            continue
        for step in context.steps:
            stages = step.command.segment.stages if step.command is not None else ()
            tool = next((stage.name for stage in stages if stage.name in ADC_TOOLS), None)
            if tool is not None:
                plan.problems.append(f"job {context.name} runs `{tool}`, which may read {GAC} (the key file) "
                                     "implicitly; it needs the federated configuration too: rewrite by hand")
                break


def _plan_docker(plan: RewritePlan, step: Step, command: Command, gcloud: str | None, env: dict[str, str],
                 written: dict[str, Step]) -> None:
    if command.unknown or not command.host:
        plan.problem(step, "docker login with options this tool does not know")
        return
    if gcloud is not None:
        plan.put(step, [f"{gcloud} auth print-access-token | docker login -u oauth2accesstoken --password-stdin "
                        f"{command.host}"])
        return
    # No gcloud signed in here: exchange the ID token at STS and impersonate with curl or wget,
    # when the job's image is known to ship one of them (migrate.ci.tooling.http_clients).
    image = plan.images.get(plan.job, "")
    clients = tooling.http_clients(image)
    if not clients:
        what = f"image {image}" if image else "the runner's default image (the job names none)"
        known = "has neither curl nor wget" if clients is not None else "is not one this tool knows to ship curl or wget"
        plan.problem(step, f"docker login with a _json_key in job {plan.job}, which has no gcloud, and {what} "
                     f"{known} to exchange the ID token at STS: rewrite by hand")
        return
    var = command.var
    if var is None and command.path and shell.single_var(command.path) in plan.doc.key_vars \
            and shell.single_var(command.path) not in env:
        var = shell.single_var(command.path)  # `cat $KEY_FILE | docker login ...`: a file variable
    elif var is None and command.path:
        source = written.get(resolve(command.path, env))
        var = source.command.var if source is not None and source.command is not None else None
    if var is None or var not in plan.doc.key_vars:
        plan.problem(step, "docker login reads a key this job does not take from a key variable")
        return
    email = service_account(plan, var)
    plan.put(step, [*emit.sts_exchange(plan.options.provider, email, plan.token_var),
                    emit.docker_login_with_access_token(command.host), *_docker_marker(plan)])


def _docker_marker(plan: RewritePlan) -> list[str]:
    """The verify marker after a registry login with a federated access token (the token was minted)."""
    return [f'echo "{emit.MARKER}"'] if plan.options.verify_marker else []


def _check_other(plan: RewritePlan, step: Step, command: Command, env: dict[str, str], written: dict[str, Step]) -> None:
    keys = plan.doc.key_vars
    for flag, value in credential_flags(command):
        entry = credvars.entry(flag)
        if entry is not None and not entry.rewritable and \
                (resolve(value, env) in written or shell.single_var(value) in keys):
            plan.problem(step, entry.manual_reason())
            return
    var = refs_key(command.segment.text, keys)
    stage_names = [stage.name for stage in command.segment.stages]
    if var is not None:
        if guards.guarded(step.unit.text, keys):
            if step.index == 0:
                for index in range(len(shell.segments(step.unit.text) or [])):
                    plan.put(dataclasses.replace(step, index=index), [])
            return
        if stage_names and stage_names[0] in ("chmod", "chown") and len(command.segment.stages) == 1:
            plan.put(step, [])
            return
        plan.problem(step, f"key variable ${var} is used by a command this tool does not rewrite: "
                     f"{command.segment.text[:100]}")
        return
    if not written or not _names_written(command.segment.text, env, written):
        return
    for stage in command.segment.stages:
        for word in stage.words[1:]:
            if resolve(word, env) in written and stage.name not in SAFE_READERS:
                plan.problem(step, f"the key file {word} is read by `{stage.name}`; check that it accepts a "
                             "credential configuration and rewrite it by hand")
                return
    _check_reads(plan, step, command.segment.text, env, written)


def _names_written(text: str, env: dict[str, str], written: dict[str, Step]) -> bool:
    """Cheap pre-test: the text contains a written file's name or a variable that holds its path."""
    names = {re.split(r"[/:]", target)[-1].lstrip("$") for target in written} | {name for name, value in env.items()
                                                                               if value in written}
    return any(name and name in text for name in names)


def _check_reads(plan: RewritePlan, step: Step, text: str, env: dict[str, str], written: dict[str, Step]) -> None:
    """A key file named anywhere in a command: `$(jq … key.json)`, `--x=key.json`, `-v key.json:/…`,
    `--from-file=k=key.json`, `< key.json`, `-o Section:option=key.json`. After the rewrite the file
    holds a credential configuration (or nothing), so such a reader would break or copy it."""
    stages = shell.segments(text) or []
    if len(stages) == 1 and len(stages[0].stages) == 1:
        stage = stages[0].stages[0]
        if stage.name in SAFE_READERS and not stage.redirects and not any("$(" in w or "`" in w for w in stage.words):
            return
    paths = frozenset(acceptance.normalise(target) for target in written)
    hit = acceptance.mentions(text, paths, env)
    if hit is not None:
        plan.problem(step, f"the key file {hit} is still read by a command this tool does not rewrite "
                     f"({redact(' '.join(text.split()))[:90]}); after the rewrite it would not hold the key: "
                     "change that command by hand")


def _unit_edits(plan: RewritePlan) -> list[emit.Replace | emit.Insert]:
    """Turn per-segment replacements into line edits of each unit."""
    edits: list[emit.Replace | emit.Insert] = []
    by_unit: dict[tuple[int, int, str], dict[int, list[str]]] = {}
    for (unit_key, index), commands in plan.replacements.items():
        by_unit.setdefault(unit_key, {})[index] = commands
    for unit_key, changes in by_unit.items():
        unit = plan.units[unit_key]
        edits.append(_unit_edit(unit, changes, plan.doc.lines))
    return edits


def _unit_edit(unit: Unit, changes: dict[int, list[str]], lines: list[str]) -> emit.Replace:
    parts = shell.segments(unit.text) or []
    if parts and all(changes.get(index) == [] for index in range(len(parts))):
        commands: list[str] = []  # the whole line goes (a guard, a print of the key)
    else:
        commands = changes[0] if len(parts) == 1 and 0 in changes else _rebuild(unit.text, parts, changes)
    if unit.kind == "item":
        new = [unit.prefix + emit.yaml_scalar(command) for command in commands]
        if new and unit.comment:
            new[-1] += " " + unit.comment
        return emit.Replace(unit.first, unit.last, tuple(new))
    if unit.kind == "block_line":
        if any("\n" in command for command in commands):
            raise Manual(f"line {unit.first + 1}: a multi-line command in a block cannot be rewritten safely")
        return emit.Replace(unit.first, unit.last, tuple(unit.prefix + command for command in commands))
    if unit.kind == "scalar" and unit.first == unit.last and commands:
        line = lines[unit.first].rstrip("\r\n")
        value = emit.yaml_scalar(" && ".join(commands))
        return emit.Replace(unit.first, unit.last, (line[:unit.start_col] + value + line[unit.end_col:],))
    raise Manual(f"line {unit.first + 1}: this script value is written in a form this tool does not edit")


def _rebuild(text: str, parts: list[shell.Segment], changes: dict[int, list[str]]) -> list[str]:
    """One command line with some segments replaced (joined by &&) or removed."""
    pieces: list[str] = []
    for index, part in enumerate(parts):
        separator = text[parts[index - 1].end:part.start] if index else ""
        if index in changes:
            replacement = changes[index]
            if not replacement:
                if part.before == "||" or (index + 1 < len(parts) and parts[index + 1].before == "||"):
                    raise Manual("a removed command is part of an `||` list")
                continue
            body = " && ".join(replacement)
        else:
            body = part.text
        if pieces:
            pieces.append(separator if separator.strip() else " && ")
        pieces.append(body)
    result = "".join(pieces).strip()
    return [result] if result else []
