"""Refuse inputs that are not plausible CI files before any YAML work, in bounded time and memory.

A CI file comes from a repository anyone with push rights can edit, so the loader must survive
hostile input: huge files, binary blobs, alias "billion laughs" bombs and absurd nesting. PyYAML's
composer keeps aliases as shared nodes (no expansion), so composing is safe; everything that
*expands* aliases (our own walks, constructing data for the schema) is guarded by the node-graph
measurements here.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

import yaml

MAX_BYTES = 1024 * 1024  # 1 MiB: GitLab's own limit for a CI config is 1 MB by default
MAX_EXPANDED_NODES = 150_000  # nodes after alias expansion; real files have a few thousand
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
            raise _too_many()
        if len(sizes) > MAX_EXPANDED_NODES:
            raise _too_many()


def _too_many() -> InputRefused:
    return InputRefused(f"YAML has or expands (through aliases) to more than {MAX_EXPANDED_NODES} nodes "
                        "(an alias bomb?)")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _measure(root: yaml.Node, sizes: dict[int, int], depths: dict[int, int]) -> int:
    """Expanded size of `root` (memoised per node, iterative so deep input cannot blow the stack).

    Stops as soon as the distinct nodes seen pass the limit (the expanded size is at least that),
    so a graph too big to accept costs no more than the limit to refuse."""
    if isinstance(root, yaml.ScalarNode):
        sizes.setdefault(id(root), 1)
        depths.setdefault(id(root), 1)
        return 1
    stack: list[tuple[yaml.Node, list[yaml.Node] | None, int]] = [(root, None, 0)]
    on_path: set[int] = set()
    while stack:
        node, kids, level = stack.pop()
        key = id(node)
        if kids is not None:  # all children measured
            on_path.discard(key)
            size, depth = 1, 0
            for kid in kids:
                size += sizes[id(kid)]
                kid_depth = depths[id(kid)]
                if kid_depth > depth:
                    depth = kid_depth
            sizes[key] = min(size, MAX_EXPANDED_NODES + 1)
            depths[key] = depth + 1
            if depth + 1 > MAX_DEPTH:
                raise InputRefused(f"YAML nesting deeper than {MAX_DEPTH} levels; refusing to walk it")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise InputRefused("YAML node graph is recursive")
        if level > MAX_DEPTH:
            raise InputRefused(f"YAML nesting deeper than {MAX_DEPTH} levels; refusing to walk it")
        if len(sizes) + len(stack) > 2 * MAX_EXPANDED_NODES:
            raise _too_many()
        children = _children(node)
        on_path.add(key)
        stack.append((node, children, level))
        for kid in children:
            kid_key = id(kid)
            if kid_key in sizes:
                continue
            if isinstance(kid, yaml.ScalarNode):
                sizes[kid_key] = 1
                depths[kid_key] = 1
            else:
                stack.append((kid, None, level + 1))
        if len(sizes) > MAX_EXPANDED_NODES:
            raise _too_many()
    return sizes[id(root)]


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector while one file is analyzed or rewritten.

    Composing a 1 MiB file creates a few hundred thousand container objects at once, and CPython's
    generational collector then re-scans them again and again (a quarter of the CPU time of the
    worst cases). Nothing here builds reference cycles (recursive YAML is refused by
    `check_graph`), so reference counting frees everything; the collector resumes afterwards. A
    counter makes it safe for concurrent and nested callers: the last one out re-enables it, and
    only if it was enabled before the first one came in."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()
