"""GitLab CI YAML as GitLab's config builder sees it: load, `extends`, `!reference`, validation.

Kept inside the sandbox on purpose: the emulator must not share the tool's own CI parser (a bug
in one would hide in the other). The order follows `Gitlab::Ci::Config#build_config`: load →
includes (lint.py) → `extends` (hashes deep-merged, arrays replaced, the `extends` key kept) →
`!reference` tags resolved (nested arrays in scripts flattened) → `.pre`/`.post` stages added.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

RESERVED = {"default", "include", "stages", "variables", "workflow", "spec", "image", "services",
            "cache", "before_script", "after_script", "types"}
JOB_KEYS = {"after_script", "allow_failure", "artifacts", "before_script", "cache", "coverage",
            "dast_configuration", "dependencies", "environment", "except", "extends", "hooks",
            "id_tokens", "identity", "image", "inherit", "interruptible", "manual_confirmation",
            "needs", "only", "pages", "parallel", "publish", "release", "resource_group", "retry",
            "rules", "run", "script", "secrets", "services", "stage", "start_in", "tags", "timeout",
            "trigger", "variables", "when"}
DEFAULT_STAGES = ["build", "test", "deploy"]


class ReferenceTag(list[Any]):
    """The value of a `!reference [job, key, ...]` tag."""


class CILoader(yaml.SafeLoader):
    """SafeLoader that accepts GitLab's only custom tag."""


CILoader.add_constructor("!reference",
                         lambda loader, node: ReferenceTag(loader.construct_sequence(node)))  # type: ignore[arg-type]


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


class CIConfigError(Exception):
    """A configuration error, with GitLab's wording."""


def load(text: str) -> Any:
    """Parse one CI file; a `spec:` header document is skipped (the config is the second one)."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=CILoader)]  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CIConfigError(f"Invalid configuration format: {_yaml_problem(exc)}") from None
    if len(docs) >= 2 and isinstance(docs[0], dict) and "spec" in docs[0]:
        return docs[1] if docs[1] is not None else {}
    return docs[0] if docs else {}


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"(<unknown>): {problem} at line {mark.line + 1} column {mark.column + 1}" if mark else problem


def dump(config: dict[str, Any]) -> str:
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Hashes merge recursively; anything else (arrays included) is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def job_names(config: dict[str, Any]) -> list[str]:
    return [k for k in config if isinstance(k, str) and k not in RESERVED and not k.startswith(".")]


def expand_extends(config: dict[str, Any]) -> dict[str, Any]:
    """Every mapping entry with `extends` gets its parents merged under it (the key stays)."""
    out = dict(config)
    done: dict[str, dict[str, Any]] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in done:
            return done[name]
        entry = config[name]
        if not isinstance(entry, dict) or "extends" not in entry:
            return entry if isinstance(entry, dict) else {}
        if len(chain) > 11:
            raise CIConfigError(f"{chain[0]}: nesting too deep in `extends`")
        parents = entry["extends"] if isinstance(entry["extends"], list) else [entry["extends"]]
        merged: dict[str, Any] = {}
        for parent in parents:
            if parent in chain:
                raise CIConfigError(f"{chain[0]}: circular dependency detected in `extends`")
            if parent not in config:
                raise CIConfigError(f"{name}: unknown keys in `extends` ({parent})")
            merged = deep_merge(merged, resolve(str(parent), (*chain, str(parent))))
        done[name] = deep_merge(merged, entry)
        return done[name]

    for key, entry in config.items():
        if isinstance(entry, dict) and "extends" in entry:
            out[key] = resolve(str(key), (str(key),))
    return out


def resolve_references(config: dict[str, Any]) -> dict[str, Any]:
    def lookup(ref: ReferenceTag, depth: int) -> Any:
        if depth > 10:
            raise CIConfigError(f"!reference {_show(ref)} is part of a circular chain")
        node: Any = config
        for part in ref:
            if not isinstance(node, dict) or part not in node:
                raise CIConfigError(f"!reference {_show(ref)} could not be found")
            node = node[part]
        return walk(node, depth + 1)

    def walk(node: Any, depth: int) -> Any:
        if isinstance(node, ReferenceTag):
            return lookup(node, depth)
        if isinstance(node, dict):
            return {k: walk(v, depth) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, depth) for v in node]
        return node

    resolved = walk(config, 0)
    for name in resolved:
        entry = resolved[name]
        if isinstance(entry, dict):
            for key in ("script", "before_script", "after_script"):
                if isinstance(entry.get(key), list):
                    entry[key] = _flatten(entry[key])
    return dict(resolved)


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _show(ref: list[Any]) -> str:
    return "[" + ", ".join(f'"{p}"' for p in ref) + "]"


# Keywords that exist only from some GitLab version (doc/ci/yaml/index.md "History" notes):
# `id_tokens` from 15.7 (jobs) and 16.4 (`default:`); before that GitLab refuses the key as unknown.
JOB_KEY_SINCE = {"id_tokens": (15, 7)}
DEFAULT_KEY_SINCE = {"id_tokens": (16, 4)}
DEFAULT_KEYS = {"after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens", "image",
                "interruptible", "retry", "services", "tags", "timeout"}


def version_tuple(version: str | None) -> tuple[int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)", version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def validate(config: dict[str, Any], version: str | None = None) -> list[str]:
    """GitLab's own checks that matter for a rewrite (not the whole of Gitlab::Ci::Config).
    `version` (the instance's) removes the keywords that instance does not know yet."""
    errors: list[str] = []
    v = version_tuple(version)
    job_keys = {k for k in JOB_KEYS if v is None or v >= JOB_KEY_SINCE.get(k, (0, 0))}
    default = config.get("default")
    if isinstance(default, dict) and v is not None:
        known = {k for k in DEFAULT_KEYS if v >= DEFAULT_KEY_SINCE.get(k, (0, 0))}
        unknown_default = sorted(set(map(str, default)) & (DEFAULT_KEYS - known))
        if unknown_default:
            errors.append(f"default config contains unknown keys: {', '.join(unknown_default)}")
    stages = config.get("stages") or DEFAULT_STAGES
    if not isinstance(stages, list):
        return ["stages config should be an array of strings"]
    available = [".pre", *[s for s in stages if s not in (".pre", ".post")], ".post"]
    names = job_names(config)
    if not names:
        errors.append("jobs config should contain at least one visible job")
    for name in names:
        job = config[name]
        if not isinstance(job, dict):
            errors.append(f"jobs:{name} config should be a hash")
            continue
        unknown = sorted(set(map(str, job)) - job_keys)
        if unknown:
            errors.append(f"jobs:{name} config contains unknown keys: {', '.join(unknown)}")
        if not any(k in job for k in ("script", "run", "trigger")):
            errors.append(f"jobs:{name} config should implement the script:, run:, or trigger: keyword")
        stage = job.get("stage", "test")
        if stage not in available:
            errors.append(f"{name} job: chosen stage {stage} does not exist; available stages are "
                          + ", ".join(available))
    return errors


def finish(config: dict[str, Any]) -> dict[str, Any]:
    """extends → !reference → stages with .pre/.post (a copy; the input is not modified)."""
    out = resolve_references(expand_extends(copy.deepcopy(config)))
    if isinstance(out.get("stages"), list):
        stages = [s for s in out["stages"] if s not in (".pre", ".post")]
        out["stages"] = [".pre", *stages, ".post"]
    return out
