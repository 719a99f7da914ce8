"""A GitLab-aware view of a CI file as PyYAML *nodes*, which keep their positions in the text.

We compose (never construct-and-dump) so every value keeps its start/end marks and edits can be
spliced into the original text. Composing also keeps aliases as shared nodes, which is what we
want: an anchored auth block is edited once, in the anchor. On top of the node tree this module
knows GitLab's structure: the `spec:` header document, `<<:` merges, `!reference [job, key...]`,
hidden jobs, `extends` chains and `default:` / deprecated top-level keywords.

libyaml (CSafeLoader) is used when available because GitLab parses with libyaml too and the pure
Python scanner rejects some files GitLab accepts (a tab after a plain scalar).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import yaml

from migrate.ci import limits

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_TAG = "tag:yaml.org,2002:merge"
REFERENCE_TAG = "!reference"
MAX_EXTENDS = 11  # GitLab's limit on extends depth
MAX_REFERENCE_DEPTH = 10  # GitLab's nesting limit for !reference

# Top-level keys that are not jobs (https://docs.gitlab.com/ci/yaml/#global-keywords).
GLOBAL_KEYWORDS = frozenset({
    "image", "services", "stages", "types", "before_script", "after_script", "variables", "cache",
    "include", "workflow", "default", "spec", "$schema", "pages:deploy",
})
DEFAULTABLE = frozenset({"before_script", "after_script", "image", "services", "cache", "id_tokens",
                         "identity", "artifacts", "tags", "retry", "timeout", "interruptible", "hooks"})


class Reference(list):  # type: ignore[type-arg,unused-ignore]
    """Constructed value of a `!reference [job, key, ...]` tag."""


class GitLabLoader(_BASE):  # type: ignore[misc,unused-ignore]
    """Safe loader: `!reference` as a list, dates and `=` kept as strings (JSON-shaped data)."""


GitLabLoader.yaml_implicit_resolvers = {
    first: [rule for rule in rules if rule[0] not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")]
    for first, rules in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GitLabLoader.add_constructor(
    REFERENCE_TAG, lambda loader, node: Reference(loader.construct_sequence(node, deep=True)))


def compose(text: str, measure: bool = True) -> list[yaml.Node]:
    """Every document of `text` as a node tree (raises yaml.YAMLError, limits.InputRefused).

    `measure=False` skips the alias-expansion guard, for text we produced by splicing plain lines
    into a file that already passed it."""
    try:
        roots = [node for node in yaml.compose_all(text, Loader=GitLabLoader) if node is not None]
    except RecursionError:
        raise limits.InputRefused(f"YAML nesting deeper than {limits.MAX_DEPTH} levels") from None
    if measure:
        limits.check_graph(roots)
    return roots


def construct_nodes(roots: list[yaml.Node]) -> list[Any]:
    """Plain data of composed documents, without parsing the text again."""
    loader = GitLabLoader("")
    try:
        return [loader.construct_document(root) for root in roots]
    finally:
        loader.dispose()


def construct(text: str) -> list[Any]:
    """Plain data of every document (call only after compose() accepted the text)."""
    return list(yaml.load_all(text, Loader=GitLabLoader))


def scalar(node: yaml.Node | None) -> str | None:
    """The string value of a scalar node, None for anything else."""
    return node.value if isinstance(node, yaml.ScalarNode) else None


def is_null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"))


def items(node: yaml.Node | None, depth: int = 0) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of a mapping, `<<:` merges flattened; explicit keys win."""
    if not isinstance(node, yaml.MappingNode) or depth > 20:
        return []
    own: list[tuple[str, yaml.Node, yaml.Node]] = []
    merged: list[tuple[str, yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if key.tag == MERGE_TAG or (isinstance(key, yaml.ScalarNode) and key.value == "<<" and key.style is None):
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                merged.extend(items(source, depth + 1))
        elif isinstance(key, yaml.ScalarNode):
            own.append((key.value, key, value))
    names = {name for name, _, _ in own}
    result, seen = list(own), set(names)
    for name, key, value in merged:
        if name not in seen:
            seen.add(name)
            result.append((name, key, value))
    return result


def get(node: yaml.Node | None, name: str) -> yaml.Node | None:
    for key, _, value in items(node):
        if key == name:
            return value
    return None


def own_key(node: yaml.Node | None, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) when `name` is written in this mapping itself (not merged in)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == name and key.tag != MERGE_TAG:
                return key, value
    return None


def strings(node: yaml.Node | None) -> list[str]:
    """A scalar or a sequence of scalars as a list of strings (extends, file lists)."""
    if isinstance(node, yaml.ScalarNode):
        return [] if is_null(node) else [node.value]
    if isinstance(node, yaml.SequenceNode):
        return [item.value for item in node.value if isinstance(item, yaml.ScalarNode)]
    return []


@dataclasses.dataclass
class Pipeline:
    """The job-holding documents of a CI file, with GitLab's lookup rules."""

    roots: list[yaml.Node]  # every document's root node
    top: list[tuple[str, yaml.Node, yaml.Node]]  # merged top-level (key, key node, value node)
    index: dict[str, tuple[str, yaml.Node, yaml.Node]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # lookups by name are constant time: a 1 MiB file can hold thousands of jobs
        self.index = {entry[0]: entry for entry in self.top}

    @classmethod
    def from_roots(cls, roots: list[yaml.Node]) -> Pipeline:
        mappings = [root for root in roots if isinstance(root, yaml.MappingNode)]
        if len(mappings) > 1 and [key for key, _, _ in items(mappings[0])] == ["spec"]:
            mappings = mappings[1:]
        top: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
        for mapping in mappings:
            for entry in items(mapping):
                top[entry[0]] = entry
        return cls(roots, list(top.values()))

    @property
    def root(self) -> yaml.Node | None:
        """The mapping that holds the jobs (the last mapping document)."""
        mappings = [root for root in self.roots if isinstance(root, yaml.MappingNode)]
        return mappings[-1] if mappings else None

    def value(self, name: str) -> yaml.Node | None:
        entry = self.index.get(name)
        return entry[2] if entry is not None else None

    def job_names(self) -> list[str]:
        """Every top-level key that is a job, hidden (`.x`) ones included."""
        return [key for key, _, value in self.top
                if key not in GLOBAL_KEYWORDS and isinstance(value, yaml.MappingNode)]

    def job(self, name: str) -> yaml.Node | None:
        node = self.value(name)
        return node if name not in GLOBAL_KEYWORDS and isinstance(node, yaml.MappingNode) else None

    def key_node(self, name: str) -> yaml.Node | None:
        entry = self.index.get(name)
        return entry[1] if entry is not None else None

    def chain(self, name: str) -> list[str]:
        """`name` and its extends ancestors, nearest (highest precedence) first, within this file."""
        order: list[str] = []

        def visit(job: str, depth: int) -> None:
            if depth > MAX_EXTENDS or job in order:
                return
            order.append(job)
            for parent in reversed(strings(get(self.job(job), "extends"))):
                if self.job(parent) is not None:
                    visit(parent, depth + 1)
        visit(name, 0)
        return order

    def lookup(self, name: str, keyword: str) -> tuple[yaml.Node, str] | None:
        """The value a job gets for `keyword` from itself or its extends chain, and who owns it."""
        for owner in self.chain(name):
            node = get(self.job(owner), keyword)
            if node is not None:
                return node, owner
        return None

    def inherits_default(self, name: str, keyword: str) -> bool:
        found = self.lookup(name, "inherit")
        setting: Any = True
        if found is not None:
            default = get(found[0], "default")
            if isinstance(default, yaml.ScalarNode):
                setting = default.value not in ("false", "False", "FALSE")
            elif isinstance(default, yaml.SequenceNode):
                setting = keyword in strings(default)
        return bool(setting)

    def default_value(self, keyword: str) -> tuple[yaml.Node, str] | None:
        """`default:keyword`, else the deprecated top-level keyword; owner 'default' or '(top)'."""
        default = self.value("default")
        node = get(default, keyword)
        if node is not None:
            return node, "default"
        if keyword in ("before_script", "after_script", "image", "services"):
            node = self.value(keyword)
            if node is not None:
                return node, "(top)"
        return None

    def effective(self, name: str, keyword: str) -> tuple[yaml.Node, str] | None:
        """A job's value for `keyword`: own/extends first, then the inherited default."""
        found = self.lookup(name, keyword)
        if found is not None:
            return found
        if keyword in DEFAULTABLE and self.inherits_default(name, keyword):
            return self.default_value(keyword)
        return None

    def reference(self, path: list[str]) -> yaml.Node | None:
        """Follow a `!reference [job, key, ...]` path (through extends for the first key)."""
        if not path:
            return None
        node: yaml.Node | None
        if len(path) >= 2 and self.job(path[0]) is not None:
            found = self.lookup(path[0], path[1])
            node = found[0] if found else None
            rest = path[2:]
        else:
            node = self.value(path[0])
            rest = path[1:]
        for part in rest:
            node = get(node, part)
        return node


def walk(node: yaml.Node, seen: set[int] | None = None) -> Iterator[yaml.Node]:
    """Every node reachable from `node`, each once (aliases are shared nodes)."""
    seen = set() if seen is None else seen
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))
        elif isinstance(current, yaml.MappingNode):
            for key, value in reversed(current.value):
                stack.extend((value, key))
