"""Give every job that authenticated an ID token for the provider, where GitLab will really see it.

GitLab merges `id_tokens` along `extends` (hashes are deep-merged) but a job's own `id_tokens`
*replaces* `default:id_tokens`. So: a token goes into the job that owns the authentication (the
farthest keyed ancestor in its extends chain), into `default:` when the authentication comes from
`default:`/top-level `before_script`, and additionally into any keyed job that defines its own
`id_tokens` (which would otherwise hide the default one).
"""

from __future__ import annotations

import dataclasses

import yaml

from migrate.ci.detect import Document
from migrate.ci.emit import Insert, Replace
from migrate.ci.yamlnodes import FileNodes, get, own_key


class PlacementError(Exception):
    """The token cannot be added without changing other jobs' behaviour."""


@dataclasses.dataclass(frozen=True)
class TokenPlan:
    doc: Document
    mode: str  # 'id_tokens' | 'identity' | 'none' (old GitLab: CI_JOB_JWT_V2 needs no YAML)
    token_var: str
    options: object

    @property
    def audience(self) -> str:
        return f"https://iam.googleapis.com/{getattr(self.options, 'provider', '')}"

    @property
    def default_allowed(self) -> bool:
        version = getattr(self.options, "gitlab_version", None)
        return version is None or version >= ((16, 9) if self.mode == "identity" else (16, 4))


def place_tokens(plan: TokenPlan, keyed_jobs: set[str], default_keyed: bool) -> list[Replace | Insert]:
    """Edits that add the token; raises rewrite.Manual (via PlacementError) when it cannot."""
    from migrate.ci.rewrite import Manual

    if plan.mode == "none" or (not keyed_jobs and not default_keyed):
        return []
    pipe = plan.doc.pipe
    targets: set[str] = set()
    add_default = default_keyed and plan.default_allowed
    for job in sorted(keyed_jobs, key=lambda name: len(pipe.chain(name))):
        if covered(pipe, job, targets, add_default, plan.mode):
            continue
        if _gets_default_tokens(pipe, job, plan.mode):
            # a job-level id_tokens would *replace* default:id_tokens (the Vault token, ...): add ours there
            add_default = True
            continue
        chain = pipe.chain(job)
        owner = next((member for member in reversed(chain) if member in keyed_jobs), job)
        if not covered(pipe, job, targets | {owner}, add_default, plan.mode):
            owner = job
        targets.add(owner)
        if not covered(pipe, job, targets, add_default, plan.mode):
            raise Manual(f"cannot give job {job} an ID token that GitLab would use")
    if default_keyed and not plan.default_allowed:
        for job in pipe.job_names():
            if pipe.inherits_default(job, "before_script") and not covered(pipe, job, targets, False, plan.mode):
                targets.add(job)
    edits: list[Replace | Insert] = []
    try:
        for job in sorted(targets):
            edits.extend(_into_mapping(plan, pipe.job(job), pipe.key_node(job)))
        if add_default:
            edits.extend(_into_default(plan, pipe))
    except PlacementError as error:
        raise Manual(str(error)) from None
    return edits


def _gets_default_tokens(pipe: FileNodes, job: str, mode: str) -> bool:
    """The job has no id_tokens of its own and inherits a `default:id_tokens` it would lose."""
    if mode != "id_tokens" or get(pipe.value("default"), "id_tokens") is None:
        return False
    own = any(get(pipe.job(member), "id_tokens") is not None for member in pipe.chain(job))
    return not own and pipe.inherits_default(job, "id_tokens")


def covered(pipe: FileNodes, job: str, targets: set[str], add_default: bool, mode: str) -> bool:
    """Whether `job` would see our token given the planned targets."""
    keyword = "identity" if mode == "identity" else "id_tokens"
    chain = pipe.chain(job)
    if mode == "identity":
        for member in chain:
            if member in targets:
                return True
            if get(pipe.job(member), keyword) is not None:
                return False
        return add_default and pipe.inherits_default(job, keyword)
    for member in chain:  # nearest first: a non-hash id_tokens (a !reference) replaces the parents' hash
        if member in targets:
            return True
        own = get(pipe.job(member), keyword)
        if own is not None and not isinstance(own, yaml.MappingNode):
            return False
    if any(get(pipe.job(member), keyword) is not None for member in chain):
        return False
    return add_default and pipe.inherits_default(job, keyword)


def _lines(plan: TokenPlan, column: int, step: int, with_key: bool) -> list[str]:
    pad = " " * column
    if plan.mode == "identity":
        return [f"{pad}identity: google_cloud"]
    body = [f"{pad}{plan.token_var}:", f"{pad}{' ' * step}aud: {plan.audience}"]
    if with_key:
        return [f"{pad}id_tokens:"] + [" " * step + line for line in body]
    return body


def _into_mapping(plan: TokenPlan, mapping: yaml.Node | None, key: yaml.Node | None) -> list[Replace | Insert]:
    if not isinstance(mapping, yaml.MappingNode) or mapping.flow_style or not mapping.value:
        raise PlacementError("a job that needs an ID token is not a block mapping")
    lines = plan.doc.lines
    # where the job's keys start: its first own key (an anchor or tag after `job:` starts the node on
    # the key's line; keys a `<<:` merge brought in sit elsewhere in the file and are not its own)
    start = (mapping.start_mark.line, mapping.start_mark.column)
    mine = [k for k, _ in mapping.value if (k.start_mark.line, k.start_mark.column) >= start]
    first = min(mine, key=lambda k: (k.start_mark.line, k.start_mark.column)) if mine else None
    column = first.start_mark.column if first is not None else mapping.start_mark.column
    line = first.start_mark.line if first is not None else mapping.start_mark.line
    if key is not None and line == key.start_mark.line:
        raise PlacementError(f"line {line + 1}: job written on one line")
    if lines[line][:column].strip():
        raise PlacementError(f"line {line + 1}: cannot find where the job's keys start")
    step = column - key.start_mark.column if key is not None and column > key.start_mark.column else 2
    keyword = "identity" if plan.mode == "identity" else "id_tokens"
    own = own_key(mapping, keyword)
    if own is None and get(mapping, keyword) is not None:
        raise PlacementError(f"line {line + 1}: the job gets {keyword} through a YAML merge (<<:)")
    if own is None:
        return [Insert(line, tuple(_lines(plan, column, step, True)))]
    value = own[1]
    if plan.mode == "identity":
        if isinstance(value, yaml.ScalarNode) and value.value == "google_cloud":
            return []
        raise PlacementError(f"line {own[0].start_mark.line + 1}: the job already has another identity")
    if value.tag == "!reference":
        raise PlacementError(f"line {own[0].start_mark.line + 1}: id_tokens come from a !reference; GitLab resolves "
                             "extends before !reference, so a token added to a template would not reach the job")
    if not isinstance(value, yaml.MappingNode) or value.flow_style or not value.value:
        raise PlacementError(f"line {own[0].start_mark.line + 1}: id_tokens in a form this tool does not edit")
    inner = value.start_mark.column
    if lines[value.start_mark.line][:inner].strip():
        raise PlacementError(f"line {value.start_mark.line + 1}: cannot find where id_tokens entries start")
    return [Insert(value.start_mark.line, tuple(_lines(plan, inner, max(inner - column, 2), False)))]


def _into_default(plan: TokenPlan, pipe: FileNodes) -> list[Replace | Insert]:
    default = pipe.value("default")
    if default is not None:
        return _into_mapping(plan, default, pipe.key_node("default"))
    root = pipe.root
    if not isinstance(root, yaml.MappingNode) or root.flow_style or not root.value:
        raise PlacementError("the file's top level is not a block mapping")
    column = root.start_mark.column
    anchor = pipe.key_node("before_script")
    line = anchor.start_mark.line if anchor is not None and anchor.start_mark.column == column else root.start_mark.line
    body = _lines(plan, column + 2, 2, plan.mode != "identity")
    return [Insert(line, tuple([" " * column + "default:", *body]))]
