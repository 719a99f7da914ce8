"""One CI parser: detection, rewrite and the self-check see the jobs the one resolver
(`migrate.ci.effective`) resolves, as GitLab does (extends deep-merged, then `!reference`, then
`default:` / `inherit:`), and the lines they edit keep their place in the file.

Each case below was missed or misread by the node walker detection used to have of its own."""

from __future__ import annotations

import pytest
from helpers.ci import dedent, run

from migrate.ci import analyze, effective
from migrate.ci.detect import build
from migrate.ci.yamlnodes import Located, compose, construct_nodes


def kinds(text: str) -> dict[str, tuple[str, ...]]:
    return {f.kind: f.jobs for f in analyze(dedent(text)).findings}


def test_variables_from_a_reference_are_seen() -> None:
    """`variables: !reference [...]`: the referenced GOOGLE_APPLICATION_CREDENTIALS points at the
    key file variable, so the job uses the key (the old walker saw no variables at all)."""
    found = kinds("""
        .creds:
          variables:
            GOOGLE_APPLICATION_CREDENTIALS: $GCP_SA_FILE
        deploy:
          variables: !reference [.creds, variables]
          script:
            - terraform apply
    """)
    assert "gac-key-variable" in found and "deploy" in found["gac-key-variable"], found


def test_artifacts_are_deep_merged_from_the_parent() -> None:
    """A child's `artifacts: {expire_in}` is deep-merged over the parent's `artifacts: {paths}`, so
    the key file is still an artifact of the child (the old walker took the child's hash alone)."""
    text = dedent("""
        .keep:
          artifacts:
            paths: [key.json]
        deploy:
          extends: .keep
          artifacts:
            expire_in: 1 hour
          script:
            - echo "$GCP_KEY" > key.json
            - gcloud auth activate-service-account --key-file key.json
    """)
    found = {f.kind: f.jobs for f in analyze(text).findings}
    assert found.get("key-in-artifacts") == ("deploy",), found
    result = run(text)
    assert result.status == "manual" and any("artifact" in reason for reason in result.reasons), result.reasons


def test_inherit_is_deep_merged_along_extends() -> None:
    """`inherit:` merges like any hash: the parent's `default: false` still holds for a child that
    only sets `variables: false`, so the default's key step does not run in the child."""
    text = dedent("""
        default:
          before_script:
            - echo "$GCP_KEY" > key.json
            - gcloud auth activate-service-account --key-file key.json
        .isolated:
          inherit:
            default: false
        lint:
          extends: .isolated
          inherit:
            variables: false
          script:
            - make lint
        deploy:
          script:
            - gcloud storage ls
    """)
    jobs = {job for f in analyze(text).findings for job in f.jobs}
    assert "deploy" in jobs and "lint" not in jobs, jobs


def test_detection_steps_are_the_resolvers_scripts() -> None:
    """Every job's classified steps are exactly the effective script lines of the resolver, in order,
    and each resolved line points at the scalar it is written in (so edits land in the right place)."""
    text = dedent("""
        .auth: &auth
          - echo "$GCP_KEY" > key.json
          - gcloud auth activate-service-account --key-file key.json
        .base:
          before_script: *auth
        .tools:
          script:
            - echo tools
        build:
          extends: .base
          script:
            - !reference [.tools, script]
            - |
              make
              make install
          after_script: [echo done]
    """)
    roots = compose(text)
    documents = construct_nodes(roots)
    resolved = effective.resolve_documents(documents)
    doc = build(text, roots, documents=documents, resolved=resolved)
    lines = text.splitlines()
    for context in doc.contexts:
        job = resolved.job(context.name) or {}
        expected = [line for keyword in ("before_script", "script", "after_script") for line in job.get(keyword) or ()]
        for value in expected:
            assert isinstance(value, Located)
            assert value.strip().split("\n")[0] in lines[value.node.start_mark.line] or value.node.style == "|"
        seen: list[str] = []
        for step in context.steps:
            if not seen or seen[-1] != step.unit.text:
                seen.append(step.unit.text)
        flat = [part for value in expected for part in (value.strip().split("\n") if value.node.style == "|" else [value])]
        assert seen == flat, (context.name, seen, flat)


@pytest.mark.parametrize("wrong", ["no-deep-merge", "no-extends"])
def test_a_broken_resolver_is_caught(wrong: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The artifacts case above depends on the resolver's extends deep merge: break it and the
    detection misses the artifact (the check can fail)."""
    if wrong == "no-deep-merge":
        monkeypatch.setattr(effective, "deep_merge", lambda base, other: {**base, **other}
                            if isinstance(base, dict) and isinstance(other, dict) else other)
    else:
        monkeypatch.setattr(effective, "_extend_all", lambda config, problems: dict(config))
    with pytest.raises(AssertionError):
        test_artifacts_are_deep_merged_from_the_parent()


def test_the_schema_constrains_script_text_only_by_type_and_emptiness() -> None:
    """selfcheck._distinct_jobs validates one job per distinct value *and script shape*: sound only
    while GitLab's schema constrains script entries by type, nesting and emptiness, never by their
    text. Pin that assumption on the vendored schema the self-check uses."""
    from migrate.ci import selfcheck

    definitions = selfcheck.validator().schema["definitions"]
    allowed = {"oneOf", "anyOf", "type", "items", "minItems", "minLength", "markdownDescription", "description",
               "$ref"}

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {key for value in node.values() for key in keys(value)}
        if isinstance(node, list):
            return {key for value in node for key in keys(value)}
        return set()

    for name in ("script", "optional_script"):
        assert keys(definitions[name]) <= allowed, (name, keys(definitions[name]) - allowed)
    shapes = {selfcheck.json.dumps(selfcheck._script_shape(value)) for value in (["echo a"], ["make b"])}
    assert len(shapes) == 1
    assert selfcheck._script_shape([""]) != selfcheck._script_shape(["x"])
