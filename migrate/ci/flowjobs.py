"""A job written in flow style on one line (`deploy: {stage: deploy, script: [a, b]}`) is rewritten
in block style first, touching only that job's line (issue 21): an ID token can only be added to a
block mapping, and only block sequence items can become several commands.

The block form reuses the source text of every key and value as written (a scalar means the same
in flow and block context; nested flow values stay flow), except that the job's script sequences
become block items. Anchors, aliases, tags, multi-line values, a job not at column 0, or anything
after the closing brace but a comment: no conversion (the rewrite then says why it is manual).
"""

from __future__ import annotations

import yaml

from migrate.ci.yamlnodes import FileNodes

SCRIPTS = ("before_script", "script", "after_script")


def flow_jobs(pipe: FileNodes, names: set[str]) -> list[str]:
    """The named jobs that are flow mappings."""
    found = []
    for name in sorted(names):
        node = pipe.job(name)
        if isinstance(node, yaml.MappingNode) and node.flow_style:
            found.append(name)
    return found


def block_style(pipe: FileNodes, lines: list[str], names: list[str], newline: str) -> str | None:
    """The file with each named one-line flow job written in block style (None: cannot be done safely)."""
    replaced: dict[int, list[str]] = {}
    for name in names:
        key, node = pipe.key_node(name), pipe.job(name)
        if not isinstance(key, yaml.ScalarNode) or not isinstance(node, yaml.MappingNode):
            return None
        number = key.start_mark.line
        if key.start_mark.column != 0 or node.start_mark.line != number or node.end_mark.line != number:
            return None
        line = lines[number].rstrip("\r\n")
        rest = line[node.end_mark.column:].strip()
        if rest and not rest.startswith("#"):
            return None
        if not _plain_text(line[node.start_mark.column:node.end_mark.column]):
            return None
        block = [line[:key.end_mark.column] + ":" + (f"  {rest}" if rest else "")]
        for item_key, value in node.value:
            if not isinstance(item_key, yaml.ScalarNode):
                return None
            key_text = line[item_key.start_mark.column:item_key.end_mark.column]
            if item_key.value in SCRIPTS and isinstance(value, yaml.SequenceNode):
                if not all(isinstance(item, yaml.ScalarNode) for item in value.value):
                    return None
                block.append(f"  {key_text}:")
                block.extend(f"    - {line[item.start_mark.column:item.end_mark.column]}" for item in value.value)
            else:
                block.append(f"  {key_text}: {line[value.start_mark.column:value.end_mark.column]}")
        replaced[number] = block
    out: list[str] = []
    for number, original in enumerate(lines):
        if number in replaced:
            ending = original[len(original.rstrip("\r\n")):] or newline
            out.extend(text + (ending if index == len(replaced[number]) - 1 else newline)
                       for index, text in enumerate(replaced[number]))
        else:
            out.append(original)
    return "".join(out)


def _plain_text(flow: str) -> bool:
    """No anchors, aliases or tags in the job's flow text (scanned by YAML's own tokenizer)."""
    try:
        tokens = list(yaml.scan(flow))
    except yaml.YAMLError:
        return False
    return not any(isinstance(token, (yaml.AnchorToken, yaml.AliasToken, yaml.TagToken)) for token in tokens)
