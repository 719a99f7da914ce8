"""`analyze`: what a CI file does with service-account keys, as plain data for scan and the CLI."""

from __future__ import annotations

import dataclasses
import re

import yaml

from migrate.ci import limits
from migrate.ci.detect import MAX_VARIABLE_BINDINGS, Document, build
from migrate.ci.redact import redact
from migrate.ci.units import MAX_SCRIPT_UNITS
from migrate.ci.yamlnodes import FileNodes, compose, get, items, scalar, strings
from migrate.core.model import CIFinding

INCLUDE_KINDS = ("local", "project", "remote", "template", "component")
TRUNCATED = (f"the jobs expand (extends, !reference, anchors) to more than {MAX_SCRIPT_UNITS} command lines "
             f"or {MAX_VARIABLE_BINDINGS} inherited YAML variables; only the first were analyzed")


@dataclasses.dataclass(frozen=True)
class Include:
    """One `include:` entry, so scan can fetch the files a pipeline pulls in."""

    kind: str  # local | project | remote | template | component
    location: str  # the path, URL, template name or component address ('' for project)
    project: str | None = None
    files: tuple[str, ...] = ()
    ref: str | None = None
    line: int = 0  # 1-based


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """A job of the file (hidden `.x` jobs included) and its extends chain within the file."""

    name: str
    hidden: bool
    extends: tuple[str, ...]
    chain: tuple[str, ...]
    line: int  # 1-based
    environment: str | None = None  # its own `environment:` name (not inherited), as written


@dataclasses.dataclass(frozen=True)
class Analysis:
    path: str
    findings: tuple[CIFinding, ...]
    problems: tuple[str, ...]
    federated: bool
    includes: tuple[Include, ...]
    key_variables: tuple[str, ...]
    jobs: tuple[JobInfo, ...]


def analyze(text: str, path: str = ".gitlab-ci.yml", key_variables: frozenset[str] = frozenset()) -> Analysis:
    """Findings of key use in one CI file. Never raises on bad input: problems say what went wrong.

    Problems and finding details never quote secret-looking content (`migrate.ci.redact`)."""
    with limits.paused_gc():
        result = _analyze(text, path, key_variables)
    return dataclasses.replace(
        result, problems=tuple(redact(problem) for problem in result.problems),
        findings=tuple(dataclasses.replace(f, detail=redact(f.detail)) for f in result.findings))


def _analyze(text: str, path: str, key_variables: frozenset[str]) -> Analysis:
    try:
        limits.check_text(text)
        roots = compose(text)
    except limits.InputRefused as error:
        return Analysis(path, (), (str(error),), False, (), (), ())
    except yaml.YAMLError as error:
        problem = "not valid YAML: " + " ".join(str(error).split())[:200]
        return Analysis(path, _line_scan(text), (problem,), _federated_text(text), (), (), ())
    doc = build(text, roots, key_variables)
    return from_document(doc, path)


def from_document(doc: Document, path: str) -> Analysis:
    findings = sorted(
        (CIFinding(f.first + 1, f.last + 1, f.kind, f.variable, tuple(sorted(doc.finding_jobs.get(key, ()))),
                   f.detail) for key, f in doc.findings.items()),
        key=lambda f: (f.line, f.end_line, f.kind))
    problems = tuple(f"{f.kind} at line {f.first + 1}: {f.detail}" for f in doc.stray)
    if doc.truncated:
        problems += (TRUNCATED,)
    return Analysis(path, tuple(findings), problems, doc.federated, includes(doc.pipe),
                    tuple(sorted(doc.key_vars)), jobs(doc.pipe))


def includes(pipe: FileNodes) -> tuple[Include, ...]:
    node = pipe.value("include")
    entries = node.value if isinstance(node, yaml.SequenceNode) else [node] if node is not None else []
    result: list[Include] = []
    for entry in entries:
        line = entry.start_mark.line + 1
        value = scalar(entry)
        if value is not None:
            result.append(Include("remote" if re.match(r"^https?://", value) else "local", value, line=line))
            continue
        keys = {key for key, _, _ in items(entry)}
        kind: str | None = next((k for k in INCLUDE_KINDS if k in keys), None)
        if kind is None:
            continue
        location: str = scalar(get(entry, kind)) or ""
        project = location if kind == "project" else None
        files = tuple(strings(get(entry, "file"))) if kind == "project" else ()
        result.append(Include(kind, "" if kind == "project" else location, project, files,
                              scalar(get(entry, "ref")), line))
    return tuple(result)


def jobs(pipe: FileNodes) -> tuple[JobInfo, ...]:
    result = []
    for name in pipe.job_names():
        key = pipe.key_node(name)
        job = pipe.job(name)
        result.append(JobInfo(name, name.startswith("."), tuple(strings(get(job, "extends"))),
                              tuple(pipe.chain(name)[1:]), (key.start_mark.line + 1) if key else 0,
                              _environment(get(job, "environment"))))
    return tuple(result)


def _environment(node: yaml.Node | None) -> str | None:
    """`environment: NAME` or `environment: {name: NAME}` (the scopes of CI/CD variables match it)."""
    if isinstance(node, yaml.MappingNode):
        node = get(node, "name")
    value = scalar(node)
    return value or None


def _line_scan(text: str) -> tuple[CIFinding, ...]:
    """For text that is not YAML: the lines that unmistakably authenticate with a key."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        if "activate-service-account" in line:
            found.append(CIFinding(number, number, "activate-service-account", None, (), line.strip()[:100]))
        elif "_json_key" in line:
            found.append(CIFinding(number, number, "docker-json-key", None, (), line.strip()[:100]))
    return tuple(found)


def _federated_text(text: str) -> bool:
    return any(marker in text for marker in ("create-cred-config", "external_account", "CI_JOB_JWT", "id_tokens"))
