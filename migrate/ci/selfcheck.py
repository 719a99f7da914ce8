"""Check a rewrite before calling it one: the claims a merge request reviewer relies on.

1. the result parses with the GitLab loader;
2. it validates against GitLab's CI JSON schema when the original did (the schema vendored by
   check-jsonschema, the copy GitLab's pipeline editor uses);
3. no non-comment line still activates a key, uses `_json_key` or mentions a key variable, and a
   fresh analysis finds nothing (so a second rewrite is a no-op);
4. every job that authenticated has an ID token for the provider (extends and `default:` resolved,
   a job's own `id_tokens` hiding the default one), or `identity: google_cloud`;
5. every original line that was removed or changed lies in a finding's span (a linear
   subsequence test: the original's other lines appear in the result in order);
6. the *effective* jobs (as GitLab resolves them, `migrate.ci.effective`) pass the independent
   comparison of `migrate.ci.acceptance`: tokens kept and added, only authentication changed, the
   right service account, and nothing reads the key any more.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from migrate.ci import acceptance, effective, limits, tooling
from migrate.ci.detect import DEFAULT_CONTEXT, Document, build
from migrate.ci.includes import pipelines_without
from migrate.ci.yamlnodes import compose, construct_nodes, walk

SCHEMA_PACKAGE = "check_jsonschema.builtin_schemas.vendor"
SCHEMA_FILE = "gitlab-ci.json"
FEDERATED_GAC = re.compile(r"^[\s'\"-]*export GOOGLE_APPLICATION_CREDENTIALS=\"\$\{CI_BUILDS_DIR\}/\.gcp_wif_"
                           r"\$\{CI_JOB_ID\}\.json\"[\s'\"]*$")
SECOND_ANALYSIS_BYTES = 256 * 1024  # above: bounded cost (issue: ≤ 2 s per file) wins over the re-analysis
SECOND_ANALYSIS_STEPS = 20_000  # likewise for effective commands (a small file whose templates fan out)


@functools.lru_cache(maxsize=1)
def validator() -> Draft7Validator:
    """GitLab's CI schema as shipped inside the installed check-jsonschema package."""
    return Draft7Validator(json.loads(schema_text()))


def schema_text() -> str:
    """The vendored schema file, read where the package is installed *without importing it*:
    `check_jsonschema/__init__` imports its command line (click, requests, ruamel.yaml), a tenth
    of the 2 s a `ci rewrite` may take (issue 15 item 4). A package that is not plain files on
    disk (a zip) is read through importlib.resources, which imports it."""
    top, *inner = SCHEMA_PACKAGE.split(".")
    spec = importlib.util.find_spec(top)  # a top-level package's spec: found, not executed
    for root in (spec.submodule_search_locations or ()) if spec is not None else ():
        path = Path(root, *inner, SCHEMA_FILE)
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def schema_errors(documents: list[Any]) -> list[str]:
    errors = []
    for document in documents:
        if isinstance(document, dict):
            for error in validator().iter_errors(_distinct_jobs(to_json(document))):
                where = "/".join(str(part) for part in error.absolute_path) or "(top)"
                errors.append(f"{where}: {error.message[:120]}")
    return errors


def _distinct_jobs(document: dict[str, Any]) -> dict[str, Any]:
    """The document with one job per distinct job value: the schema checks each job on its own
    (`additionalProperties: {$ref: job}`, `patternProperties: {^[.]: ...}`), so jobs equal in value
    and in kind (hidden or not; the named top-level keys are kept as they are) have the same errors,
    and thousands of identical keyed jobs cost one validation, not thousands."""
    seen: set[tuple[bool, str]] = set()
    result: dict[str, Any] = {}
    for name, value in document.items():
        if name in validator().schema.get("properties", {}) or not isinstance(value, dict):
            result[name] = value
            continue
        shape = {keyword: _script_shape(item) if keyword in SCRIPT_KEYWORDS else item for keyword, item in value.items()}
        key = (name.startswith("."), json.dumps(shape, sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            result[name] = value
    return result


SCRIPT_KEYWORDS = ("before_script", "script", "after_script")


def _script_shape(value: Any) -> Any:
    """What GitLab's schema can tell apart in a script (`definitions.script` / `optional_script`:
    a string of `minLength: 1`, or arrays of strings nested once, `minItems: 1`): types, nesting
    and empty strings; the commands' text is never constrained (a test pins that assumption)."""
    if isinstance(value, list):
        return [_script_shape(item) for item in value]
    if isinstance(value, str):
        return "s" if value else ""
    return value


def check(doc: Document, new_text: str, options: Any, token_var: str) -> list[str]:
    """Reasons the rewrite is not safe to propose (empty: it is)."""
    try:
        limits.check_text(new_text)  # GitLab refuses a configuration over its size limit too
        roots = compose(new_text, measure=False)
        documents = construct_nodes(roots)
    except (yaml.YAMLError, limits.InputRefused) as error:
        return ["the result does not parse: " + " ".join(str(error).split())[:160]]
    failures: list[str] = []
    original_docs = original_documents(doc)
    changed = _changed_keys(original_docs, documents)
    old_part, new_part = _only(original_docs, changed), _only(documents, changed)
    if changed is not None:  # only what differs is validated, on both sides (errors *introduced* count)
        old_part, new_part = _new_items(new_part, old_part), _new_items(old_part, new_part)
    errors = schema_errors(new_part)  # the original is validated only when the result fails
    if errors and not schema_errors(old_part):
        failures.append(f"the result fails GitLab's CI schema: {errors[0]}")
    included = tuple(getattr(options, "included", ()) or ())
    try:
        alone = effective.resolve_documents(documents)
        after = alone if not included else effective.resolve_documents(documents, included)
    except (yaml.YAMLError, limits.InputRefused, RecursionError) as error:
        return failures + [f"the jobs cannot be resolved: {' '.join(str(error).split())[:120]}"]
    if _duplicate_keys(roots) > _duplicate_keys_in(doc.pipe.nodes):  # the original's nodes: walked once already
        failures.append("the result repeats a key in a mapping (GitLab keeps only the last one)")
    failures.extend(_leftovers(doc, new_text, roots, documents, alone))
    failures.extend(_tokens(doc, after, options))
    failures.extend(_changed_lines(doc, new_text))
    if not failures:
        failures.extend(_effective_jobs(doc, after, options, token_var))
    facts = getattr(options, "include_facts", None)
    if not failures and facts is not None and (facts.conditional or facts.unresolved):
        failures.extend(_other_pipelines(doc, new_text, options, token_var, facts))
    return failures


def _other_pipelines(doc: Document, new_text: str, options: Any, token_var: str, facts: Any) -> list[str]:
    """The rewrite must hold in every pipeline, not only in the one with every include merged.

    A file included under `rules:` is merged only in the pipelines a rule matches
    (`lib/gitlab/ci/config/external/rules.rb`): the whole check runs again without the
    conditional files (all of them, then each alone). A file whose `inputs:` interpolation this
    tool cannot reproduce exactly (`migrate.ci.includes`) must not matter to any keyed job."""
    import dataclasses

    texts = tuple(options.included)
    keyed = sorted(_keyed_jobs(doc))
    try:
        full = original_jobs(doc, texts)
        for index, why in sorted(facts.unresolved.items()):
            unknown = original_jobs(doc, texts[:index] + (facts.alternates[index],) + texts[index + 1:])
            for job in keyed:
                if full.job(job) != unknown.job(job):
                    return [f"job {job} depends on {facts.labels[index]}, whose inputs this tool cannot "
                            f"interpolate exactly: {why}"]
    except (yaml.YAMLError, limits.InputRefused, RecursionError) as error:
        return [f"the jobs cannot be resolved: {' '.join(str(error).split())[:120]}"]
    worlds = pipelines_without(facts)  # the same pipelines the consumer check judges
    if isinstance(worlds, str):
        return [worlds]
    for world in worlds:
        kept = tuple(text for index, text in enumerate(texts) if index not in world)
        failures = check(doc, new_text, dataclasses.replace(options, included=kept, include_facts=None), token_var)
        if not failures:  # the job's image and tools in that pipeline (migrate.ci.tooling)
            resolved = original_jobs(doc, kept)
            failures = [problem for name, job in [*resolved.jobs.items(), *resolved.hidden.items()]
                        if acceptance.is_keyed(job, frozenset(doc.key_vars), frozenset())
                        for problem in tooling.problems(name, job)]
        if failures:
            names = ", ".join(facts.labels[index] for index in world)
            return [f"in pipelines where the conditional include {names} (include with rules:) is not merged: "
                    f"{failures[0]}"]
    return []


def _duplicate_keys(roots: list[yaml.Node]) -> int:
    """Keys written twice in one mapping, over the whole file (a `<<:` merge is not one)."""
    return _duplicate_keys_in([node for root in roots for node in walk(root)])


def _duplicate_keys_in(nodes: list[yaml.Node]) -> int:
    """`_duplicate_keys` over every node of a file, each once (`FileNodes.nodes`)."""
    count = 0
    for node in nodes:
        if isinstance(node, yaml.MappingNode):
            names = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode) and key.value != "<<"
                     and key.start_mark.line >= node.start_mark.line]
            count += len(names) - len(set(names))
    return count


def original_documents(doc: Document) -> list[Any]:
    """The original's constructed documents, built once per rewrite."""
    if "documents" not in doc.cache:
        doc.cache["documents"] = construct_nodes(doc.roots)
    documents: list[Any] = doc.cache["documents"]
    return documents


def original_jobs(doc: Document, included: tuple[str, ...]) -> effective.Resolved:
    """The original's effective jobs, resolved once per set of included files (detection resolved
    the file alone already)."""
    key = ("resolved", tuple(included))
    if key not in doc.cache:
        doc.cache[key] = effective.resolve_documents(original_documents(doc), included)
    resolved: effective.Resolved = doc.cache[key]
    return resolved


def _changed_keys(before: list[Any], after: list[Any]) -> set[str] | None:
    """Top-level keys whose value differs (None: the document structure itself changed)."""
    if len(before) != len(after) or not all(isinstance(a, dict) and isinstance(b, dict)
                                            for a, b in zip(before, after, strict=True)):
        return None
    keys: set[str] = set()
    for a, b in zip(before, after, strict=True):
        keys.update(str(key) for key in set(a) | set(b) if a.get(key) != b.get(key))
    return keys


def _only(documents: list[Any], keys: set[str] | None) -> list[Any]:
    """The documents reduced to the changed keys: the schema then checks what the rewrite touched
    (validating a 1 MiB file twice costs more than the whole rewrite budget)."""
    if keys is None:
        return documents
    return [{key: value for key, value in document.items() if str(key) in keys} for document in documents]


def _new_items(before: list[Any], after: list[Any]) -> list[Any]:
    """For the schema, list values keep only their new items (the original's items already
    validated): a 50,000-line script is then one or two items, not 50,000 schema descents."""
    result = []
    for old, new in zip(before, after, strict=True):
        if not isinstance(old, dict) or not isinstance(new, dict):
            result.append(new)
            continue
        document = {}
        for key, value in new.items():
            document[key] = _trim(old.get(key), value)
        result.append(document)
    return result


def _trim(old: Any, new: Any) -> Any:
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: _trim(old.get(key), value) for key, value in new.items()}
    if isinstance(new, list) and isinstance(old, list) and len(new) > 8 \
            and all(isinstance(item, str) for item in new) and all(isinstance(item, str) for item in old):
        seen = set(old)
        fresh = [item for item in new if item not in seen]
        return fresh + new[:1] if fresh or not new else new[:1]
    return new


def expectation(doc: Document, options: Any, token_var: str) -> acceptance.Expectation:
    """What the effective jobs must show, from the options and the original's key variables."""
    version = getattr(options, "gitlab_version", None)
    mode = "identity" if getattr(options, "google_cloud_identity", False) else \
        "jwt_v2" if version is not None and version < (15, 7) else "id_tokens"
    accounts = dict(getattr(options, "service_accounts", {}) or {})
    per_job = dict(getattr(options, "job_service_accounts", {}) or {})
    fallback = str(getattr(options, "service_account", "") or "")
    contexts = dict(getattr(options, "context_accounts", {}) or {})

    def account_for(job: str, var: str) -> str:
        return dict(per_job.get(job) or {}).get(var) or accounts.get(var) or fallback

    def accounts_in(job: str, var: str) -> dict[str, str]:
        return dict(dict(contexts.get(job) or {}).get(var) or {})

    return acceptance.Expectation(frozenset(doc.key_vars),
                                  f"https://iam.googleapis.com/{getattr(options, 'provider', '')}", mode, account_for,
                                  accounts_in)


def _effective_jobs(doc: Document, after: effective.Resolved, options: Any, token_var: str) -> list[str]:
    try:
        included = tuple(getattr(options, "included", ()) or ())
        before = original_jobs(doc, included)
    except (yaml.YAMLError, limits.InputRefused, RecursionError) as error:
        return [f"the jobs cannot be resolved: {' '.join(str(error).split())[:120]}"]
    if before.problems:
        return [f"GitLab would not resolve the jobs as written: {before.problems[0]}"]
    return acceptance.compare(before, after, expectation(doc, options, token_var))


def _leftovers(doc: Document, new_text: str, roots: list[yaml.Node], documents: list[Any],
               resolved: effective.Resolved) -> list[str]:
    failures = []
    # bare names (`validateVars KEY`) too, but only names that cannot be ordinary words or paths
    names = sorted((name for name in doc.key_vars if "_" in name or len(name) >= 8), key=len, reverse=True)
    word = re.compile(r"(?<![A-Za-z0-9_./-])(?:" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_.-])") \
        if names else None
    refs = sorted(doc.key_vars, key=len, reverse=True)
    ref = re.compile(r"\$\{?(?:" + "|".join(map(re.escape, refs)) + r")(?![A-Za-z0-9_])") if refs else None
    for number, line in enumerate(new_text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        code = line.split(" #", 1)[0]
        if FEDERATED_GAC.search(code):
            continue  # the script points the file-type GOOGLE_APPLICATION_CREDENTIALS at the configuration
        if "activate-service-account" in code or "_json_key" in code or (word and word.search(code)) \
                or (ref and ref.search(code)):
            failures.append(f"line {number} still uses a key: {line.strip()[:100]}")
    if len(new_text) > SECOND_ANALYSIS_BYTES or sum(len(context.steps) for context in doc.contexts) > SECOND_ANALYSIS_STEPS:
        return failures  # the line scan above is the guarantee; a second full analysis costs too much here
    again = build(new_text, roots, doc.key_vars, documents, resolved)
    if again.findings and not failures:
        first = min(again.findings.values(), key=lambda f: f.first)
        failures.append(f"a second analysis still finds {first.kind} at line {first.first + 1}")
    return failures


def _keyed_jobs(doc: Document) -> set[str]:
    jobs: set[str] = set()
    for names in doc.finding_jobs.values():
        jobs.update(name for name in names if name != DEFAULT_CONTEXT)
    return jobs


def _tokens(doc: Document, after: effective.Resolved, options: Any) -> list[str]:
    """Every job that authenticated gets an ID token for the provider (or the identity) in the
    result, as the one resolver resolves it (extends deep-merged, a job's own `id_tokens` hiding
    the default one, `inherit:default`)."""
    version = getattr(options, "gitlab_version", None)
    if version is not None and version < (15, 7) and not getattr(options, "google_cloud_identity", False):
        return []
    audience = f"https://iam.googleapis.com/{getattr(options, 'provider', '')}"
    identity = bool(getattr(options, "google_cloud_identity", False))
    missing = [job for job in sorted(_keyed_jobs(doc))
               if not (_has_identity(after.job(job)) if identity else _has_token(after.job(job), audience))]
    return [f"job(s) without an ID token for the provider: {', '.join(missing[:6])}"] if missing else []


def _has_token(job: Any, audience: str) -> bool:
    tokens = job.get("id_tokens") if isinstance(job, dict) else None
    for token in tokens.values() if isinstance(tokens, dict) else ():
        aud = token.get("aud") if isinstance(token, dict) else None
        values = aud if isinstance(aud, list) else [aud]
        if any(isinstance(value, str) and audience in value for value in values):
            return True
    return False


def _has_identity(job: Any) -> bool:
    return isinstance(job, dict) and job.get("identity") == "google_cloud"


def _changed_lines(doc: Document, new_text: str) -> list[str]:
    """Original lines outside every finding must appear in the result, in order (O(n), no line diff)."""
    before, after = doc.text.splitlines(), new_text.splitlines()
    inside = [False] * (len(before) + 2)
    for finding in doc.findings.values():
        for number in range(finding.first, min(finding.last, len(before) - 1) + 1):
            inside[number] = True
    position = 0
    for number, line in enumerate(before):
        if inside[number] or not line.strip():
            continue
        while position < len(after) and after[position] != line:
            position += 1
        if position == len(after):
            return [f"line {number + 1} changed outside any finding"]
        position += 1
    return []
