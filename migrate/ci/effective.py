"""Effective jobs: what GitLab hands the runner for each job, as plain data.

GitLab builds a pipeline's configuration in a fixed order (`build_config` in GitLab's
`lib/gitlab/ci/config.rb`):

1. load the YAML (`Config::Yaml.load!`; `!reference` stays a tag object, not a hash);
2. merge the included files (`Config::External::Processor`: every included file is deep-merged in
   order, then the including file's own content is deep-merged on top, so it wins);
3. expand `extends` (`Config::Extendable`, `config/extendable/entry.rb`: the parents, in order, are
   deep-merged and then the job is deep-merged over them; a hash merges key by key, any other value
   of the child replaces the parent's; at most 10 levels; a circle is an error). A `!reference` is
   not a hash at this point, so a child's `id_tokens: !reference [...]` replaces a parent's
   `id_tokens:` hash wholesale;
4. resolve `!reference` tags (`config/yaml/tags/resolver.rb`, `tags/reference.rb`): the path is
   looked up in the *extended* configuration and resolved in turn (GitLab documents 10 nesting
   levels; a circle is an error);
5. build the entries (`config/entry/job.rb`, `config/entry/default.rb`, `config/entry/inherit/`):
   hidden jobs (`.name`) are templates only and never run; a job gets a `default:` keyword (or the
   deprecated top-level one) only when it does not set it itself and `inherit:default` allows it;
   global `variables:` likewise under `inherit:variables`; script arrays are flattened.

This module is the single model of those rules. It is pure: callers pass the text of the file and,
when they have them, the texts of the files it includes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from migrate.ci import limits
from migrate.ci.yamlnodes import GLOBAL_KEYWORDS, MAX_REFERENCE_DEPTH, Reference, compose, construct_nodes

MAX_EXTENDS_LEVELS = 10  # Extendable::Entry::MAX_NESTING_LEVELS
# config/entry/default.rb ALLOWED_KEYS (plus id_tokens 16.4, hooks 16.7, identity 16.9)
DEFAULT_KEYWORDS = ("after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens", "identity",
                    "image", "interruptible", "retry", "services", "tags", "timeout")
LEGACY_TOP = ("before_script", "after_script", "image", "services", "cache")  # deprecated top-level forms
SCRIPT_KEYWORDS = ("before_script", "script", "after_script")
# config/entry/commands.rb: `string_or_nested_array_of_strings: { max_level: MAX_NESTING_LEVEL }`, 10
MAX_SCRIPT_NESTING = 10


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The visible jobs of a pipeline, and why the resolution may be incomplete."""

    jobs: Mapping[str, Mapping[str, Any]]  # job name -> effective job (plain data)
    problems: tuple[str, ...]  # things GitLab would reject (circular extends or references)
    partial: Mapping[str, str] = dataclasses.field(default_factory=dict)  # job -> what we could not see
    globals: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # workflow, stages, variables, ...
    hidden: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)  # `.templates`, resolved
    # job -> its `extends` ancestors that the configuration defines, highest precedence first
    ancestors: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    # `default:` keywords (and the deprecated top-level ones) as jobs inherit them, scripts flattened
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # job -> its own `variables` (after extends and !reference, before the global ones are inherited)
    own_variables: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    names: tuple[str, ...] = ()  # every job (hidden included) in the configuration's order

    def job(self, name: str) -> Mapping[str, Any] | None:
        """A visible or hidden job."""
        found = self.jobs.get(name)
        return found if found is not None else self.hidden.get(name)

    def chain(self, name: str) -> tuple[str, ...]:
        """The job and its extends ancestors, highest precedence first."""
        return (name, *self.ancestors.get(name, ()))

    def inherits(self, name: str, section: str, keyword: str) -> bool:
        """Whether the job takes `keyword` of `default:` (section 'default') or of the global
        `variables:` (section 'variables'), by its effective `inherit:` (config/entry/inherit/)."""
        job = self.job(name) or {}
        return _inherits(_mapping(job.get("inherit")).get(section, True), keyword)


class ResolveError(Exception):
    pass


def load(text: str) -> dict[str, Any]:
    """The configuration mapping of a CI file (a leading `spec:` header document skipped).

    Loaded like the file itself (`yamlnodes.compose`): size, nesting and alias-expansion guards
    apply to included files too."""
    limits.check_text(text)
    return from_documents(construct_nodes(compose(text)))


def from_documents(documents: Sequence[Any]) -> dict[str, Any]:
    """The configuration mapping of already constructed YAML documents."""
    mappings = [doc for doc in documents if isinstance(doc, dict)]
    if len(mappings) > 1 and list(mappings[0]) == ["spec"]:
        mappings = mappings[1:]
    config: dict[str, Any] = {}
    for mapping in mappings:
        config.update({str(key): value for key, value in mapping.items()})
    return config


def deep_merge(base: Any, other: Any) -> Any:
    """ActiveSupport's Hash#deep_merge: hashes merge key by key, anything else from `other` wins."""
    if not isinstance(base, dict) or not isinstance(other, dict) or isinstance(other, Reference):
        return other
    merged = dict(base)
    for key, value in other.items():
        merged[key] = deep_merge(merged[key], value) if key in merged else value
    return merged


def resolve_text(text: str, included: Sequence[str] = ()) -> Resolved:
    """Effective jobs of a CI file (raises yaml.YAMLError / limits.InputRefused on unreadable text)."""
    return resolve([load(extra) for extra in included], load(text))


def resolve_documents(documents: Sequence[Any], included: Sequence[str] = ()) -> Resolved:
    return resolve([load(extra) for extra in included], from_documents(documents))


def resolve(included: Sequence[Mapping[str, Any]], main: Mapping[str, Any]) -> Resolved:
    """The one model of GitLab's job resolution; linear in the configuration (every step is
    memoised, and values without a `!reference` are shared, never copied per job)."""
    problems: list[tuple[str, str]] = []
    config: dict[str, Any] = {}
    for extra in included:
        config = deep_merge(config, {k: v for k, v in extra.items() if k != "include"})
    config = deep_merge(config, {k: v for k, v in main.items() if k != "include"})
    extended = _extend_all(config, problems)
    ancestors = _ancestry(config)
    resolved = extended
    if _has_reference(extended):  # most files have none: nothing to copy or walk
        resolver = _References(extended, problems)
        resolved = {}
        for key, value in extended.items():
            resolver.owner = key
            resolved[key] = resolver.deep(value)
    finisher = _Finisher(resolved, problems)
    names = tuple(name for name, job in resolved.items() if _is_job(name, job))
    jobs = {name: finisher.finish(name, resolved[name]) for name in names if not name.startswith(".")}
    hidden = {name: finisher.finish(name, resolved[name]) for name in names if name.startswith(".")}
    partial: dict[str, str] = {}
    for owner, message in problems:
        if owner in jobs or owner.startswith("."):
            partial.setdefault(owner, message)
    # a job that extends or references a template we could not see is partial too
    for name in jobs:
        if name not in partial:
            template = next((partial[parent] for parent in ancestors.get(name, ()) if parent in partial), None)
            if template:
                partial[name] = template
    fatal = tuple(dict.fromkeys(message for owner, message in problems if "circular" in message
                                or "too deep" in message or "deeper" in message))
    globals_ = {key: value for key, value in resolved.items()
                if key in GLOBAL_KEYWORDS and key not in ("default", "include", *LEGACY_TOP)}
    own = {name: _mapping(resolved[name].get("variables")) for name in names}
    return Resolved(jobs, fatal, partial, globals_, hidden, ancestors, finisher.defaults, own, names)


def _has_reference(config: Mapping[str, Any]) -> bool:
    """Whether any value holds a `!reference` (one pass over the containers, no recursion)."""
    stack: list[Any] = list(config.values())
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if isinstance(value, Reference):
            return True
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            stack.extend(item for item in value.values() if isinstance(item, (dict, list)))
        elif isinstance(value, list):
            stack.extend(item for item in value if isinstance(item, (dict, list)))
    return False


def _extends_of(job: Any) -> list[Any]:
    if not isinstance(job, dict) or "extends" not in job:
        return []
    direct = job["extends"]
    return direct if isinstance(direct, list) else [direct]


def _ancestry(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each job's extends ancestors defined in `config`, highest precedence first (the order in
    which `Extendable` deep-merges them: later parents over earlier ones, each parent's own
    ancestors below it), each once; memoised, so fan-out and diamonds stay linear."""
    ancestry = _Ancestry(config)
    return {name: ancestry.visit(name, ()) for name, value in config.items() if _is_job(name, value)}


class _Ancestry:
    """The memo of `_ancestry` (an object, not a recursive closure: a closure that calls itself is
    a reference cycle that would keep the whole configuration alive until the cyclic collector
    runs, which `limits.paused_gc` holds)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.memo: dict[str, tuple[str, ...]] = {}

    def visit(self, name: str, path: tuple[str, ...]) -> tuple[str, ...]:
        if name in self.memo:
            return self.memo[name]
        order: list[str] = []
        seen = {name}
        complete = True
        for parent in reversed(_extends_of(self.config.get(name))):
            if not isinstance(parent, str) or not _is_job(parent, self.config.get(parent)) or parent in seen:
                continue
            if parent in path or len(path) > MAX_EXTENDS_LEVELS:
                complete = False  # a circle or too deep: GitLab rejects it (reported by _extend_all)
                continue
            for member in (parent, *self.visit(parent, (*path, name))):
                if member not in seen:
                    seen.add(member)
                    order.append(member)
        result = tuple(order)
        if complete:
            self.memo[name] = result
        return result


def _is_job(name: str, value: Any) -> bool:
    return name not in GLOBAL_KEYWORDS and isinstance(value, dict) and not isinstance(value, Reference)


def _extend_all(config: dict[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
    extender = _Extender(config, problems)
    result = {}
    for key in config:
        try:
            result[key] = extender.extend(key, ()) if _is_job(key, config[key]) else config[key]
        except ResolveError as error:
            problems.append((key, str(error)))
            result[key] = config[key]
    return result


class _Extender:
    """`extends` resolution with each job merged once (an object, not a recursive closure: see
    `_Ancestry`).

    GitLab (`config/extendable/entry.rb`) has no memo: every entry reached through `extends` carries
    its ancestors and raises `NestingTooDeepError` when an entry that itself extends has more than
    `MAX_NESTING_LEVELS` of them; the merged value it writes back keeps `extends`, so a parent is
    extended (and checked) again on every path that reaches it. The depth is therefore a property
    of the chain, not of the order the jobs appear in: with each job merged once, the memo keeps the
    job's *reach* (how many levels below it the deepest entry that still extends sits) and checks
    `len(path) + reach` on every hit, which is the same verdict in one pass."""

    def __init__(self, config: dict[str, Any], problems: list[tuple[str, str]]) -> None:
        self.config = config
        self.problems = problems
        self.done: dict[str, Any] = {}
        self.reach: dict[str, int] = {}  # extensible job -> deepest extensible level below it (0: itself)

    def extend(self, name: str, path: tuple[str, ...]) -> Any:
        if name in self.done:
            if len(path) + self.reach.get(name, -1) > MAX_EXTENDS_LEVELS:
                raise ResolveError(f"nesting too deep in `extends` of {name}")
            return self.done[name]
        value = self.config.get(name)
        if not isinstance(value, dict) or "extends" not in value:
            self.done[name] = value
            return value
        if name in path:
            raise ResolveError(f"circular dependency detected in `extends` of {name}")
        if len(path) > MAX_EXTENDS_LEVELS:
            raise ResolveError(f"nesting too deep in `extends` of {name}")
        base: Any = {}
        reach = 0
        for parent in _extends_of(value):
            if not isinstance(parent, str) or not isinstance(self.config.get(parent), dict):
                self.problems.append((name, f"job {name} extends {parent!s}, which this file and its includes "
                                            "do not define"))
                continue
            base = deep_merge(base, self.extend(parent, (*path, name)))
            reach = max(reach, self.reach.get(parent, -1) + 1)
        self.done[name] = deep_merge(base, value)
        self.reach[name] = reach
        return self.done[name]


class _References:
    """`!reference` resolution over the extended configuration (tags/resolver.rb).

    Values are resolved once each (by identity) and a value that holds no `!reference` is returned
    as it is, so aliases and `extends` fan-out never multiply the work; a resolved reference path is
    memoised with the nesting depth it needed."""

    def __init__(self, config: dict[str, Any], problems: list[tuple[str, str]]) -> None:
        self.config = config
        self.problems = problems
        self.active: list[tuple[str, ...]] = []
        self.owner = ""
        self.values: dict[int, tuple[Any, Any, int]] = {}  # id -> (value kept alive, result, depth)
        self.paths: dict[tuple[str, ...], tuple[Any, int]] = {}
        self.needed = 0  # nesting depth the value being resolved needed below the current level

    def deep(self, value: Any) -> Any:
        if not isinstance(value, (dict, list)):
            return value
        known = self.values.get(id(value))
        if known is not None and len(self.active) + known[2] <= MAX_REFERENCE_DEPTH:
            self.needed = max(self.needed, known[2])
            return known[1]
        outer, self.needed = self.needed, 0
        count = len(self.problems)
        if isinstance(value, Reference):
            result = self.reference(value)
        elif isinstance(value, dict):
            items = {key: self.deep(item) if isinstance(item, (dict, list)) else item for key, item in value.items()}
            result = value if all(items[key] is item for key, item in value.items()) else items
        else:
            parts = [self.deep(item) if isinstance(item, (dict, list)) else item for item in value]
            result = value if all(new is old for new, old in zip(parts, value, strict=True)) else parts
        if len(self.problems) == count:
            self.values[id(value)] = (value, result, self.needed)
        self.needed = max(outer, self.needed)
        return result

    def reference(self, tag: Reference) -> Any:
        path = tuple(str(part) for part in tag)
        known = self.paths.get(path)
        if known is not None and len(self.active) + known[1] <= MAX_REFERENCE_DEPTH:
            self.needed = max(self.needed, known[1])
            return known[0]
        if path in self.active:
            self.problems.append((self.owner, f"!reference {list(path)} is part of a circular chain"))
            return None
        if len(self.active) >= MAX_REFERENCE_DEPTH:
            self.problems.append((self.owner, f"!reference {list(path)} nested deeper than "
                                              f"{MAX_REFERENCE_DEPTH} levels"))
            return None
        node: Any = self.config
        for part in path:
            node = node.get(part) if isinstance(node, dict) and not isinstance(node, Reference) else None
        if node is None:
            self.problems.append((self.owner, f"!reference {list(path)} could not be found"))
            return None
        self.active.append(path)
        count = len(self.problems)
        try:
            result = self.deep(node)
        finally:
            self.active.pop()
        self.needed += 1
        if len(self.problems) == count:
            self.paths[path] = (result, self.needed)
        return result


class _Finisher:
    """Defaults, inherited variables and flattened scripts (config/entry/job.rb, default.rb),
    each computed once and shared between the jobs that get the same value."""

    def __init__(self, config: Mapping[str, Any], problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.defaults = _defaults(config)
        for keyword in SCRIPT_KEYWORDS:
            if keyword in self.defaults:
                self.defaults[keyword] = flatten(self.defaults[keyword])
        self.global_vars: dict[Any, Any] = _mapping(config.get("variables"))
        self.flat: dict[int, tuple[Any, list[Any]]] = {}

    def inherited(self, setting: Any) -> dict[Any, Any]:
        if isinstance(setting, list):
            return {key: value for key, value in self.global_vars.items() if str(key) in setting}
        return self.global_vars if setting is not False else {}

    def flatten(self, name: str, keyword: str, value: Any) -> list[Any]:
        known = self.flat.get(id(value))
        if known is None:
            known = (value, flatten(value))
            self.flat[id(value)] = known
            if _nesting(value) > MAX_SCRIPT_NESTING + 1:  # the script's own list and 10 nested ones
                self.problems.append((name, f"`{keyword}` of {name} is nested deeper than {MAX_SCRIPT_NESTING} "
                                            "levels, which GitLab rejects"))
        return known[1]

    def finish(self, name: str, job: dict[str, Any]) -> dict[str, Any]:
        result = dict(job)
        inherit: dict[Any, Any] = _mapping(job.get("inherit"))
        for keyword in DEFAULT_KEYWORDS:
            if keyword not in result and keyword in self.defaults \
                    and _inherits(inherit.get("default", True), keyword):
                result[keyword] = self.defaults[keyword]
        own_vars: dict[Any, Any] = _mapping(result.get("variables"))
        inherited = self.inherited(inherit.get("variables", True))
        if inherited and own_vars:
            result["variables"] = {**inherited, **own_vars}
        elif inherited or own_vars:
            result["variables"] = inherited or own_vars
        for keyword in SCRIPT_KEYWORDS:
            if keyword in result:
                result[keyword] = self.flatten(name, keyword, result[keyword])
        return result


def _defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    default: dict[Any, Any] = _mapping(config.get("default"))
    values = {key: config[key] for key in LEGACY_TOP if key in config}
    values.update({key: value for key, value in default.items() if key in DEFAULT_KEYWORDS})
    return values


def _inherits(setting: Any, keyword: str) -> bool:
    if isinstance(setting, list):
        return keyword in setting
    return setting is not False


def flatten(value: Any, depth: int = 0) -> list[str]:
    """A script value as GitLab runs it: a string, or arrays nested up to 10 levels, as lines."""
    if value is None:
        return []
    if isinstance(value, list):
        if depth > MAX_REFERENCE_DEPTH:
            return []
        return [line for item in value for line in flatten(item, depth + 1)]
    return [value if isinstance(value, str) else str(value)]  # a Located string keeps its place


def _nesting(value: Any) -> int:
    """How deep lists nest in a script value (iterative: a hostile file cannot blow the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list):
            if level + 1 > deepest:
                deepest = level + 1
            if deepest > MAX_SCRIPT_NESTING + 1:
                return deepest  # enough to refuse
            stack.extend((child, level + 1) for child in item if isinstance(child, list))
    return deepest


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) and not isinstance(value, list) else {}
