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

import yaml

from migrate.ci import limits
from migrate.ci.yamlnodes import GLOBAL_KEYWORDS, MAX_REFERENCE_DEPTH, GitLabLoader, Reference

MAX_EXTENDS_LEVELS = 10  # Extendable::Entry::MAX_NESTING_LEVELS
# config/entry/default.rb ALLOWED_KEYS (plus id_tokens 16.4, hooks 16.7, identity 16.9)
DEFAULT_KEYWORDS = ("after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens", "identity",
                    "image", "interruptible", "retry", "services", "tags", "timeout")
LEGACY_TOP = ("before_script", "after_script", "image", "services", "cache")  # deprecated top-level forms
SCRIPT_KEYWORDS = ("before_script", "script", "after_script")


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The visible jobs of a pipeline, and why the resolution may be incomplete."""

    jobs: Mapping[str, Mapping[str, Any]]  # job name -> effective job (plain data)
    problems: tuple[str, ...]  # things GitLab would reject (circular extends or references)
    partial: Mapping[str, str] = dataclasses.field(default_factory=dict)  # job -> what we could not see
    globals: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # workflow, stages, variables, ...
    hidden: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)  # `.templates`, resolved


class ResolveError(Exception):
    pass


def load(text: str) -> dict[str, Any]:
    """The configuration mapping of a CI file (a leading `spec:` header document skipped)."""
    limits.check_text(text)
    return from_documents(list(yaml.load_all(text, Loader=GitLabLoader)))  # noqa: S506


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
    problems: list[tuple[str, str]] = []
    config: dict[str, Any] = {}
    for extra in included:
        config = deep_merge(config, {k: v for k, v in extra.items() if k != "include"})
    config = deep_merge(config, {k: v for k, v in main.items() if k != "include"})
    extended = _extend_all(config, problems)
    resolver = _References(extended, problems)
    resolved = {}
    for key, value in extended.items():
        resolver.owner = key
        resolved[key] = resolver.deep(value)
    jobs = {name: _finish(name, job, resolved) for name, job in resolved.items()
            if _is_job(name, job) and not name.startswith(".")}
    partial: dict[str, str] = {}
    for owner, message in problems:
        if owner in jobs or owner.startswith("."):
            partial.setdefault(owner, message)
    # a job that extends or references a template we could not see is partial too
    for name, job in config.items():
        if name in jobs and name not in partial:
            template = next((partial[parent] for parent in _parents(job, config) if parent in partial), None)
            if template:
                partial[name] = template
    fatal = tuple(dict.fromkeys(message for owner, message in problems if "circular" in message
                                or "too deep" in message or "deeper" in message))
    globals_ = {key: value for key, value in resolved.items()
                if key in GLOBAL_KEYWORDS and key not in ("default", "include", *LEGACY_TOP)}
    hidden = {name: _finish(name, job, resolved) for name, job in resolved.items()
              if _is_job(name, job) and name.startswith(".")}
    return Resolved(jobs, fatal, partial, globals_, hidden)


def _parents(job: Any, config: Mapping[str, Any], depth: int = 0) -> list[str]:
    """Every extends ancestor of a job (for propagating 'partial')."""
    if not isinstance(job, dict) or depth > MAX_EXTENDS_LEVELS:
        return []
    direct = job.get("extends")
    names = [name for name in (direct if isinstance(direct, list) else [direct]) if isinstance(name, str)]
    return names + [up for name in names for up in _parents(config.get(name), config, depth + 1)]


def _is_job(name: str, value: Any) -> bool:
    return name not in GLOBAL_KEYWORDS and isinstance(value, dict) and not isinstance(value, Reference)


def _extend_all(config: dict[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
    done: dict[str, Any] = {}

    def extend(name: str, path: tuple[str, ...]) -> Any:
        if name in done:
            return done[name]
        value = config.get(name)
        if not isinstance(value, dict) or "extends" not in value:
            done[name] = value
            return value
        if name in path:
            raise ResolveError(f"circular dependency detected in `extends` of {name}")
        if len(path) > MAX_EXTENDS_LEVELS:
            raise ResolveError(f"nesting too deep in `extends` of {name}")
        parents = value["extends"] if isinstance(value["extends"], list) else [value["extends"]]
        base: Any = {}
        for parent in parents:
            if not isinstance(parent, str) or not isinstance(config.get(parent), dict):
                problems.append((name, f"job {name} extends {parent!s}, which this file and its includes "
                                       "do not define"))
                continue
            base = deep_merge(base, extend(parent, (*path, name)))
        done[name] = deep_merge(base, value)
        return done[name]

    result = {}
    for key in config:
        try:
            result[key] = extend(key, ()) if _is_job(key, config[key]) else config[key]
        except ResolveError as error:
            problems.append((key, str(error)))
            result[key] = config[key]
    return result


class _References:
    """`!reference` resolution over the extended configuration (tags/resolver.rb)."""

    def __init__(self, config: dict[str, Any], problems: list[tuple[str, str]]) -> None:
        self.config = config
        self.problems = problems
        self.active: list[tuple[str, ...]] = []
        self.owner = ""

    def deep(self, value: Any) -> Any:
        if isinstance(value, Reference):
            return self.reference(value)
        if isinstance(value, dict):
            return {key: self.deep(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.deep(item) for item in value]
        return value

    def reference(self, tag: Reference) -> Any:
        path = tuple(str(part) for part in tag)
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
        try:
            return self.deep(node)
        finally:
            self.active.pop()


def _finish(name: str, job: dict[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, inherited variables and flattened scripts (config/entry/job.rb, default.rb)."""
    result = dict(job)
    inherit: dict[Any, Any] = _mapping(job.get("inherit"))
    defaults = _defaults(config)
    for keyword in DEFAULT_KEYWORDS:
        if keyword not in result and keyword in defaults and _inherits(inherit.get("default", True), keyword):
            result[keyword] = defaults[keyword]
    global_vars: dict[Any, Any] = _mapping(config.get("variables"))
    own_vars: dict[Any, Any] = _mapping(result.get("variables"))
    inherited = {key: value for key, value in global_vars.items()
                 if _inherits(inherit.get("variables", True), str(key))}
    if inherited or own_vars:
        result["variables"] = {**inherited, **own_vars}
    for keyword in SCRIPT_KEYWORDS:
        if keyword in result:
            result[keyword] = flatten(result[keyword])
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
    return [str(value)]


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) and not isinstance(value, list) else {}
