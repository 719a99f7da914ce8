"""Give every job that authenticated an ID token for the provider, where GitLab will really see it.

Where the token goes is derived from the effective jobs (`migrate.ci.effective`, the one resolver),
not from the file's structure. GitLab resolves `extends` (hashes deep-merged, a child's non-hash
value, such as `id_tokens: !reference [...]`, replaces the parent's hash) *before* `!reference`
(`build_config` in GitLab's `lib/gitlab/ci/config.rb`), and a job's own `id_tokens` replaces
`default:id_tokens` (`config/entry/default.rb`, `config/entry/job.rb`, `inherit:`). So the place
that gives a job the token is wherever its effective `id_tokens` hash is built from — the job, an
ancestor, a `!reference` target, `default:` (this file's over an included one) — and only the
resolver knows which.

The placement is found by resolving candidates, in two phases:

1. *Additions that cannot remove anything*: a key added to an `id_tokens` hash that is already
   written somewhere, or a `default:id_tokens`. One marker token per such place, all resolved at
   once, shows exactly which jobs each place reaches (adding a key to a hash never changes which
   hash wins), so every keyed job gets the nearest place that reaches it.
2. *New hashes* for the keyed jobs no existing hash reaches: the farthest keyed ancestor, else the
   job itself. A new hash can replace something (a parent's `!reference`, the default tokens), so
   each proposal is resolved and kept only if the job then gets the token and no job loses or
   changes a token it had.

What no candidate achieves is manual with the reason. The self-check (`migrate.ci.selfcheck`,
`acceptance`) still judges the result independently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

import yaml

from migrate.ci import effective
from migrate.ci.detect import Document
from migrate.ci.emit import Insert, Replace
from migrate.ci.yamlnodes import GLOBAL_KEYWORDS, FileNodes, Reference, construct_nodes, get, own_key

DEFAULT = "default"
MAX_TRIALS = 24  # resolutions of new-hash proposals per file (each is one pass over the file)


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

    @property
    def keyword(self) -> str:
        return "identity" if self.mode == "identity" else "id_tokens"


def place_tokens(plan: TokenPlan, keyed_jobs: set[str], default_keyed: bool) -> list[Replace | Insert]:
    """Edits that add the token; raises rewrite.Manual when no placement GitLab honours exists."""
    from migrate.ci.rewrite import Manual

    if plan.mode == "none" or (not keyed_jobs and not default_keyed):
        return []
    try:
        placement = _Placement(plan)
        targets = placement.choose(keyed_jobs, default_keyed)
    except PlacementError as error:
        raise Manual(str(error)) from None
    edits: list[Replace | Insert] = []
    for site in sorted(targets):
        edits.extend(placement.edits(site))
    return edits


class _Placement:
    """The candidate places of one file and what resolving them says."""

    def __init__(self, plan: TokenPlan) -> None:
        self.plan = plan
        doc = plan.doc
        included = tuple(getattr(plan.options, "included", ()) or ())
        if "documents" not in doc.cache:  # shared with the self-check (selfcheck.original_documents)
            doc.cache["documents"] = construct_nodes(doc.roots)
        # Only what decides id_tokens and identity is resolved: every trial is then a pass over a
        # few keys per job, not over the scripts (the full resolution is the self-check's).
        self.main = _reduced(effective.from_documents(doc.cache["documents"]))
        key = ("token-mappings", included)
        if key not in doc.cache:
            doc.cache[key] = [_reduced(effective.load(text)) for text in included]
        self.included: list[Mapping[str, Any]] = doc.cache[key]
        self.base = effective.resolve(self.included, self.main)
        self._edits: dict[str, list[Replace | Insert] | PlacementError] = {}
        # where each included site is written (the last included file that maps it wins, as in
        # `_raw`): one index, not a scan over every included file per site and job (bounded cost)
        self._included_sites: dict[str, Mapping[str, Any]] = {}
        for extra in self.included:
            for site, value in extra.items():
                if isinstance(value, dict) and not isinstance(value, Reference):
                    self._included_sites[str(site)] = value
        self._relevant: dict[str, list[str]] = {}
        self.trials = 0

    # -- the resolver's answers -----------------------------------------------------------------

    def resolve(self, additions: Mapping[str, str]) -> effective.Resolved:
        """The effective jobs with token `name` added at each site (site -> token name)."""
        main = dict(self.main)
        token = {"aud": self.plan.audience}
        for site, name in additions.items():
            body = dict(main[site]) if isinstance(main.get(site), dict) else {}
            if self.plan.mode == "identity":
                body["identity"] = "google_cloud"
            else:
                own = body.get("id_tokens")
                body["id_tokens"] = {**own, name: token} if _is_hash(own) else {name: token}
            main[site] = body
        return effective.resolve(self.included, main)

    def reaches(self, resolved: effective.Resolved, job: str, name: str | None = None) -> bool:
        found = resolved.job(job) or {}
        if self.plan.mode == "identity":
            return found.get("identity") == "google_cloud"
        tokens = found.get("id_tokens")
        if not _is_hash(tokens):
            return False
        names = [name] if name is not None else list(tokens)
        return any(isinstance(tokens.get(n), dict) and tokens[n].get("aud") == self.plan.audience for n in names)

    def losses(self, resolved: effective.Resolved) -> str | None:
        """The first job that would lose or change a token (or its identity), if any."""
        for name in (*self.base.jobs, *self.base.hidden):
            before, after = self.base.job(name) or {}, resolved.job(name) or {}
            old, new = before.get("id_tokens"), after.get("id_tokens")
            if _is_hash(old):
                lost = [token for token, value in old.items() if not _is_hash(new) or new.get(token) != value]
                if lost:
                    return f"job {name} would lose its ID token {lost[0]}"
            elif old is not None and old != new:
                return f"job {name} would lose its id_tokens"
            if before.get("identity") != after.get("identity") and not (
                    self.plan.mode == "identity" and after.get("identity") == "google_cloud"):
                return f"job {name} would change its identity"
        return None

    # -- candidates -----------------------------------------------------------------------------

    def edits(self, site: str) -> list[Replace | Insert]:
        """The text edits that add the token at `site` (cached; PlacementError when not editable)."""
        known = self._edits.get(site)
        if known is None:
            try:
                pipe = self.plan.doc.pipe
                known = _into_default(self.plan, pipe) if site == DEFAULT else \
                    _into_mapping(self.plan, pipe.job(site), pipe.key_node(site))
            except PlacementError as error:
                known = error
            self._edits[site] = known
        if isinstance(known, PlacementError):
            raise known
        return known

    def editable(self, site: str) -> bool:
        if site == DEFAULT and not self.plan.default_allowed:
            return False
        if site != DEFAULT and self.plan.doc.pipe.job(site) is None:
            return False  # defined in an included file: not this file's to edit
        try:
            self.edits(site)
        except PlacementError:
            return False
        return True

    def relevant(self, job: str) -> list[str]:
        """Places that can build the job's effective id_tokens: its extends chain (farthest
        first), the targets of `!reference`s their id_tokens (or default's) point at, with those
        targets' own chains, and `default:` (memoised: asked twice per job)."""
        known = self._relevant.get(job)
        if known is None:
            known = self._relevant[job] = self._relevant_sites(job)
        return list(known)

    def _relevant_sites(self, job: str) -> list[str]:
        order: list[str] = []
        queue = list(reversed(self.base.chain(job)))
        if self.base.inherits(job, "default", self.plan.keyword):
            queue.append(DEFAULT)
        while queue:  # each place is visited once, so a circle of references ends
            site = queue.pop(0)
            if site in order:
                continue
            order.append(site)
            own = self._raw(site).get(self.plan.keyword)
            if isinstance(own, Reference) and len(own) == 2 and str(own[1]) == self.plan.keyword:
                target = str(own[0])
                queue.extend(reversed(self.base.chain(target)) if self.base.job(target) is not None else [target])
        if DEFAULT in order:  # the default is the last resort: it reaches every job that inherits it
            order.remove(DEFAULT)
            order.append(DEFAULT)
        return order

    def _raw(self, site: str) -> Mapping[str, Any]:
        value = self.main.get(site)
        if isinstance(value, dict) and not isinstance(value, Reference):
            return value
        return self._included_sites.get(site, {})

    def has_hash(self, site: str) -> bool:
        if site == DEFAULT:  # the jobs that take default:id_tokens (this file's or an included one)
            return _is_hash(self.base.defaults.get("id_tokens"))
        return _is_hash(_mapping(self.main.get(site)).get("id_tokens"))

    # -- the choice -----------------------------------------------------------------------------

    def choose(self, keyed_jobs: set[str], default_keyed: bool) -> set[str]:
        plan, base = self.plan, self.base
        need = [job for job in keyed_jobs if base.job(job) is not None]
        unknown = sorted(set(keyed_jobs) - set(need))
        if unknown:
            raise PlacementError(f"cannot give job {unknown[0]} an ID token that GitLab would use "
                                 "(the job does not resolve)")
        chosen: set[str] = set()
        if default_keyed:
            if self.editable(DEFAULT):  # the authentication is default's: so is the token
                chosen.add(DEFAULT)
            else:  # no default:id_tokens before GitLab 16.4, or one this tool cannot extend (a
                # !reference): every job running the default's steps, placed as the resolver says
                need += [job for job in base.jobs if job not in need and base.inherits(job, "default", "before_script")]
        need.sort(key=lambda job: (len(base.chain(job)), job))
        keyed = set(need)
        if plan.mode == "id_tokens":
            chosen |= self._existing_hashes(need, keyed, chosen)
        else:
            chosen = self._verified(chosen, need, keyed)
        return chosen

    def _existing_hashes(self, need: list[str], keyed: set[str], chosen: set[str]) -> set[str]:
        """Phase 1 (markers on every hash that can only grow), then phase 2 for the rest."""
        sites: dict[str, None] = {}  # ordered, with constant-time membership
        for job in need:
            sites.update((site, None) for site in self.relevant(job)
                         if site not in sites and self.has_hash(site) and self.editable(site))
        sites.update((site, None) for site in chosen if site not in sites)
        markers = {site: f"__wif_marker_{index}__" for index, site in enumerate(sites)}
        marked = self.resolve(markers) if sites else self.base
        rest: list[str] = []
        chosen = set(chosen)
        for job in need:
            if any(self.reaches(marked, job, markers[site]) for site in chosen if site in markers):
                continue
            reaching = [site for site in self.relevant(job) if site in markers
                        and self.reaches(marked, job, markers[site])]
            if reaching:
                chosen.add(reaching[0])
            else:
                rest.append(job)
        return self._verified(chosen, rest, keyed) if rest else chosen

    def _verified(self, chosen: set[str], need: list[str], keyed: set[str]) -> set[str]:
        """Phase 2: new hashes, each proposal resolved; kept only when the job gets the token and
        no job loses one. All first proposals are tried together first (one resolution)."""
        proposals = {job: self._new_sites(job, keyed) for job in need}
        for job, sites in proposals.items():
            if not sites:
                raise PlacementError(f"cannot give job {job} an ID token that GitLab would use (no place in "
                                     f"this file builds its effective {self.plan.keyword})")
        first = set(chosen) | {sites[0] for sites in proposals.values()}
        trial = self._trial(first)
        if self.losses(trial) is None and all(self.reaches(trial, job) for job in need):
            return first
        chosen = set(chosen)
        current = self._trial(chosen) if chosen else self.base
        for job in need:
            if self.reaches(current, job):
                continue
            why = "no place in this file gives it the token without replacing its own"
            for site in proposals[job]:
                if self.trials >= MAX_TRIALS:
                    why = f"more than {MAX_TRIALS} placements tried"
                    break
                trial = self._trial(chosen | {site})
                problem = self.losses(trial)
                if problem is None and self.reaches(trial, job):
                    chosen.add(site)
                    current = trial
                    break
                why = problem or why
            if not self.reaches(current, job):
                raise PlacementError(f"cannot give job {job} an ID token that GitLab would use ({why})")
        problem = self.losses(current)
        if problem is not None or not all(self.reaches(current, job) for job in need):
            raise PlacementError(f"cannot give job(s) {', '.join(need[:3])} an ID token that GitLab would use"
                                 + (f" ({problem})" if problem else ""))
        return chosen

    def _new_sites(self, job: str, keyed: set[str]) -> list[str]:
        """Where a new hash may go: the farthest keyed ancestor first (one edit for all its
        children, as the authentication is written there), then the job, then the others."""
        chain = list(self.base.chain(job))
        order = [member for member in reversed(chain) if member in keyed] + chain
        result: list[str] = []
        for site in order:
            if site not in result and self.editable(site):
                result.append(site)
        return result

    def _trial(self, sites: Iterable[str]) -> effective.Resolved:
        self.trials += 1
        return self.resolve({site: self.plan.token_var for site in sites})


# what decides a job's effective id_tokens/identity: extends (merge order), inherit (the default),
# the keywords themselves (and the !reference targets they name, which are other jobs' keywords)
_TOKEN_KEYS = ("extends", "inherit", "id_tokens", "identity")


def _reduced(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration with each job (and `default:`) reduced to the keys that decide tokens."""
    reduced: dict[str, Any] = {}
    for name, value in config.items():
        if _is_hash(value) and (name == DEFAULT or name not in GLOBAL_KEYWORDS):
            reduced[name] = {key: value[key] for key in _TOKEN_KEYS if key in value}
    return reduced


def _is_hash(value: Any) -> TypeGuard[dict[Any, Any]]:
    return isinstance(value, dict) and not isinstance(value, Reference)


def _mapping(value: Any) -> dict[Any, Any]:
    return value if _is_hash(value) else {}


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
