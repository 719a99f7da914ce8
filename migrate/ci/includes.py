"""What the included files of a CI file contribute in *every* pipeline: `rules:` and `inputs:`.

GitLab decides two things about an include at pipeline creation, per pipeline:

- `include:` with `rules:` (`if`, `exists`, `changes`) is merged only when a rule matches
  (`lib/gitlab/ci/config/external/rules.rb`: no rules = always; no matching rule = never). Which
  pipelines match depends on the ref, the pipeline source, the changed and existing files: facts a
  migration plan does not have for every future pipeline. So such a file (and every file it
  includes) is *conditional*: the rewrite must hold both with and without it.
- A file with a `spec: inputs:` header is interpolated with the including entry's `inputs:` (and
  the header's defaults) before it is merged (`lib/gitlab/ci/config/external/interpolator.rb`,
  `lib/gitlab/ci/interpolation/{template,block,access}.rb`: every `$[[ inputs.NAME ]]` block in
  keys and values is replaced). This module interpolates the form it can reproduce exactly — a
  string input, without functions (`| expand_vars`, `| truncate(...)`, ...), whose value is plain
  text that reads the same in any YAML scalar — and marks the file *unresolved* otherwise, with the
  reason: keyed jobs whose effective configuration depends on it then go to manual review.

Pure: the caller passes the file's text and the texts (and ids) of the files it includes, in
GitLab's merge order (`RewriteOptions.included`, `included_ids`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from migrate.ci import limits
from migrate.ci.yamlnodes import compose, construct_nodes
from migrate.core.components import nested_address
from migrate.core.model import COMPONENT_FILES, GITLAB_TEMPLATES, REMOTE_FILES

FileId = tuple[str, str, str]  # (project, path, ref)
BLOCK = re.compile(r"\$\[\[\s*(.*?)\s*\]\]")  # interpolation/block.rb PATTERN
ACCESS = re.compile(r"^inputs\.([A-Za-z0-9_-]+)$")
# a value that reads the same in a plain, single- or double-quoted scalar and in a key
PLAIN = re.compile(r"^[A-Za-z0-9_./@+=-](?:[A-Za-z0-9_./:@+=-]*[A-Za-z0-9_./@+=-])?$")
MAX_CONDITIONAL = 8  # worlds checked: all conditional files left out, then each one alone


@dataclasses.dataclass(frozen=True)
class IncludeFacts:
    """The included texts as GitLab merges them, and which of them not every pipeline gets."""

    texts: tuple[str, ...]  # interpolated where exact, else as written
    labels: tuple[str, ...]  # how each file is named in reasons
    conditional: tuple[int, ...] = ()  # indices: included only when an include rule matches
    unresolved: Mapping[int, str] = dataclasses.field(default_factory=dict)  # index -> why not exact
    # index -> the text with every block it could not interpolate replaced by a marker: a keyed job
    # that differs between the two texts depends on a value this tool does not know
    alternates: Mapping[int, str] = dataclasses.field(default_factory=dict)


def pipelines_without(facts: IncludeFacts) -> list[tuple[int, ...]] | str:
    """The other pipelines a check must also hold in, as the included files each leaves out: all
    conditional files, then each one alone (a file included with `rules:` is merged only where a
    rule matches, `lib/gitlab/ci/config/external/rules.rb`); or why there are too many to check.
    The rewrite self-check (`migrate.ci.selfcheck`) and the consumer check
    (`migrate.plan.consumer_check`) both use it, so both judge the same pipelines."""
    conditional = tuple(facts.conditional)
    if not conditional:
        return []
    if len(conditional) > MAX_CONDITIONAL:
        return (f"{len(conditional)} included files are conditional (include with rules:), more than the "
                f"{MAX_CONDITIONAL} this tool checks one by one")
    return [conditional] + ([(index,) for index in conditional] if len(conditional) > 1 else [])


@dataclasses.dataclass(frozen=True)
class _Entry:
    targets: tuple[tuple[str | None, str], ...]  # (project or None = the including file's, path)
    rules: bool
    inputs: Mapping[str, Any] | None


def analyse(text: str, project: str, included: Sequence[str], ids: Sequence[FileId]) -> IncludeFacts:
    """The facts of `included` (texts in merge order) for the file `text` of `project`.

    Without ids (a caller that only has the texts) an include entry cannot be matched to its file:
    then every included file counts as conditional as soon as any entry has rules, and as
    unresolved when it has an inputs header."""
    ids = list(ids) if len(ids) == len(included) else []
    labels = tuple(f"{i[0]}:{i[1]}" if i[0] != project else i[1] for i in ids) if ids else \
        tuple(f"included file {n + 1}" for n in range(len(included)))
    owners = [(i[0], i[1]) for i in ids] if ids else [("", "")] * len(included)
    parents: list[tuple[tuple[str, str], str]] = [((project, ""), text), *zip(owners, included, strict=True)]
    entries_by_parent = [_entries(body) for _, body in parents]
    reaching: dict[int, list[tuple[int, _Entry]]] = {}
    for parent, entries in enumerate(entries_by_parent):
        owner = parents[parent][0]
        for entry in entries:
            targets = [_local_target(owner, path) if not target_project else (target_project, path)
                       for target_project, path in entry.targets]
            for index, fid in enumerate(ids):
                if any(target_project == fid[0] and path.lstrip("/") == fid[1].lstrip("/")
                       for target_project, path in targets):
                    reaching.setdefault(index, []).append((parent, entry))
    conditional: set[int] = set()
    if not ids:
        if any(entry.rules for entries in entries_by_parent for entry in entries):
            conditional = set(range(len(included)))
    else:
        changed = True
        while changed:  # a file included by a conditional file is conditional too
            changed = False
            for index, found in reaching.items():
                if index not in conditional and any(entry.rules or parent - 1 in conditional
                                                    for parent, entry in found):
                    conditional.add(index)
                    changed = True
    texts: list[str] = []
    unresolved: dict[int, str] = {}
    alternates: dict[int, str] = {}
    for index, body in enumerate(included):
        given = [entry.inputs for _, entry in reaching.get(index, [])]
        result = interpolate_all(body, given, bool(ids))
        texts.append(result.text)
        if result.reason is not None:
            unresolved[index] = result.reason
            alternates[index] = result.alternate
    return IncludeFacts(tuple(texts), labels, tuple(sorted(conditional)), unresolved, alternates)


@dataclasses.dataclass(frozen=True)
class Interpolated:
    text: str  # every block it could interpolate exactly replaced, the others as written
    alternate: str = ""  # the same with the others replaced by UNKNOWN
    reason: str | None = None  # why some block could not be interpolated


UNKNOWN = "__wif_migrate_unknown_input__"


def interpolate(text: str, given: Sequence[Mapping[str, Any] | None], matched: bool = True) -> str | _Why:
    """`text` with its `$[[ inputs.NAME ]]` blocks replaced, or why that cannot be done exactly."""
    result = interpolate_all(text, given, matched)
    return _Why(result.reason) if result.reason is not None else result.text


@dataclasses.dataclass(frozen=True)
class _Why:
    reason: str


def interpolate_all(text: str, given: Sequence[Mapping[str, Any] | None], matched: bool = True) -> Interpolated:
    """`text` with the `$[[ inputs.NAME ]]` blocks replaced that can be replaced exactly."""
    values = _values(text, given, matched)
    if isinstance(values, Interpolated):
        return values
    if values is None:
        return Interpolated(text)
    body = _after_header(text)
    failures: list[str] = []

    def substitute(match: re.Match[str], unknown: str | None) -> str:
        why = _block_problem(match.group(1), values)
        if why is not None:
            failures.append(why)
            return unknown if unknown is not None else match.group(0)
        access = ACCESS.match(match.group(1))
        assert access is not None
        return values[access.group(1)]

    result = BLOCK.sub(lambda m: substitute(m, None), body)
    if not failures:
        return Interpolated(result)
    alternate = BLOCK.sub(lambda m: substitute(m, UNKNOWN), body)
    return Interpolated(result, alternate, failures[0])


def _block_problem(access_text: str, values: Mapping[str, str]) -> str | None:
    access = ACCESS.match(access_text)
    if access is None:
        return f"`$[[ {access_text} ]]` (functions and other contexts are not interpolated here)"
    name = access.group(1)
    if name not in values:
        return f"`$[[ inputs.{name} ]]` names no declared input with a value (GitLab rejects the include)"
    if values[name] and not PLAIN.match(values[name]):
        return f"input {name}'s value is not plain text this tool can place exactly"
    return None


def _values(text: str, given: Sequence[Mapping[str, Any] | None], matched: bool) -> dict[str, str] | None | Interpolated:
    """The inputs' values (None: no spec header), or, when none can be known, the whole text
    unresolved (every block replaced by UNKNOWN in the alternate)."""

    def whole(reason: str) -> Interpolated:
        body = _after_header(text)
        return Interpolated(text, BLOCK.sub(UNKNOWN, body), reason)

    if "$[[" not in text and "spec:" not in text:
        return None
    try:
        limits.check_text(text)
        documents = construct_nodes(compose(text))
    except (yaml.YAMLError, limits.InputRefused):
        return None  # the loader of the caller reports it
    header = documents[0] if len(documents) > 1 and isinstance(documents[0], dict) \
        and list(documents[0]) == ["spec"] else None
    spec_inputs = _mapping(_mapping(_mapping(header).get("spec")).get("inputs"))
    if header is None:
        return None  # no header: GitLab interpolates nothing (blocks stay text)
    distinct = {repr(sorted((str(k), repr(v)) for k, v in (inputs or {}).items())) for inputs in given}
    if not matched and not given:
        return whole("it takes spec:inputs and the include entry that passes them is not known")
    if len(distinct) > 1:
        return whole("it is included more than once with different inputs")
    passed = dict(given[0] or {}) if given else {}
    unknown = sorted(str(name) for name in passed if name not in spec_inputs)
    if unknown:
        return whole(f"input {unknown[0]} is not declared in its spec:inputs (GitLab rejects the include)")
    values: dict[str, str] = {}
    for name, spec in spec_inputs.items():
        definition = _mapping(spec)
        if definition.get("type", "string") != "string":
            return whole(f"input {name} is of type {definition.get('type')}")
        if name in passed:
            value = passed[name]
        elif "default" in definition:
            value = definition["default"]
        else:
            return whole(f"input {name} has no value and no default (GitLab rejects the include)")
        if not isinstance(value, str):
            return whole(f"input {name} is not a string")
        options = definition.get("options")
        if isinstance(options, list) and value not in options:
            return whole(f"input {name}: {value!r} is not one of its options (GitLab rejects the include)")
        values[str(name)] = value
    return values


def _after_header(text: str) -> str:
    """The configuration document(s): what follows the `---` ending the spec header."""
    match = re.search(r"^---[ \t]*$", text, re.M)
    return text[match.end() + 1:] if match else text


def _entries(text: str) -> list[_Entry]:
    try:
        limits.check_text(text)
        documents = construct_nodes(compose(text))
    except (yaml.YAMLError, limits.InputRefused):
        return []
    mappings = [doc for doc in documents if isinstance(doc, dict)]
    if len(mappings) > 1 and list(mappings[0]) == ["spec"]:
        mappings = mappings[1:]
    value: Any = None
    for mapping in mappings:
        value = mapping.get("include", value)
    items = value if isinstance(value, list) else [value] if value is not None else []
    entries: list[_Entry] = []
    for item in items:
        if isinstance(item, str):
            target = (REMOTE_FILES, item) if re.match(r"^https?://", item) else (None, item.lstrip("/"))
            entries.append(_Entry((target,), False, None))
            continue
        entry = _mapping(item)
        rules = entry.get("rules") is not None
        inputs = entry.get("inputs")
        given = {str(k): v for k, v in inputs.items()} if isinstance(inputs, dict) else None
        if isinstance(entry.get("local"), str):
            entries.append(_Entry(((None, str(entry["local"]).lstrip("/")),), rules, given))
        elif isinstance(entry.get("remote"), str):
            entries.append(_Entry(((REMOTE_FILES, str(entry["remote"])),), rules, given))
        elif isinstance(entry.get("component"), str):
            # its `inputs:` feed the component's `spec: inputs` (ci/components/index.md)
            entries.append(_Entry(((COMPONENT_FILES, str(entry["component"]).strip()),), rules, given))
        elif isinstance(entry.get("template"), str):
            entries.append(_Entry(((GITLAB_TEMPLATES, str(entry["template"])),), rules, given))
        elif isinstance(entry.get("project"), str):
            files = entry.get("file")
            names = files if isinstance(files, list) else [files]
            entries.append(_Entry(tuple((str(entry["project"]).strip("/"), str(name).lstrip("/"))
                                        for name in names if isinstance(name, str)), rules, given))
    return entries


def _local_target(owner: tuple[str, str], path: str) -> tuple[str, str]:
    """(project, path) of a `local:` include written in the file `owner` (project, path): the same
    project, except in a component, whose local includes are the component's (`core.components`)."""
    if owner[0] == COMPONENT_FILES:
        return COMPONENT_FILES, nested_address(owner[1], path)
    return owner[0], path


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}
