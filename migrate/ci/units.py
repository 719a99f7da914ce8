"""Script values as editable *units*: the pieces of text a job runs, with their place in the file.

A unit is one shell command line and knows how it is written, which decides how it may be edited:

- `item`: a plain or quoted scalar that is an element of a block sequence (`- echo x`); it can be
  replaced by any number of new `- ...` items at the same indentation;
- `scalar`: a scalar that is the whole value (`script: echo x`); it can only be changed in place;
- `block_line`: one logical line of a literal block scalar (`- |`); it can be replaced by any
  number of lines at the same indentation;
- `opaque`: anything else (folded `>` blocks, flow sequences); never edited.

The units of a job come from its effective script (`migrate.ci.effective`, the one job resolver):
each resolved line still knows where it is written, so an anchored or referenced block is one unit
wherever it is used, and is edited once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import yaml

from migrate.ci.yamlnodes import Located

UnitKind = Literal["item", "scalar", "block_line", "opaque"]
_ITEM_PREFIX = re.compile(r"^\s*-\s+$")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One command line of a script and where it is written (lines 0-based, inclusive)."""

    kind: UnitKind
    text: str
    first: int
    last: int
    prefix: str = ""  # item: the text before the scalar (`    - `); block_line: the indentation
    comment: str = ""  # item: a trailing `# comment` on its last line
    start_col: int = 0  # scalar: column of the value on its first line
    end_col: int = 0  # scalar: column after the value on its last line

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.first, self.last, self.text)


MAX_SCRIPT_UNITS = 60_000  # command lines over all jobs after extends/!reference/anchors (bounded cost)


class Budget:
    """Bounds the work of one walk (aliases, extends and !reference can make a small file expand
    enormously: 20,000 jobs extending one 400-line template are 8 million commands)."""

    def __init__(self, units: int = MAX_SCRIPT_UNITS) -> None:
        self.units_left = units

    def unit(self) -> bool:
        self.units_left -= 1
        return self.units_left >= 0

    @property
    def exhausted(self) -> bool:
        return self.units_left < 0


def line_units(values: Iterable[Any], lines: list[str], budget: Budget) -> list[Unit]:
    """Units of a script as the resolver flattened it (`migrate.ci.effective`: extends, `default:`,
    `!reference` and anchors already applied). Each line is a `Located` string that knows the
    scalar it is written in, so a line shared through an anchor or a `!reference` is the same unit
    in every job. Entries that are not strings carry no command (GitLab rejects them)."""
    units: list[Unit] = []
    for value in values:
        if not isinstance(value, Located) or value.node.tag == "tag:yaml.org,2002:null":
            continue
        if not budget.unit():
            break
        units.extend(_scalar_units(value.node, lines, in_sequence=value.item))
    return units


def _scalar_units(node: yaml.ScalarNode, lines: list[str], in_sequence: bool) -> Iterator[Unit]:
    first, last = node.start_mark.line, node.end_mark.line
    if node.style == "|":
        yield from _block_lines(node, lines)
        return
    if node.style == ">" or first >= len(lines):
        yield Unit("opaque", node.value, first, min(last, len(lines) - 1))
        return
    if not in_sequence:
        yield Unit("scalar", node.value, first, last, start_col=node.start_mark.column,
                   end_col=node.end_mark.column)
        return
    prefix = lines[first][:node.start_mark.column]
    rest = lines[last][node.end_mark.column:].rstrip("\r\n") if last < len(lines) else ""
    comment = rest.strip()
    if not _ITEM_PREFIX.match(prefix) or (comment and not comment.startswith("#")):
        yield Unit("opaque", node.value, first, last)
        return
    yield Unit("item", node.value, first, last, prefix=prefix, comment=comment)


def _block_lines(node: yaml.ScalarNode, lines: list[str]) -> Iterator[Unit]:
    """Logical lines of a literal block scalar (backslash continuations joined)."""
    start = node.start_mark.line + 1
    stop = node.end_mark.line if node.end_mark.column == 0 else node.end_mark.line + 1
    stop = min(stop, len(lines))
    index = start
    while index < stop:
        raw = lines[index].rstrip("\r\n")
        if not raw.strip() or raw.lstrip().startswith("#"):
            index += 1
            continue
        first = index
        text = raw.strip()
        while text.endswith("\\") and index + 1 < stop:
            index += 1
            text = text + "\n" + lines[index].rstrip("\r\n").strip()
        indent = raw[:len(raw) - len(raw.lstrip())]
        yield Unit("block_line", text, first, index, prefix=indent)
        index += 1
