"""A job written in flow style on one line (issue 21): rewritten in block style, touching only it."""

from __future__ import annotations

from helpers.ci import CREATE, dedent, run
from helpers.ci_oracle import oracle
from helpers.ci_rewrite_cases import FILE_VAR, expected
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.ci import effective
from migrate.ci.flowjobs import block_style
from migrate.ci.yamlnodes import FileNodes, compose


def test_flow_job_becomes_block_style_and_others_are_untouched() -> None:
    before = dedent("""
        stages: [build, deploy]
        build: {stage: build, image: node:20, script: [npm ci, npm run build]}
        deploy: {stage: deploy, image: "google/cloud-sdk:470.0.0", tags: [gcp], script: ["gcloud auth activate-service-account --key-file=$KF", "gcloud run deploy app"]}  # prod
        """)
    result = run(before)
    assert result.status == "rewritten", result.reasons
    assert result.text == expected(f"""
        stages: [build, deploy]
        build: {{stage: build, image: node:20, script: [npm ci, npm run build]}}
        deploy:  # prod
          @TOKENS@
          stage: deploy
          image: "google/cloud-sdk:470.0.0"
          tags: [gcp]
          script:
            - echo "${{GCP_ID_TOKEN}}" > {FILE_VAR[0]}
            - {CREATE} --credential-source-file={FILE_VAR[0]} --output-file={FILE_VAR[1]}
            - gcloud auth login --cred-file={FILE_VAR[1]}
            - gcloud auth print-access-token > /dev/null
            - "gcloud run deploy app"
        """)
    assert oracle(before, result.text) == []
    assert any("flow style" in note for note in result.reasons)
    assert result.diff.count("\n-") == 1  # one original line changed: the job's


def test_flow_jobs_this_tool_does_not_convert_stay_manual() -> None:
    multi_line = dedent("""
        deploy: {stage: deploy,
          script: ["gcloud auth activate-service-account --key-file=$KF"]}
        """)
    anchored = dedent("""
        deploy: {stage: deploy, script: &s ["gcloud auth activate-service-account --key-file=$KF"]}
        """)
    for text in (multi_line, anchored):
        result = run(text)
        assert result.status == "manual", text
        assert any("flow style" in reason for reason in result.reasons), result.reasons


scalars = st.sampled_from(["deploy", "build", "node:20", '"google/cloud-sdk:470.0.0"', "'x: y'", "true", "3"])
commands = st.sampled_from(["make", "npm ci", '"echo a, b"', "'gcloud run deploy'", "ls -la"])


@st.composite
def flow_job(draw: st.DrawFn) -> str:
    pairs = [f"stage: {draw(scalars)}"]
    if draw(st.booleans()):
        pairs.append(f"image: {draw(scalars)}")
    if draw(st.booleans()):
        pairs.append(f"variables: {{A: {draw(scalars)}, B: {draw(scalars)}}}")
    if draw(st.booleans()):
        pairs.append(f"tags: [{draw(scalars)}, {draw(scalars)}]")
    for keyword in ("before_script", "script", "after_script"):
        if keyword == "script" or draw(st.booleans()):
            pairs.append(f"{keyword}: [{', '.join(draw(st.lists(commands, min_size=1, max_size=3)))}]")
    draw(st.randoms()).shuffle(pairs)
    return "job: {" + ", ".join(pairs) + "}\n"


@settings(max_examples=60, deadline=None)
@given(flow_job())
def test_block_style_means_exactly_the_same_jobs(text: str) -> None:
    """The class: any one-line flow job, its block form resolves to the same effective job."""
    pipe = FileNodes.from_roots(compose(text))
    converted = block_style(pipe, text.splitlines(keepends=True), ["job"], "\n")
    assert converted is not None
    assert converted.startswith("job:\n")
    assert effective.resolve_text(converted).jobs == effective.resolve_text(text).jobs
