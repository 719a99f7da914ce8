"""Find where a CI file authenticates with a service-account key, job by job.

Every job (hidden ones too, and a pseudo job for `default:`/top-level scripts) is walked as the
runner would run it: `before_script` (own, from `extends`, or the default) then `script`, then
`after_script`, with anchors, `!reference` and `extends` resolved. Each command is classified
(`migrate.ci.commands`) and file paths are followed through the job: a variable written to a file
is a *key variable* when that file reaches a key sink (`activate-service-account --key-file`,
`GOOGLE_APPLICATION_CREDENTIALS`, `docker login -u _json_key`). Names are never guessed from
how a variable is called; a caller that knows key variables from GitLab's API passes them as hints.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Any

import yaml

from migrate.ci import credvars, effective, guards, shell
from migrate.ci.commands import Command, classify
from migrate.ci.units import Budget, Unit, line_units
from migrate.ci.yamlnodes import FileNodes, Located, construct_nodes, get, items, scalar, strings

# Variables a tool reads a key file (or key JSON) from: ADC, Terraform, gcloud, build caches, ...
# The catalogue (`migrate/ci/credvars.yaml`) names each one's tool and its source.
GAC_NAMES = credvars.variable_names()
NOT_KEYS = frozenset({"CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2", "CI_JOB_TOKEN", "CI_BUILD_TOKEN",
                      "CI_REGISTRY_PASSWORD", "CI_PROJECT_DIR", "CI_BUILDS_DIR", "HOME", "PWD", "TMPDIR",
                      "CI_PIPELINE_ID", "CI_JOB_ID"})
SAFE_READERS = frozenset({"rm", "chmod", "chown", "ls", "test", "[", "echo", "mkdir", "export", "stat", "true"})
DEFAULT_CONTEXT = "(default)"
# YAML variables over all jobs (each job's own plus the global ones it inherits): the work per job is
# linear in them, so an adversarial file (thousands of jobs × thousands of global variables) is
# analyzed up to this many and never rewritten, like units.MAX_SCRIPT_UNITS for command lines
MAX_VARIABLE_BINDINGS = 400_000
REQUIRED_CHECK = re.compile(
    r"^\s*if\s+\[\[?\s+-z\s+\"?\$\{?(?P<var>\w+)\}?\"?\s+\]\]?\s*;\s*then\b.*\b(?:exit|return)\b[^;]*;\s*fi\s*$",
    re.S)
FEDERATED_MARKERS = ("create-cred-config", "external_account", "CI_JOB_JWT", "sts.googleapis.com",
                     "identity: google_cloud", "workloadIdentityPools")


@dataclasses.dataclass(frozen=True)
class Step:
    """One classified segment of a unit in one job context."""

    unit: Unit
    index: int  # segment index within the unit (-1: the unit could not be lexed)
    command: Command | None
    phase: str  # 'main' (before_script + script) or 'after'


@dataclasses.dataclass
class RunnerJob:
    """A job as the runner runs it (or the `default:` pseudo job)."""

    name: str
    steps: list[Step]
    env: dict[str, str]  # YAML variables, normalised, that scripts see at start
    yaml_vars: list[tuple[str, Any]]  # (name, value) of its own variables (extends included)
    inherited: list[tuple[str, Any]] = dataclasses.field(default_factory=list)  # global ones it gets (shared)

    @property
    def all_vars(self) -> list[tuple[str, Any]]:
        """Every YAML variable the job gets, globals first (its own override them)."""
        return self.inherited + self.yaml_vars


@dataclasses.dataclass(frozen=True)
class RawFinding:
    first: int  # 0-based lines, inclusive
    last: int
    kind: str
    variable: str | None
    detail: str


@dataclasses.dataclass
class Document:
    """A parsed CI file with everything analysis and rewrite need."""

    text: str
    lines: list[str]
    roots: list[yaml.Node]
    pipe: FileNodes
    contexts: list[RunnerJob]
    token_vars: set[str]
    assigned: set[str]
    federated: bool
    key_vars: set[str] = dataclasses.field(default_factory=set)
    findings: dict[tuple[int, int, str], RawFinding] = dataclasses.field(default_factory=dict)
    finding_jobs: dict[tuple[int, int, str], set[str]] = dataclasses.field(default_factory=dict)
    remaps: list[tuple[str, str, yaml.Node]] = dataclasses.field(default_factory=list)
    artifact_hits: list[tuple[str, yaml.Node]] = dataclasses.field(default_factory=list)
    stray: list[RawFinding] = dataclasses.field(default_factory=list)
    cache: dict[Any, Any] = dataclasses.field(default_factory=dict)  # constructed documents, effective jobs
    truncated: bool = False  # the jobs expand beyond units.MAX_SCRIPT_UNITS: not every command was seen
    global_vars: list[tuple[str, Any]] = dataclasses.field(default_factory=list)  # top-level `variables:`

    def add(self, finding: RawFinding, job: str | None) -> None:
        key = (finding.first, finding.kind, finding.variable or "")
        key3 = (finding.first, finding.last, finding.kind)
        self.findings.setdefault(key3, finding)
        jobs = self.finding_jobs.setdefault(key3, set())
        if job and job != DEFAULT_CONTEXT:
            jobs.add(job)
        del key


def segments_of(unit: Unit) -> list[shell.Segment] | None:
    if unit.kind == "opaque":
        return shell.segments(unit.text)
    return shell.segments(unit.text)


def build(text: str, roots: list[yaml.Node], hints: Iterable[str] = (),
          documents: list[Any] | None = None, resolved: effective.Resolved | None = None) -> Document:
    """Classify the commands of every job of a composed file, as the one resolver
    (`migrate.ci.effective`) resolves the jobs of this file alone (callers that already
    constructed or resolved it pass `documents` / `resolved`)."""
    lines = text.splitlines(keepends=True)
    if documents is None:
        documents = construct_nodes(roots)
    if resolved is None:
        resolved = effective.resolve_documents(documents)
    pipe = FileNodes.from_roots(roots, resolved)
    doc = Document(text, lines, roots, pipe, [], _token_vars(pipe), _assigned(pipe, text), False)
    doc.cache["documents"] = documents
    doc.cache["resolved", ()] = resolved
    doc.federated = _federated(text, pipe)
    budget = Budget()
    doc.global_vars = _pairs(resolved.globals.get("variables"))
    global_env = _env(doc.global_vars)
    bindings = 0
    for name in resolved.names:
        job = resolved.job(name) or {}
        own = _pairs(resolved.own_variables.get(name))
        inherited = _inherited(resolved, name, doc.global_vars)
        bindings += len(inherited) + len(own)
        if bindings > MAX_VARIABLE_BINDINGS:
            budget.units_left = -1
            break
        env = dict(global_env) if inherited is doc.global_vars else _env(inherited)
        env.update(_env(own))
        main = line_units(job.get("before_script") or (), lines, budget) + \
            line_units(job.get("script") or (), lines, budget)
        after = line_units(job.get("after_script") or (), lines, budget)
        doc.contexts.append(RunnerJob(name, _steps(main, "main") + _steps(after, "after"), env, own, inherited))
    defaults = [resolved.defaults.get("before_script"), resolved.defaults.get("after_script")]
    if any(defaults):
        main = line_units(defaults[0] or (), lines, budget)
        after = line_units(defaults[1] or (), lines, budget)
        doc.contexts.append(RunnerJob(DEFAULT_CONTEXT, _steps(main, "main") + _steps(after, "after"),
                                    dict(global_env), [], doc.global_vars))
    doc.truncated = budget.exhausted
    _find_keys(doc, set(hints))
    _record(doc)
    return doc


def _pairs(variables: Any) -> list[tuple[str, Any]]:
    return [(str(name), value) for name, value in variables.items()] if isinstance(variables, dict) else []


def _inherited(resolved: effective.Resolved, job: str, global_vars: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The global variables a job inherits (`inherit:variables`), the shared list when all."""
    if not global_vars:
        return global_vars
    if resolved.inherits(job, "variables", "\0all"):  # true or unset: every global variable
        return global_vars
    return [(name, value) for name, value in global_vars if resolved.inherits(job, "variables", name)]


def var_text(value: Any) -> str | None:
    """The text of a YAML variable: `NAME: value` or `NAME: {value: ..., description: ...}`."""
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) else None


def var_node(value: Any) -> yaml.Node | None:
    """Where a variable's value is written (None for values that are not strings)."""
    if isinstance(value, dict):
        value = value.get("value")
    return value.node if isinstance(value, Located) else None


def _steps(units: list[Unit], phase: str) -> list[Step]:
    steps: list[Step] = []
    for unit in units:
        commands = _classified(unit.text)
        if commands is None:
            steps.append(Step(unit, -1, None, phase))
            continue
        steps.extend(Step(unit, index, command, phase) for index, command in enumerate(commands))
    return steps


@functools.lru_cache(maxsize=32768)
def _classified(text: str) -> tuple[Command, ...] | None:
    """The classified segments of one command line (memoised: big files repeat lines)."""
    parts = shell.segments(text)
    return None if parts is None else tuple(classify(part) for part in parts)


def _env(yaml_vars: list[tuple[str, Any]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, node in yaml_vars:
        value = var_text(node)
        if value is not None:
            env[name] = _normal(value)
    return env


@functools.lru_cache(maxsize=65536)
def _normal(value: str) -> str:
    return shell.normalize_path(value) if "'" not in value and '"' not in value else value


def _token_vars(pipe: FileNodes) -> set[str]:
    names = {"CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2"}
    for node in pipe.nodes:
        if isinstance(node, yaml.MappingNode):
            names.update(key for key, _, _ in items(get(node, "id_tokens")))
    return names


def _assigned(pipe: FileNodes, text: str) -> set[str]:
    """Variables the file itself gives a value (YAML variables, shell assignments)."""
    names: set[str] = set()
    for node in pipe.nodes:
        if isinstance(node, yaml.MappingNode):
            variables = get(node, "variables")
            for key, _, value in items(variables):
                if shell.single_var(scalar(value) or "") != key:
                    names.add(key)
    for match in re.finditer(r"(?:^|[\s;&|(])(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)=", text, re.M):
        names.add(match.group(1))
    return names


def _federated(text: str, pipe: FileNodes) -> bool:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return any(marker in code for marker in FEDERATED_MARKERS)


MOVED = "\0moved"  # env marker: the job's shell may have left $CI_PROJECT_DIR (a cd, a sourced script)
PHASE = "\0phase"
_PROJECT_DIR = re.compile(r"^\$CI_PROJECT_DIR/+")
_DIRECTORY_CHANGE = re.compile(r"(?:^|[\s;&|(`{])(?:cd|pushd|popd|source|eval|\.)(?=\s|$|;)")


def enter(step: Step, env: dict[str, str]) -> None:
    """Track whether relative paths still mean `$CI_PROJECT_DIR/…` at this step.

    A job's shell starts in `$CI_PROJECT_DIR` (GitLab's doc/ci/variables/predefined_variables.md:
    "The full path the repository is cloned to, and where the job runs from"), and `after_script`
    runs in a new shell that starts there again (doc/ci/yaml/_index.md, `after_script`: "the
    current working directory set back to the default"). Anything that may change directory — `cd`,
    `pushd`/`popd`, a sourced script, `eval`, a line this lexer cannot read — ends the equivalence
    for the rest of that shell."""
    if step.phase != env.get(PHASE, "main"):
        env[PHASE] = step.phase
        env.pop(MOVED, None)
    if step.command is None or _moves(step.command.segment.text):
        env[MOVED] = "1"


@functools.lru_cache(maxsize=65536)
def _moves(text: str) -> bool:
    """Whether a command may change directory (memoised: every pass over a job asks per step)."""
    return _DIRECTORY_CHANGE.search(text) is not None


def resolve(word: str, env: dict[str, str]) -> str:
    """The path a word names, following variables that hold a path, in a comparable form.

    A relative path (or `$PWD/…`) means `$CI_PROJECT_DIR/…` while the shell has not changed
    directory (`enter`), so both spellings resolve to `$CI_PROJECT_DIR/…`; after a possible change a
    relative path could be anywhere and resolves to a form that matches nothing (so the tool refuses
    rather than guess). Absolute paths and `$VAR/…` paths stay as written."""
    var = shell.single_var(word)
    if var is not None and var in env and shell.single_var(env[var]) != var:
        return canonical(env[var], env)
    return canonical(shell.normalize_path(word), env)


def canonical(path: str, env: dict[str, str]) -> str:
    """`resolve`'s comparable form of an already normalised path (idempotent)."""
    if not path or path.startswith("\0"):
        return path
    match = _PROJECT_DIR.match(path)
    if match is not None:
        return "$CI_PROJECT_DIR/" + path[match.end():]
    relative = path[5:].lstrip("/") if path.startswith("$PWD/") else path
    if relative.startswith(("/", "$", "~", "-")) or relative in (".", ".."):
        return path
    if MOVED in env:
        return "\0moved:" + relative
    return "$CI_PROJECT_DIR/" + relative


def _is_candidate(var: str | None, doc: Document) -> bool:
    return bool(var) and var not in NOT_KEYS and var not in doc.token_vars


def _find_keys(doc: Document, hints: set[str]) -> None:
    """Key variables: hints, plus variables whose content reaches a key sink in some job."""
    keys = {hint for hint in hints if hint}
    for context in doc.contexts:
        keys |= context_keys(context, doc)
    changed = True
    while changed:  # per-job remaps `KEY: ${KEY_PRODUCTION}` make the source a key variable too
        changed = False
        for pairs in [doc.global_vars, *(context.yaml_vars for context in doc.contexts)]:
            for name, value in pairs:
                source = shell.single_var(var_text(value) or "")
                if name in keys and source and source != name and source not in keys and _is_candidate(source, doc):
                    keys.add(source)
                    changed = True
    doc.key_vars = keys


def _gac_vars(context: RunnerJob, doc: Document) -> list[tuple[str, Any]]:
    """The job's YAML variables named like a Google credential variable, from both layers."""
    inherited = doc.cache.get("global_gac") if context.inherited is doc.global_vars else None
    if inherited is None:
        inherited = [(name, value) for name, value in context.inherited if name in GAC_NAMES]
        if context.inherited is doc.global_vars:
            doc.cache["global_gac"] = inherited
    return inherited + [(name, value) for name, value in context.yaml_vars if name in GAC_NAMES]


def sinks(context: RunnerJob, doc: Document) -> set[str]:
    """Normalised paths that reach a key consumer in this job."""
    env = dict(context.env)
    found = {f"${name}" for name in GAC_NAMES}
    found |= {resolve(f"${name}", env) for name in GAC_NAMES if name in env}
    for step in context.steps:
        enter(step, env)
        command = step.command
        if command is None:
            continue
        if command.kind == "assign" and command.name:
            value = resolve(command.value or "", env)
            env[command.name] = value
            if command.name in GAC_NAMES:
                found.add(value)
        elif command.kind in ("activate", "docker") and command.path:
            found.add(resolve(command.path, env))
        for _, value in credential_flags(command):
            found.add(resolve(value, env))
    return found


def credential_flags(command: Command) -> list[tuple[str, str]]:
    """(flag, value word) of every catalogued credential flag (`--google_credentials=K`, `… K`)."""
    flags = credvars.flag_names()
    if _flag_pattern().search(command.segment.text) is None:
        return []  # names none of the flags (one regex, not one substring test per flag)
    found: list[tuple[str, str]] = []
    for stage in command.segment.stages:
        for index, word in enumerate(stage.words):
            plain = shell.unquote(word)
            for flag in flags:
                if plain.startswith(flag + "="):
                    found.append((flag, word.split("=", 1)[1]))
                elif plain == flag and index + 1 < len(stage.words):
                    found.append((flag, stage.words[index + 1]))
    return found


@functools.cache
def _flag_pattern() -> re.Pattern[str]:
    return re.compile("|".join(re.escape(flag) for flag in sorted(credvars.flag_names())))


def context_keys(context: RunnerJob, doc: Document) -> set[str]:
    keys: set[str] = set()
    reached = sinks(context, doc)
    env = dict(context.env)
    for step in context.steps:
        enter(step, env)
        command = step.command
        if command is None:
            continue
        if command.kind == "assign" and command.name:
            source = shell.single_var(command.value or "")
            if command.name in GAC_NAMES and source and source not in env and source not in doc.assigned \
                    and _is_candidate(source, doc) and not doc.federated:
                keys.add(source)
            env[command.name] = resolve(command.value or "", env)
        elif command.kind == "write" and command.path and _is_candidate(command.var, doc):
            if resolve(command.path, env) in reached and command.var:
                keys.add(command.var)
        elif command.kind in ("activate", "docker") and command.var and _is_candidate(command.var, doc) \
                and command.var not in env:
            keys.add(command.var)
        for _, value in credential_flags(command):
            source = shell.single_var(value)
            if source and source not in env and source not in doc.assigned and _is_candidate(source, doc) \
                    and not doc.federated:
                keys.add(source)
    for name, value in _gac_vars(context, doc):
        source = shell.single_var(var_text(value) or "")
        if name in GAC_NAMES and source and source not in doc.assigned and _is_candidate(source, doc) \
                and not doc.federated and source not in env:
            keys.add(source)
    return keys


def key_paths(context: RunnerJob, doc: Document) -> set[str]:
    """Normalised paths a key variable is written to in this job."""
    env = dict(context.env)
    paths: set[str] = set()
    for step in context.steps:
        enter(step, env)
        command = step.command
        if command is None:
            continue
        if command.kind == "assign" and command.name:
            env[command.name] = resolve(command.value or "", env)
        elif command.kind == "write" and command.var in doc.key_vars and command.path:
            paths.add(resolve(command.path, env))
    return paths


def refs_key(text: str, keys: set[str]) -> str | None:
    return next((name for name in shell.var_refs(text) if name in keys), None)


def _record(doc: Document) -> None:
    """Turn the classified steps into findings (deduplicated by place)."""
    keys = doc.key_vars
    for context in doc.contexts:
        paths = key_paths(context, doc)
        env = dict(context.env)
        for step in context.steps:
            enter(step, env)
            finding = _finding(step, keys, paths, env)
            if finding is not None:
                doc.add(finding, context.name)
        _artifacts(doc, context, paths)
    for context in doc.contexts:
        for name, value in context.yaml_vars:
            _remap(doc, name, value, [context.name])
    # a global variable set from a key is a finding of every job that inherits it
    global_remaps = [(name, value) for name, value in doc.global_vars if refs_key(var_text(value) or "", keys)]
    if global_remaps and len(global_remaps) * len(doc.contexts) > MAX_VARIABLE_BINDINGS:
        doc.truncated = True
        global_remaps = global_remaps[:max(1, MAX_VARIABLE_BINDINGS // len(doc.contexts))]
    for name, value in global_remaps:
        jobs = [context.name for context in doc.contexts
                if context.inherited is doc.global_vars or any(pair[0] == name for pair in context.inherited)]
        _remap(doc, name, value, jobs or [DEFAULT_CONTEXT])
    _stray(doc)
    _auth_only_lists(doc)


def _auth_only_lists(doc: Document) -> None:
    """A `before_script:`/`after_script:` list whose every command is a finding exists only for the
    key (a lone `chmod 400 $KEY_FILE`, say): its first finding spans the keyword's line too, since a
    rewrite that removes every command must also write the list as `[]`."""
    starts: dict[int, tuple[int, int, str]] = {}
    for key3, finding in doc.findings.items():
        starts.setdefault(finding.first, key3)
    for node in doc.pipe.nodes:
        if not isinstance(node, yaml.MappingNode):
            continue
        for key, value in node.value:
            if not (isinstance(key, yaml.ScalarNode) and key.value in ("before_script", "after_script")
                    and isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value
                    and value.start_mark.line > key.start_mark.line):  # written here, not an alias
                continue
            lines = [item.start_mark.line for item in value.value if isinstance(item, yaml.ScalarNode)]
            if len(lines) != len(value.value) or not all(line in starts for line in lines):
                continue
            first = starts[lines[0]]
            finding = doc.findings.pop(first)
            wider = dataclasses.replace(finding, first=key.start_mark.line)
            wider_key = (wider.first, wider.last, wider.kind)
            doc.findings[wider_key] = wider
            doc.finding_jobs[wider_key] = doc.finding_jobs.pop(first, set()) | doc.finding_jobs.get(wider_key, set())
            starts.pop(lines[0])


def _remap(doc: Document, name: str, value: Any, jobs: list[str]) -> None:
    text, node = var_text(value) or "", var_node(value)
    var = refs_key(text, doc.key_vars)
    if var is None or node is None:
        return
    kind = "gac-key-variable" if name in GAC_NAMES else "key-remap" if shell.single_var(text) else \
        "key-variable-reference"
    doc.remaps.append((name, var, node))
    finding = RawFinding(node.start_mark.line, node.end_mark.line, kind, var,
                         f"variable {name} is set from key variable ${var}")
    for job in jobs:
        doc.add(finding, job)


def _finding(step: Step, keys: set[str], paths: set[str], env: dict[str, str]) -> RawFinding | None:
    unit, command = step.unit, step.command
    first, last = unit.first, unit.last
    if command is None:
        text = unit.text
        if "activate-service-account" in text or "_json_key" in text or refs_key(text, keys):
            return RawFinding(first, last, "unparsed-auth", refs_key(text, keys),
                              "authentication in shell this tool cannot parse")
        return None
    text = command.segment.text
    if command.kind == "assign" and command.name:
        env[command.name] = resolve(command.value or "", env)
    if command.kind == "activate":
        return RawFinding(first, last, "activate-service-account", command.var or _var_in(text, keys),
                          f"gcloud auth activate-service-account with key file {command.path or '$' + str(command.var)}")
    if command.kind == "docker":
        return RawFinding(first, last, "docker-json-key", command.var or _var_in(text, keys),
                          f"docker login -u _json_key to {command.host or '?'}")
    if command.kind == "write" and command.var in keys:
        return RawFinding(first, last, "key-to-file", command.var, f"writes ${command.var} to {command.path}")
    if command.kind == "cat" and command.path and resolve(command.path, env) in paths:
        return RawFinding(first, last, "key-printed", None, f"prints the key file {command.path} to the job log")
    if command.kind == "echo" and command.var in keys:
        return RawFinding(first, last, "key-printed", command.var, f"prints ${command.var} to the job log")
    for flag, value in credential_flags(command):
        source = shell.single_var(value)
        if resolve(value, env) in paths or (source is not None and source in keys):
            tool = getattr(credvars.entry(flag), "tool", flag)
            return RawFinding(first, last, "tool-credential-flag", source if source in keys else None,
                              f"{tool} reads the key file through {flag}")
    var = refs_key(text, keys)
    if var is not None:
        if command.kind == "assign" and command.name in GAC_NAMES:
            return RawFinding(first, last, "gac-key-variable", var,
                              f"{command.name} points at the key file variable ${var}")
        kind = "key-variable-check" if guards.guarded(unit.text, keys) else "key-variable-reference"
        return RawFinding(first, last, kind, var, f"uses key variable ${var}: {text[:80]}")
    return None


def _var_in(text: str, keys: set[str]) -> str | None:
    return refs_key(text, keys)


def _artifacts(doc: Document, context: RunnerJob, paths: set[str]) -> None:
    if not paths or context.name == DEFAULT_CONTEXT:
        return
    job = doc.pipe.resolved.job(context.name) or {}
    artifacts = job.get("artifacts")
    listed = artifacts.get("paths") if isinstance(artifacts, dict) else None
    for value in listed if isinstance(listed, list) else ():
        if isinstance(value, Located) and canonical(shell.normalize_path(value), {}) in paths:
            item = value.node
            doc.artifact_hits.append((context.name, item))
            doc.add(RawFinding(item.start_mark.line, item.end_mark.line, "key-in-artifacts", None,
                               f"the key file {value} is kept as a job artifact"), context.name)


def _stray(doc: Document) -> None:
    """Key authentication in values no job runs (unused anchors, odd keys): report, never edit."""
    covered = bytearray(len(doc.lines) + 2)  # lines inside a finding (linear, not pairwise overlap tests)
    for finding in doc.findings.values():
        covered[finding.first:finding.last + 1] = b"\x01" * (finding.last + 1 - finding.first)
    for node in doc.pipe.nodes:
        if not isinstance(node, yaml.ScalarNode) or ("activate-service-account" not in node.value
                                                     and "_json_key" not in node.value):
            continue  # fast path: most scalars name neither
        code = "\n".join(line for line in node.value.splitlines() if not line.lstrip().startswith("#"))
        kind = "activate-service-account" if "activate-service-account" in code else \
            "docker-json-key" if "_json_key" in code else None
        if kind is None:
            continue
        first, last = node.start_mark.line, node.end_mark.line
        if any(covered[first:last + 1]):
            continue
        finding = RawFinding(first, last, kind, refs_key(code, doc.key_vars), "key authentication outside any job's script")
        doc.stray.append(finding)
        doc.add(finding, None)
        covered[first:last + 1] = b"\x01" * (last + 1 - first)


def strings_of(node: yaml.Node | None) -> list[str]:
    return strings(node)
