"""Accept a rewrite only when the *effective* jobs still work and nothing reads the key any more.

This check is deliberately written apart from the rewriter: it knows nothing of plans, units or
splicing. It resolves both files as GitLab does (`migrate.ci.effective`) and compares every visible
job of the original with the same job of the result:

- the same jobs exist, and every keyword other than the scripts, `id_tokens` and `identity` is
  unchanged (variables, image, rules, artifacts, ...);
- `id_tokens` keep every token the job had, and the only new token has the provider audience; a job
  that authenticated with a key has one (or `identity: google_cloud`, or the CI_JOB_JWT_V2 form);
- the scripts differ only in authentication: after dropping the original's key steps (writing the
  key to a file, activating it, `docker login -u _json_key`, printing, chmod/rm, GAC assignment) and
  the result's federation steps (token write, credential configuration, `gcloud auth login
  --cred-file`, an access-token mint), the command sequences are equal;
- the job signs in as the service account of the key it used, in every context (ref class,
  environment) the caller's resolver says it received a key in (`Expectation.accounts_in`);
- no remaining command, variable, artifact or cache path reads the key variable or the key file:
  the file is looked for in every *piece* of every command (command substitutions, `--flag=value`
  and next-word values, `a=b`/`a:b` mount and option forms, redirections, here-doc bodies).

The cost is linear in the size of the effective jobs, which is bounded (MAX_EFFECTIVE_LINES).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from migrate.ci import credvars, shell
from migrate.ci.effective import Resolved

MAX_EFFECTIVE_LINES = 120_000
MAX_REASONS = 5  # script lines over all effective jobs; beyond that we do not guess
GAC_NAMES = credvars.variable_names()  # tools' credential variables (migrate/ci/credvars.yaml)
REWRITABLE_NAMES = frozenset(e.name for e in credvars.catalogue() if e.kind == "variable" and e.rewritable)
PATH_HARMLESS = frozenset({"rm", "chmod", "chown", "ls", "test", "[", "stat", "mkdir", "touch", "true"})
LINE_HARMLESS = frozenset({"echo", "exit", "return", "then", "fi", "else", "true", ":", "printf"})
_PIECE_SPLIT = re.compile(r"[\s\"'`()=:,;|&<>]+")
_PROJECT_PREFIX = re.compile(r"^(?:\$\{?(?:CI_PROJECT_DIR|PWD)\}?/)+")


@dataclasses.dataclass(frozen=True)
class Expectation:
    """What the rewritten jobs must show, from the caller (not from the rewriter's plan)."""

    key_vars: frozenset[str]
    audience: str  # https://iam.googleapis.com/projects/N/.../providers/P
    token_mode: str  # 'id_tokens' | 'identity' | 'jwt_v2'
    account_for: Callable[[str, str], str]  # (job, key variable) -> service-account e-mail ('' unknown)
    # (job, key variable) -> {context: e-mail}: the account of the key the job receives in each
    # context (ref class, environment; from the caller's variable resolver, `migrate.ci.variables`).
    # Where given, the job must sign in as that account in *every* context, not only in one.
    accounts_in: Callable[[str, str], Mapping[str, str]] = lambda job, var: {}


def compare(before: Resolved, after: Resolved, expect: Expectation) -> list[str]:
    """Reasons the result is not an acceptable rewrite of the original (empty: it is)."""
    size = sum(len(job.get(k) or ()) for job in before.jobs.values() for k in ("before_script", "script",
                                                                                 "after_script"))
    if size > MAX_EFFECTIVE_LINES:
        return [f"the effective jobs have more than {MAX_EFFECTIVE_LINES} script lines; too large to verify"]
    failures: list[str] = []
    missing = sorted(set(before.jobs) - set(after.jobs))
    added = sorted(set(after.jobs) - set(before.jobs))
    if missing or added:
        failures.append(f"the set of jobs changed (missing: {', '.join(missing[:4]) or '-'}; "
                        f"new: {', '.join(added[:4]) or '-'})")
    for key in sorted(set(before.globals) | set(after.globals)):
        old_global = before.globals.get(key)
        if key == "variables":
            old_global = _credential_variables_federated(old_global, after.globals.get(key), expect.key_vars)
        if old_global != after.globals.get(key):
            failures.append(f"top-level `{key}` changed")
    before_jobs, after_jobs = dict(before.jobs), dict(after.jobs)
    if not any(is_keyed(job, expect.key_vars, frozenset()) for job in before_jobs.values()):
        # a template file: its hidden jobs are what consumers extend, so they are what must still work
        before_jobs.update(before.hidden)
        after_jobs.update(after.hidden)
        extra = sorted(set(before.hidden) ^ set(after.hidden))
        if extra:
            failures.append(f"the set of template jobs changed ({', '.join(extra[:4])})")
    for name in sorted(set(before_jobs) & set(after_jobs)):
        if name in before.partial and is_keyed(before_jobs[name], expect.key_vars, frozenset()):
            failures.append(f"job {name}: {before.partial[name]}; the rewrite cannot be proven for it")
            continue
        failures.extend(f"job {name}: {reason}" for reason in job_failures(before_jobs[name], after_jobs[name],
                                                                          name, expect))
        if len(failures) >= MAX_REASONS:
            break  # the rewrite is refused already; a few reasons are enough to act on
    return failures


def job_failures(old: Mapping[str, Any], new: Mapping[str, Any], name: str, expect: Expectation) -> list[str]:
    failures: list[str] = []
    ignored = {"before_script", "script", "after_script", "id_tokens", "identity"}
    for keyword in sorted((set(old) | set(new)) - ignored):
        before, after = old.get(keyword), new.get(keyword)
        if keyword == "variables":
            before = _credential_variables_federated(before, after, expect.key_vars)
        if before != after:
            failures.append(f"`{keyword}` changed")
    paths = key_paths(old, expect.key_vars)
    keyed = is_keyed(old, expect.key_vars, paths)
    failures.extend(_token_failures(old, new, keyed, expect))
    for phase in (("before_script", "script"), ("after_script",)):
        before = [line for keyword in phase for line in old.get(keyword) or ()]
        after = [line for keyword in phase for line in new.get(keyword) or ()]
        kept_before = _residue(before, expect.key_vars, paths, auth_step)
        kept_after = _residue(after, expect.key_vars, paths, federation_step)
        if kept_before != kept_after:
            failures.append(f"{'/'.join(phase)} differ beyond authentication: {_first_difference(kept_before, kept_after)}")
    failures.extend(_read_failures(new, expect.key_vars, paths))
    if keyed and expect.token_mode != "identity":
        failures.extend(_account_failures(old, new, name, expect, paths))
        failures.extend(_provider_failures(new, expect))
    return failures


# -- which jobs and files the key touches --------------------------------------------------------

def key_paths(job: Mapping[str, Any], key_vars: Iterable[str]) -> frozenset[str]:
    """Normalised paths the job writes a key to, activates, or points GAC at."""
    keys = set(key_vars)
    found: set[str] = set()
    aliases = _aliases(job)
    for segment in _all_segments(job):
        if segment is None or ("--key-file" not in segment.text and not any(key in segment.text for key in keys)):
            continue
        for stage in segment.stages:
            plain = [shell.unquote(word) for word in stage.words]
            refs = set(shell.var_refs(segment.text))
            if refs & keys:
                found.update(_norm(r.target, aliases) for r in stage.redirects if r.op in (">", ">>") and r.target)
                if stage.name == "cp" and len(stage.words) == 3:
                    found.add(_norm(stage.words[2], aliases))
            for index, word in enumerate(plain):
                if word.startswith("--key-file="):
                    found.add(_norm(stage.words[index].split("=", 1)[1], aliases))
                elif word == "--key-file" and index + 1 < len(plain):
                    found.add(_norm(stage.words[index + 1], aliases))
    return frozenset(path for path in found if path and shell.single_var(path) not in keys)


def is_keyed(job: Mapping[str, Any], key_vars: Iterable[str], paths: frozenset[str]) -> bool:
    keys = set(key_vars)
    for line in _script_lines(job):
        if "activate-service-account" in line or "_json_key" in line or set(shell.var_refs(line)) & keys:
            return True
    return bool(_credential_variable_keys(job, keys))


# A catalogued credential variable pointed at the job's credential configuration (the only change
# to `variables:` a rewrite may make): `NAME: $KEY` → `NAME: <this path>` (migrate.ci.rewrite).
FEDERATED_CONFIG_PATH = "${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json"


def _value(value: Any) -> str:
    value = value.get("value") if isinstance(value, dict) else value
    return value if isinstance(value, str) else ""


def _credential_variable_keys(job: Mapping[str, Any], keys: Iterable[str]) -> set[str]:
    """Key variables the job hands to a tool through a catalogued credential variable (`NAME: $KEY`)."""
    wanted = set(keys)
    return {var for name, value in _mapping(job.get("variables")).items() if str(name) in REWRITABLE_NAMES
            for var in [shell.single_var(_value(value))] if var in wanted}


def _credential_variables_federated(before: Any, after: Any, keys: Iterable[str]) -> Any:
    """`before` with each `NAME: $KEY` (catalogued, external_account accepted) taken as equal to
    `after`'s when `after` points NAME at the credential configuration; anything else unchanged."""
    old, new = _mapping(before), _mapping(after)
    if not old or not new:
        return before
    wanted = set(keys)
    result = dict(old)
    for name, value in old.items():
        if str(name) in REWRITABLE_NAMES and shell.single_var(_value(value)) in wanted and name in new \
                and _value(new[name]) == FEDERATED_CONFIG_PATH:
            result[name] = new[name]
    return result


def _aliases(job: Mapping[str, Any]) -> dict[str, str]:
    """Variables that hold a plain path (YAML variables and `X=path` assignments), for `$X` pieces."""
    found: dict[str, str] = {}
    variables: dict[Any, Any] = _mapping(job.get("variables"))
    for name, value in variables.items():
        value = value.get("value") if isinstance(value, dict) else value
        if isinstance(value, str):
            found[str(name)] = shell.normalize_path(value)
    for segment in _all_segments(job):
        for stage in segment.stages if segment is not None else ():
            words = stage.words[1:] if stage.name == "export" else ()
            for assignment in (*stage.assignments, *words):
                match = shell.ASSIGNMENT.match(assignment)
                if match:
                    found[match.group(1)] = shell.normalize_path(match.group(2))
    return found


def _norm(word: str, aliases: Mapping[str, str]) -> str:
    var = shell.single_var(word)
    if var is not None and var in aliases and shell.single_var(aliases[var]) != var:
        word = aliases[var]
    return _PROJECT_PREFIX.sub("", shell.normalize_path(word))


def normalise(path: str) -> str:
    """A resolved path in the form `mentions` compares (project-directory prefixes dropped)."""
    return _PROJECT_PREFIX.sub("", path)


def mentions(text: str, paths: frozenset[str], aliases: Mapping[str, str]) -> str | None:
    """The key path a command names anywhere in its text (in any word, flag value, mount or option)."""
    if not paths:
        return None
    names = _needles(paths, tuple(sorted(name for name, value in aliases.items() if value in paths)))
    if not any(needle in text for needle in names):
        return None  # fast path: no path's file name and no alias appears at all
    for piece in _PIECE_SPLIT.split(text):
        if piece and _norm(piece, aliases) in paths:
            return piece
    return None


@functools.lru_cache(maxsize=1024)
def _needles(paths: frozenset[str], alias_names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple({path.rsplit("/", 1)[-1].lstrip("$") or path for path in paths} | set(alias_names))


# -- scripts -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)
def _segments(line: str) -> tuple[shell.Segment, ...] | None:
    parts = shell.segments(line)
    return None if parts is None else tuple(parts)


def _script_lines(job: Mapping[str, Any]) -> list[str]:
    return [line for keyword in ("before_script", "script", "after_script") for line in job.get(keyword) or ()]


def _all_segments(job: Mapping[str, Any]) -> list[shell.Segment | None]:
    result: list[shell.Segment | None] = []
    for line in _script_lines(job):
        result.extend(_line_segments(line))
    return result


@functools.lru_cache(maxsize=65536)
def _line_segments(line: str) -> tuple[shell.Segment | None, ...]:
    """The segments of every physical line of one script entry (None: a line that does not lex);
    memoised, since jobs that extend one template repeat its lines (bounded cost)."""
    result: list[shell.Segment | None] = []
    for physical in _physical_lines(line):
        parts = _segments(physical)
        result.extend(parts if parts is not None else [None])
    return tuple(result)


@functools.lru_cache(maxsize=65536)
def _physical_lines(text: str) -> tuple[str, ...]:
    """Lines of a script entry with backslash continuations joined (a here-doc stays whole)."""
    if re.search(r"<<-?\s*['\"]?\w", text) and "<<<" not in text:
        return (text,)
    lines: list[str] = []
    current = ""
    for raw in text.split("\n"):
        current = current + "\n" + raw if current else raw
        if not current.endswith("\\"):
            if current.strip():
                lines.append(current)
            current = ""
    if current.strip():
        lines.append(current)
    return tuple(lines)


StepTest = Callable[[shell.Segment, frozenset[str], frozenset[str]], bool]


def _residue(lines: list[str], keys: frozenset[str], paths: frozenset[str], dropped: StepTest) -> list[str]:
    """The commands that are not authentication, in order (a line of only auth and echo/exit goes)."""
    kept: list[str] = []
    for line in lines:
        kept.extend(_line_residue(line, keys, paths, dropped))
    return kept


@functools.lru_cache(maxsize=65536)
def _line_residue(line: str, keys: frozenset[str], paths: frozenset[str], dropped: StepTest) -> tuple[str, ...]:
    kept: list[str] = []
    for physical in _physical_lines(line):
        parts = _segments(physical)
        if parts is None:
            kept.append(" ".join(physical.split()))
            continue
        flags = [dropped(part, keys, paths) for part in parts]
        if any(flags) and all(flag or _harmless(part) for flag, part in zip(flags, parts, strict=True)):
            continue
        kept.extend(part.text for part, flag in zip(parts, flags, strict=True) if not flag)
    return tuple(kept)


def _harmless(segment: shell.Segment) -> bool:
    stage = segment.stages[0] if segment.stages else None
    if stage is None or len(segment.stages) != 1 or any(r.op in (">", ">>") for r in stage.redirects):
        return False
    if stage.name in ("{", "}"):  # a `{ echo …; exit 1; }` group: harmless when what it runs is
        return stage.words[1:2] == () or stage.words[1] in LINE_HARMLESS
    return stage.name in LINE_HARMLESS or not stage.words


def auth_step(segment: shell.Segment, keys: frozenset[str], paths: frozenset[str]) -> bool:
    """A key-authentication step of the original that a rewrite may drop or replace."""
    text = segment.text
    if "activate-service-account" in text or "_json_key" in text:
        return True
    stage = segment.stages[-1] if segment.stages else None
    if stage is None:
        return False
    refs = set(shell.var_refs(text)) & keys
    names = {s.name for s in segment.stages}
    if refs and (any(r.op in (">", ">>") for r in stage.redirects) or names <= {"echo", "printf", "base64", "cat",
                                                                                  "tr", "cp", "chmod", "test", "[", "[[", ":",
                                                                                  "if", "export", ""}):
        return True
    plain = [shell.unquote(word) for word in stage.words]
    if paths and len(segment.stages) == 1 and stage.name in ("cat", "chmod", "rm", "chown") \
            and any(_norm(word, {}) in paths for word in plain[1:]):
        return True
    assignment = _gac_assignment(stage)
    if assignment is not None and bool(set(shell.var_refs(assignment)) & keys):
        return True
    return neutral_step(segment, paths)


def _gac_assignment(stage: shell.Stage) -> str | None:
    words = stage.words[1:] if stage.name == "export" else ()
    for text in (*stage.assignments, *words):
        match = shell.ASSIGNMENT.match(text)
        if match and match.group(1) in GAC_NAMES and (not stage.words or stage.name == "export"):
            return match.group(2)
    return None


_FEDERATION = (
    re.compile(r"^echo \"\$\{?(?:GCP_ID_TOKEN|GCP_WIF_ID_TOKEN|CI_JOB_JWT_V2)\}?\" > \S+$"),
    re.compile(r"^\S*gcloud iam workload-identity-pools create-cred-config projects/\d+/locations/global/"
               r"workloadIdentityPools/[a-z0-9-]+/providers/[a-z0-9-]+ --service-account=\S+ "
               r"--credential-source-file=\S+ --output-file=\S+$"),
    re.compile(r"^\S*gcloud (?:\S+ )*auth login --cred-file=\S+(?: \S+)*$"),
    re.compile(r"^\S*gcloud auth print-access-token(?: --quiet)?(?: > /dev/null| \| docker login -u "
               r"oauth2accesstoken --password-stdin \S+)$"),
    re.compile(r"^printf '\{\"universe_domain\":\"googleapis.com\",\"type\":\"external_account\",[^']*' \S+ > \S+$"),
    # ... with the account chosen per environment: the quote closed around "${GCP_WIF_SERVICE_ACCOUNT}"
    re.compile(r"^printf '\{\"universe_domain\":\"googleapis.com\",\"type\":\"external_account\",[^']*"
               r"serviceAccounts/'\"\$\{GCP_WIF_SERVICE_ACCOUNT\}\"':generateAccessToken[^']*' \S+ > \S+$"),
    # the per-environment account choice (each `;;` arm is its own segment), see _environment_account
    re.compile(r"^case \"\$\{CI_ENVIRONMENT_NAME\}\" in \"[A-Za-z0-9_./-]+\"\) GCP_WIF_SERVICE_ACCOUNT=[A-Za-z0-9._%+@-]+$"),
    re.compile(r"^\"[A-Za-z0-9_./-]+\"\) GCP_WIF_SERVICE_ACCOUNT=[A-Za-z0-9._%+@-]+$"),
    re.compile(r"^\*\) echo \"wif-migrate: no service account for environment \$\{CI_ENVIRONMENT_NAME\}\" >&2$"),
    re.compile(r"^esac$"),
    re.compile(r"^cp \"\$GOOGLE_APPLICATION_CREDENTIALS\" \S+$"),
    # the key in a file-type GOOGLE_APPLICATION_CREDENTIALS: the script points it at the configuration
    re.compile(r"^export GOOGLE_APPLICATION_CREDENTIALS=\"\$\{CI_BUILDS_DIR\}/\.gcp_wif_\$\{CI_JOB_ID\}\.json\"$"),
    # a catalogued variable that takes a path or the JSON (Terraform's GOOGLE_CREDENTIALS) pointed at it
    re.compile(r"^export (?:" + "|".join(re.escape(e.name) for e in credvars.catalogue() if e.kind == "variable"
                                         and e.rewritable and e.takes == "path-or-json")
               + r")=\"\$\{CI_BUILDS_DIR\}/\.gcp_wif_\$\{CI_JOB_ID\}\.json\"$"),
    # the token exchange without gcloud (docker login in an image with curl or wget): the STS
    # request body, the STS exchange and the impersonation (each with curl, else wget), the login
    re.compile("^GCP_STS_REQUEST=" + re.escape("\"$(printf '{\"audience\":\"//iam.googleapis.com/")
               + r"projects/\d+/locations/global/workloadIdentityPools/[a-z0-9-]+/providers/[a-z0-9-]+"
               + re.escape("\",\"grantType\":\"urn:ietf:params:oauth:grant-type:token-exchange\","
                           "\"requestedTokenType\":\"urn:ietf:params:oauth:token-type:access_token\","
                           "\"scope\":\"https://www.googleapis.com/auth/cloud-platform\","
                           "\"subjectTokenType\":\"urn:ietf:params:oauth:token-type:jwt\",\"subjectToken\":\"%s\"}' ")
               + r"\"\$\{(?:GCP_ID_TOKEN|GCP_WIF_ID_TOKEN|CI_JOB_JWT_V2)\}\"\)\"$"),
    re.compile("^" + re.escape(
        "GCP_STS_TOKEN=\"$(if command -v curl > /dev/null; then curl -sSf -H 'Content-Type: application/json' "
        "-d \"${GCP_STS_REQUEST}\" https://sts.googleapis.com/v1/token; else wget -qO- --header "
        "'Content-Type: application/json' --post-data \"${GCP_STS_REQUEST}\" https://sts.googleapis.com/v1/token; "
        "fi | sed -n 's/.*\"access_token\": *\"\\([^\"]*\\)\".*/\\1/p')\"") + "$"),
    re.compile("^" + re.escape(
        "GCP_ACCESS_TOKEN=\"$(if command -v curl > /dev/null; then curl -sSf -H 'Content-Type: application/json' "
        "-H \"Authorization: Bearer ${GCP_STS_TOKEN}\" -d '{\"scope\":[\"https://www.googleapis.com/auth/"
        "cloud-platform\"]}' https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/")
        + r"(?P<a>[A-Za-z0-9._%+@-]+)"
        + re.escape(":generateAccessToken; else wget -qO- --header 'Content-Type: application/json' --header "
                    "\"Authorization: Bearer ${GCP_STS_TOKEN}\" --post-data '{\"scope\":[\"https://www.googleapis.com/"
                    "auth/cloud-platform\"]}' https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/")
        + r"(?P=a)"
        + re.escape(":generateAccessToken; fi | sed -n 's/.*\"accessToken\": *\"\\([^\"]*\\)\".*/\\1/p')\"")
        + "$"),
    re.compile(r"^printf '%s' \"\$\{GCP_ACCESS_TOKEN\}\" \| docker login -u oauth2accesstoken --password-stdin \S+$"),
    # the verify markers (migrate.ci.emit.MARKER / MARKER_CONFIGURED), alone or after a token mint
    re.compile(r"^(?:\S*gcloud auth print-access-token > /dev/null && )?echo \"wif-migrate: federated "
               r"(?:sign-in ok|credential configuration ready)\"$"),
)


def federation_step(segment: shell.Segment, keys: frozenset[str], paths: frozenset[str]) -> bool:
    """A step a rewrite adds (the emitted federation snippet), recognised by its exact shape."""
    text = " ".join(segment.text.split())
    return any(pattern.match(text) for pattern in _FEDERATION) or neutral_step(segment, paths)


def neutral_step(segment: shell.Segment, paths: frozenset[str]) -> bool:
    """Steps that name the key path and may stay or go: GAC pointed at it, rm/chmod/ls of it."""
    if not paths or len(segment.stages) != 1:
        return False
    stage = segment.stages[0]
    value = _gac_assignment(stage)
    if value is not None:
        return _norm(value, {}) in paths
    return stage.name in PATH_HARMLESS and not stage.redirects and \
        any(_norm(word, {}) in paths for word in stage.words[1:])


# -- tokens, reads, accounts -------------------------------------------------------------------

def _tokens(job: Mapping[str, Any]) -> dict[str, Any]:
    tokens = job.get("id_tokens")
    return dict(tokens) if isinstance(tokens, dict) else {}


def _auds(token: Any) -> list[str]:
    aud = token.get("aud") if isinstance(token, dict) else None
    return [str(aud)] if isinstance(aud, str) else [str(a) for a in aud] if isinstance(aud, list) else []


def _token_failures(old: Mapping[str, Any], new: Mapping[str, Any], keyed: bool, expect: Expectation) -> list[str]:
    failures: list[str] = []
    before, after = _tokens(old), _tokens(new)
    lost = sorted(name for name, token in before.items() if after.get(name) != token)
    if lost:
        failures.append(f"ID token(s) {', '.join(lost)} lost or changed")
    extra = sorted(name for name in set(after) - set(before) if expect.audience not in _auds(after[name]))
    if extra:
        failures.append(f"new ID token(s) {', '.join(extra)} without the provider audience")
    if old.get("identity") != new.get("identity") and not (expect.token_mode == "identity"
                                                           and new.get("identity") == "google_cloud"):
        failures.append("`identity` changed")
    if keyed:
        if expect.token_mode == "id_tokens" and not any(expect.audience in _auds(t) for t in after.values()):
            failures.append("no ID token with the provider audience reaches the job")
        if expect.token_mode == "identity" and new.get("identity") != "google_cloud":
            failures.append("the job does not get identity: google_cloud")
    return failures


def _read_failures(job: Mapping[str, Any], keys: frozenset[str], paths: frozenset[str]) -> list[str]:
    failures: list[str] = []
    aliases = _aliases(job)
    needles = (*keys, *(_needles(paths, tuple(sorted(n for n, v in aliases.items() if v in paths))) if paths else ()))
    named = _needle_pattern(tuple(sorted(set(needles))))
    for line in _script_lines(job):
        if named is None or named.search(line) is None:
            continue  # names neither a key variable nor the key file: nothing to read
        refs = sorted(set(shell.var_refs(line)) & keys)
        if refs:
            failures.append(f"a command still reads key variable ${refs[0]}")
            break
        for physical in _physical_lines(line):
            parts = _segments(physical)
            for part in parts if parts is not None else [None]:
                text = part.text if part is not None else physical
                if part is not None and (federation_step(part, keys, paths) or _path_consumer(part, paths)):
                    continue
                hit = mentions(text, paths, aliases)
                if hit is not None:
                    failures.append(f"a command still reads the key file {hit}: {_short(text)}")
                    return failures
    variables: dict[Any, Any] = _mapping(job.get("variables"))
    for name, value in variables.items():
        if set(shell.var_refs(str(value))) & keys:
            failures.append(f"variable {name} still reads a key variable")
    for keyword in ("artifacts", "cache"):
        for pattern in _paths_of(job.get(keyword)):
            covered = [path for path in paths if _covers(pattern, path)]
            if covered:
                failures.append(f"{keyword} path {pattern} still holds the key file {covered[0]}")
    return failures


@functools.lru_cache(maxsize=1024)
def _needle_pattern(needles: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for "the line contains any of these strings" (None: there are none)."""
    return re.compile("|".join(map(re.escape, needles))) if needles else None


def _path_consumer(segment: shell.Segment, paths: frozenset[str]) -> bool:
    """Commands that may still name the (now credential-configuration) file."""
    if len(segment.stages) != 1:
        return False
    stage = segment.stages[0]
    if stage.name in PATH_HARMLESS and not stage.redirects:
        return True
    if stage.name == "echo" and not stage.redirects and not any("$(" in w or "`" in w for w in stage.words):
        return True  # prints the path, never reads the file
    value = _gac_assignment(stage)
    return value is not None and _norm(value, {}) in paths


def _paths_of(section: Any) -> list[str]:
    sections = section if isinstance(section, list) else [section]
    found: list[str] = []
    for item in sections:
        if isinstance(item, dict) and isinstance(item.get("paths"), list):
            found.extend(str(path) for path in item["paths"])
    return found


def _covers(pattern: str, path: str) -> bool:
    if path.startswith(("/", "$", "~")):
        return False  # artifacts and caches only hold files under the project directory
    pattern = shell.normalize_path(pattern).rstrip("/")
    return pattern in (".", "", "*", "**") or path == pattern or path.startswith(pattern + "/") \
        or fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.replace("**/", ""))


_ACCOUNT = re.compile(r"(?:--service-account=|serviceAccounts/)([A-Za-z0-9._%+@-]+?)(?::generateAccessToken|\s|$|\")")


def _account_failures(old: Mapping[str, Any], new: Mapping[str, Any], name: str, expect: Expectation,
                      paths: frozenset[str]) -> list[str]:
    used = sorted({var for line in _script_lines(old) for var in shell.var_refs(line) if var in expect.key_vars}
                  | _credential_variable_keys(old, expect.key_vars))
    named = {match.group(1) for line in _script_lines(new) if "--service-account=" in line or "serviceAccounts/" in line
             for match in _ACCOUNT.finditer(line)}  # (the substring tests only skip lines the regex cannot match)
    named |= _environment_account(new)
    # The rewritten job names its account literally, so it signs in as the same account in every
    # context; each context must have received a key of exactly that account.
    contexts: dict[str, set[str]] = {}
    for var in used:
        for context, email in expect.accounts_in(name, var).items():
            if email:
                contexts.setdefault(context, set()).add(email)
    for context, wanted_here in sorted(contexts.items()):
        if named != wanted_here:
            return [f"signs in as {', '.join(sorted(named)) or 'nobody'} but in {context} it received the key "
                    f"of {', '.join(sorted(wanted_here))}"]
    wanted = {expect.account_for(name, var) for var in used} - {""}
    if wanted and named != wanted:
        return [f"signs in as {', '.join(sorted(named)) or 'nobody'} but its key(s) belong to "
                f"{', '.join(sorted(wanted))}"]
    return []


_CASE = re.compile(r"^case \"\$\{CI_ENVIRONMENT_NAME\}\" in ((?:\"[A-Za-z0-9_./-]+\"\) GCP_WIF_SERVICE_ACCOUNT="
                   r"[A-Za-z0-9._%+@-]+;; )+)\*\) ")
_ARM = re.compile(r"\"([A-Za-z0-9_./-]+)\"\) GCP_WIF_SERVICE_ACCOUNT=([A-Za-z0-9._%+@-]+);;")


def _environment_account(job: Mapping[str, Any]) -> set[str]:
    """The account a per-environment choice (`case "${CI_ENVIRONMENT_NAME}" in …`) gives this job, from
    its own literal `environment:` (an environment set at run time, or none: no account at all)."""
    environment = job.get("environment")
    environment = environment.get("name") if isinstance(environment, dict) else environment
    chosen: set[str] = set()
    for line in _script_lines(job):
        if "CI_ENVIRONMENT_NAME" not in line:
            continue  # _CASE cannot match: skip the whitespace normalisation (bounded cost)
        match = _CASE.match(" ".join(line.split()))
        if match is None:
            continue
        arms = dict(_ARM.findall(match.group(1)))
        if isinstance(environment, str) and "$" not in environment and environment in arms:
            chosen.add(arms[environment])
        else:
            chosen.add("(no account: the job's environment is not one of the choices)")
    return chosen


_PROVIDER_NAMED = re.compile(r"(?://iam\.googleapis\.com/|create-cred-config )(projects/[^\s\"',]+/providers/[a-z0-9-]+)")


def _provider_failures(new: Mapping[str, Any], expect: Expectation) -> list[str]:
    """Every workload identity provider the new steps name (credential configurations, STS
    requests) is the expected one: a token exchanged at another provider's audience is refused."""
    wanted = expect.audience.removeprefix("https://iam.googleapis.com/")
    named = {match.group(1) for line in _script_lines(new) if "iam.googleapis.com/" in line or "create-cred-config " in line
             for match in _PROVIDER_NAMED.finditer(line)}
    wrong = sorted(named - {wanted})
    return [f"exchanges its token at {wrong[0]}, not at the provider {wanted}"] if wrong else []


def _first_difference(before: list[str], after: list[str]) -> str:
    for index, (a, b) in enumerate(zip(before, after, strict=False)):
        if a != b:
            return f"`{_short(a)}` became `{_short(b)}` (command {index + 1})"
    if len(before) > len(after):
        return f"`{_short(before[len(after)])}` is gone"
    return f"`{_short(after[len(before)])}` is new"


def _short(text: str) -> str:
    from migrate.ci.redact import redact

    return redact(" ".join(text.split()))[:100]


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) and not isinstance(value, list) else {}
