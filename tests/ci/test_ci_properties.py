"""Property tests: on generated and mutated CI files analyze/rewrite never crash or hang, and a
rewrite is either fully valid (re-analysis finds nothing, a second rewrite is a no-op) or manual
with a reason."""

from __future__ import annotations

from helpers.ci import run
from helpers.ci_oracle import oracle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.ci import analyze
from migrate.ci.yamlnodes import construct

COMMANDS = [
    'echo "$KEY" | base64 -d > /tmp/key.json',
    "echo $KEY > key.json",
    "gcloud auth activate-service-account --key-file=/tmp/key.json",
    "gcloud auth activate-service-account --key-file key.json",
    "gcloud auth activate-service-account --key-file=$KEY_FILE",
    "export GOOGLE_APPLICATION_CREDENTIALS=/tmp/key.json",
    "cat /tmp/key.json",
    "cat key.json | docker login -u _json_key --password-stdin https://gcr.io",
    "terraform plan",
    "gcloud run deploy app",
    "echo done",
    "cd app && make",
    'if [ -z "$KEY" ]; then echo "KEY is required"; exit 1; fi',
    # issue 21's patterns: project-directory paths, guards, docker without gcloud, a GAC file variable
    'echo "$KEY" > ${CI_PROJECT_DIR}/gcp-key.json',
    "gcloud auth activate-service-account --key-file=gcp-key.json",
    '[ -n "$KEY" ] || exit 1',
    'test -n "$KEY"',
    "docker login -u _json_key --password-stdin https://gcr.io < $KEY_FILE",
    "gcloud auth activate-service-account --key-file=$GOOGLE_APPLICATION_CREDENTIALS",
]

job = st.fixed_dictionaries({
    "name": st.sampled_from(["deploy", ".tpl", "build", "test:unit", ".auth"]),
    "keyword": st.sampled_from(["script", "before_script", "after_script"]),
    "commands": st.lists(st.sampled_from(COMMANDS), min_size=1, max_size=5),
    "extends": st.sampled_from([None, ".tpl", ".auth"]),
    "block": st.booleans(),
    "image": st.sampled_from([None, "docker:24", "google/cloud-sdk:470.0.0", "python:3.12-slim"]),
})


def render(jobs: list[dict[str, object]], default_before: list[str]) -> str:
    lines: list[str] = []
    if default_before:
        lines += ["default:", "  before_script:"] + [f"    - {c}" for c in default_before]
    seen = set()
    for spec in jobs:
        name = str(spec["name"])
        if name in seen:
            continue
        seen.add(name)
        lines.append(f"{name}:")
        if spec["extends"] and spec["extends"] != name:
            lines.append(f"  extends: {spec['extends']}")
        if spec.get("image"):
            lines.append(f"  image: {spec['image']}")
        commands = list(spec["commands"])  # type: ignore[call-overload]
        lines.append(f"  {spec['keyword']}:")
        if spec["block"]:
            lines.append("    - |")
            lines += [f"      {c}" for c in commands]
        else:
            lines += [f"    - {c!s}" if not c.startswith(("'", '"')) else f"    - '{c}'" for c in commands]
        if spec["keyword"] != "script":
            lines += ["  script:", "    - echo run"]
    return "\n".join(lines) + "\n"


def check(text: str) -> None:
    analysis = analyze(text)
    assert isinstance(analysis.findings, tuple)
    result = run(text)
    assert result.status in ("rewritten", "manual", "unchanged")
    if result.status == "manual":
        assert result.reasons
    if result.status == "rewritten":
        assert result.text is not None
        construct(result.text)
        assert analyze(result.text).findings == ()
        assert run(result.text).status == "unchanged"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(job, min_size=1, max_size=4), st.lists(st.sampled_from(COMMANDS), max_size=3))
def test_generated_files(jobs: list[dict[str, object]], default_before: list[str]) -> None:
    check(render(jobs, default_before))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(job, min_size=1, max_size=3), st.integers(min_value=0), st.text(min_size=1, max_size=4))
def test_mutated_files(jobs: list[dict[str, object]], where: int, junk: str) -> None:
    text = render(jobs, [])
    position = where % (len(text) + 1)
    check(text[:position] + junk + text[position:])


# -- the effective-job oracle: every rewrite keeps every job working; broken rewrites are caught ----

def breakages(text: str) -> list[str]:
    """Deliberately broken variants of a good rewrite: token dropped, account swapped, a command lost."""
    from helpers.ci import AUD, SA

    variants = [text.replace(f"aud: {AUD}", "aud: https://example.com"),
                text.replace(SA, "other@proj.iam.gserviceaccount.com")]
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.strip() in ("- echo run", "- terraform plan", "- gcloud run deploy app", "- echo done"):
            variants.append("".join(lines[:index] + lines[index + 1:]))
            break
    return [variant for variant in variants if variant != text]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(job, min_size=1, max_size=4), st.lists(st.sampled_from(COMMANDS), max_size=3))
def test_every_rewrite_passes_the_oracle_and_broken_ones_fail_it(jobs: list[dict[str, object]],
                                                                 default_before: list[str]) -> None:
    text = render(jobs, default_before)
    result = run(text)
    if result.status != "rewritten":
        assert result.status == "unchanged" or result.reasons
        return
    assert result.text is not None
    assert oracle(text, result.text) == []
    for broken in breakages(result.text):
        if effective_of(broken, text) == effective_of(result.text, text):
            continue  # a change no job would see is no breakage
        assert oracle(text, broken), broken


def effective_of(text: str, original: str) -> tuple[object, object]:
    """What runs: the visible jobs, and the templates too when no visible job of the original uses
    a key (a template file, whose hidden jobs are what consumers extend)."""
    from migrate.ci import acceptance, effective

    keys = frozenset(analyze(original).key_variables)
    keyed = any(acceptance.is_keyed(job, keys, frozenset()) for job in effective.resolve_text(original).jobs.values())
    resolved = effective.resolve_text(text)
    return dict(resolved.jobs), ({} if keyed else dict(resolved.hidden))
