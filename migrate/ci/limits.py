"""Refuse inputs that are not plausible CI files before any YAML work, in bounded time and memory.

A CI file comes from a repository anyone with push rights can edit, so the loader must survive
hostile input: huge files, binary blobs, alias "billion laughs" bombs and absurd nesting. PyYAML's
composer keeps aliases as shared nodes (no expansion), so composing is safe; everything that
*expands* aliases (our own walks, constructing data for the schema) is guarded by the node-graph
measurements here.
"""

from __future__ import annotations

import yaml

MAX_BYTES = 1024 * 1024  # 1 MiB: GitLab's own limit for a CI config is 1 MB by default
MAX_EXPANDED_NODES = 200_000  # nodes after alias expansion; real files have a few thousand
MAX_DEPTH = 64  # nesting of mappings/sequences; real files rarely exceed 10
# top-level keys (jobs) of one file: every job is resolved, analyzed and compared, so this bounds the
# cost; GitLab.com itself caps a pipeline at a few hundred to a few thousand jobs by plan
# (https://docs.gitlab.com/ee/administration/instance_limits.html#number-of-jobs-in-a-pipeline)
MAX_JOBS = 3000


class InputRefused(Exception):
    """The input is not a CI file we are willing to parse; the message says why."""


def check_text(text: str) -> None:
    """Raise InputRefused for oversized or binary-looking text."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InputRefused(f"file is larger than {MAX_BYTES} bytes; refusing to parse it")
    if "\x00" in text:
        raise InputRefused("file contains NUL bytes: binary content, not a CI file")
    controls = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if controls > 8:
        raise InputRefused("file contains control characters: binary content, not a CI file")


def check_bytes(data: bytes) -> str:
    """Decode file bytes as UTF-8 text (BOM dropped) or raise InputRefused."""
    if len(data) > MAX_BYTES:
        raise InputRefused(f"file is larger than {MAX_BYTES} bytes; refusing to parse it")
    if b"\x00" in data:
        raise InputRefused("file contains NUL bytes: binary content, not a CI file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputRefused(f"file is not UTF-8 text (byte {error.start}): binary content?") from None
    check_text(text)
    return text


def check_graph(roots: list[yaml.Node]) -> None:
    """Raise InputRefused when the node graph is too deep or expands (through aliases) too far."""
    for root in roots:
        if isinstance(root, yaml.MappingNode) and len(root.value) > MAX_JOBS:
            raise InputRefused(f"file defines more than {MAX_JOBS} top-level keys (jobs); refusing to analyze it")
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    total = 0
    for root in roots:
        total += _measure(root, sizes, depths)
        if total > MAX_EXPANDED_NODES:
            raise InputRefused(
                f"YAML expands to more than {MAX_EXPANDED_NODES} nodes through aliases (alias bomb?)")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _measure(root: yaml.Node, sizes: dict[int, int], depths: dict[int, int]) -> int:
    """Expanded size of `root` (memoised per node, iterative so deep input cannot blow the stack)."""
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 0)]
    on_path: set[int] = set()
    while stack:
        node, done, level = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            size = 1 + sum(sizes[id(kid)] for kid in kids)
            sizes[key] = min(size, MAX_EXPANDED_NODES + 1)
            depths[key] = 1 + max((depths[id(kid)] for kid in kids), default=0)
            if depths[key] > MAX_DEPTH:
                raise InputRefused(f"YAML nesting deeper than {MAX_DEPTH} levels; refusing to walk it")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise InputRefused("YAML node graph is recursive")
        if level > MAX_DEPTH:
            raise InputRefused(f"YAML nesting deeper than {MAX_DEPTH} levels; refusing to walk it")
        on_path.add(key)
        stack.append((node, True, level))
        for kid in _children(node):
            if id(kid) not in sizes:
                stack.append((kid, False, level + 1))
    return sizes[id(root)]
