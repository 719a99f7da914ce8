"""A GitLab-aware view of a CI file as PyYAML *nodes*, which keep their positions in the text.

We compose (never construct-and-dump) so every value keeps its start/end marks and edits can be
spliced into the original text. Composing also keeps aliases as shared nodes, which is what we
want: an anchored auth block is edited once, in the anchor. On top of the node tree this module
knows GitLab's structure: the `spec:` header document, `<<:` merges, `!reference [job, key...]` and
hidden jobs. Constructed data keeps positions too (`Located` strings), so the one job resolver
(`migrate.ci.effective`, extends / !reference / default: as GitLab applies them) serves detection,
rewrite and the self-check alike.

libyaml (CSafeLoader) is used when available because GitLab parses with libyaml too and the pure
Python scanner rejects some files GitLab accepts (a tab after a plain scalar).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import yaml

from migrate.ci import limits

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_TAG = "tag:yaml.org,2002:merge"
REFERENCE_TAG = "!reference"
MAX_REFERENCE_DEPTH = 10  # GitLab's nesting limit for !reference

# Top-level keys that are not jobs (https://docs.gitlab.com/ci/yaml/#global-keywords).
GLOBAL_KEYWORDS = frozenset({
    "image", "services", "stages", "types", "before_script", "after_script", "variables", "cache",
    "include", "workflow", "default", "spec", "$schema", "pages:deploy",
})


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


class Located(str):
    """A string scalar that remembers its node, so resolved data still knows where it is written.

    Equal to (and hashed as) the plain string, so resolution, comparison and the schema treat it as
    one; `item` says it is an element of a block sequence (`- echo x`), which decides how it may be
    edited (`migrate.ci.units`)."""

    node: yaml.ScalarNode
    item: bool = False  # set on the instance only when True (a quarter million strings in a 1 MiB file)

    def __new__(cls, value: str, node: yaml.ScalarNode) -> Located:
        located = super().__new__(cls, value)
        located.node = node
        return located

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return str, (str(self),)  # pickled or copied, it is the plain string


class PositionLoader(GitLabLoader):  # type: ignore[misc,unused-ignore]
    """GitLabLoader whose string scalars are `Located` (construct only, from composed nodes)."""


def _located_str(loader: PositionLoader, node: yaml.ScalarNode) -> Located:
    return Located(loader.construct_scalar(node), node)


def _located_seq(loader: PositionLoader, node: yaml.SequenceNode) -> Iterator[list[Any]]:
    data: list[Any] = []
    yield data
    values = loader.construct_sequence(node)
    data.extend(values)
    if not node.flow_style:
        for child, value in zip(node.value, values, strict=True):
            if isinstance(value, Located) and value.node is child:
                value.item = True


PositionLoader.add_constructor("tag:yaml.org,2002:str", _located_str)
PositionLoader.add_constructor("tag:yaml.org,2002:seq", _located_seq)


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
    """Data of composed documents (strings `Located`), without parsing the text again.

    Plain strings, lists and mappings (nearly every node of a CI file) are built directly; every
    other node (`!reference`, `<<:` merges, numbers, booleans, unknown tags) goes to PyYAML's own
    constructor, which shares the memo, so aliases stay shared objects and the result is exactly
    `PositionLoader.construct_document`'s (tests/ci/test_ci_construct.py). PyYAML's generic
    per-node machinery was a sixth of a 1 MiB rewrite."""
    loader = PositionLoader("")
    try:
        documents = []
        for root in roots:
            try:
                documents.append(_Builder(loader).build(root))
            except RecursionError:  # nesting beyond the stack: PyYAML's iterative construction
                loader.constructed_objects, loader.recursive_objects = {}, {}
                loader.state_generators, loader.deep_construct = [], False
                documents.append(loader.construct_document(root))
        return documents
    finally:
        loader.dispose()


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_PLAIN_KEY_TAGS = frozenset({_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
                             "tag:yaml.org,2002:float"})


class _Builder:
    """One document's construction (see `construct_nodes`); the loader's memo is the memo."""

    def __init__(self, loader: PositionLoader) -> None:
        self.loader = loader
        self.memo: dict[yaml.Node, Any] = loader.constructed_objects
        loader.constructed_objects = self.memo

    def build(self, root: yaml.Node) -> Any:
        try:
            return self.value(root)
        finally:
            self.loader.constructed_objects, self.loader.recursive_objects = {}, {}
            self.loader.state_generators, self.loader.deep_construct = [], False

    def value(self, node: yaml.Node) -> Any:
        known = self.memo.get(node, self)
        if known is not self:
            return known
        tag = node.tag
        if isinstance(node, yaml.ScalarNode) and tag == _STR:
            result: Any = Located(node.value, node)
            self.memo[node] = result
            return result
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
            items: list[Any] = []
            self.memo[node] = items
            items.extend(self.value(child) for child in node.value)
            if not node.flow_style:
                for child, item in zip(node.value, items, strict=True):
                    if isinstance(item, Located) and item.node is child:
                        item.item = True
            return items
        if isinstance(node, yaml.SequenceNode) and tag == REFERENCE_TAG:
            # GitLabLoader's `!reference` constructor: Reference(construct_sequence(node, deep=True))
            reference = Reference(self.value(child) for child in node.value)
            self.memo[node] = reference
            return reference
        if isinstance(node, yaml.MappingNode) and tag == _MAP \
                and all(isinstance(key, yaml.ScalarNode) and key.tag in _PLAIN_KEY_TAGS for key, _ in node.value):
            mapping: dict[Any, Any] = {}
            self.memo[node] = mapping
            for key, value in node.value:
                mapping[self.value(key)] = self.value(value)
            return mapping
        return self.loader.construct_object(node, deep=True)  # PyYAML decides (and raises) as it always did


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
class FileNodes:
    """Where a CI file writes its jobs (nodes with positions, for splicing edits), next to how the
    one resolver (`migrate.ci.effective`) resolves them. It does no resolution of its own: `chain`
    and `inherits_default` are the resolver's answers."""

    roots: list[yaml.Node]  # every document's root node
    top: list[tuple[str, yaml.Node, yaml.Node]]  # merged top-level (key, key node, value node)
    resolved: Any = None  # effective.Resolved of this file alone
    index: dict[str, tuple[str, yaml.Node, yaml.Node]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # lookups by name are constant time: a 1 MiB file can hold thousands of jobs
        self.index = {entry[0]: entry for entry in self.top}

    @classmethod
    def from_roots(cls, roots: list[yaml.Node], resolved: Any = None) -> FileNodes:
        mappings = [root for root in roots if isinstance(root, yaml.MappingNode)]
        if len(mappings) > 1 and [key for key, _, _ in items(mappings[0])] == ["spec"]:
            mappings = mappings[1:]
        top: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
        for mapping in mappings:
            for entry in items(mapping):
                top[entry[0]] = entry
        return cls(roots, list(top.values()), resolved)

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

    @functools.cached_property
    def nodes(self) -> list[yaml.Node]:
        """Every node of every document, each once (aliases are shared nodes): one walk that the
        scans over the whole file (token names, assigned variables, stray authentication) share."""
        seen: set[int] = set()
        return [node for root in self.roots for node in walk(root, seen)]

    def chain(self, name: str) -> tuple[str, ...]:
        """`name` and its extends ancestors, nearest (highest precedence) first, within this file."""
        return tuple(self.resolved.chain(name)) if self.resolved is not None else (name,)

    def inherits_default(self, name: str, keyword: str) -> bool:
        """Whether the job takes `default:keyword` (its effective `inherit:default`)."""
        return bool(self.resolved.inherits(name, "default", keyword)) if self.resolved is not None else True


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
