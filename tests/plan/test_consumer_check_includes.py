"""The consumer check resolves a consumer's pipeline as the rewrite self-check does (issue 15 §3):
`include:` entries with `rules:` and `spec: inputs` (`migrate.ci.includes`, the one model of both).

GitLab merges a file included with `rules:` only in the pipelines a rule matches
(`lib/gitlab/ci/config/external/rules.rb`), and interpolates `$[[ inputs.NAME ]]` blocks of a file
with a `spec: inputs` header before merging it (`lib/gitlab/ci/config/external/interpolator.rb`).
Before this change the consumer check merged every file as written, always: a consumer job that
gets the template's token only through a conditional include, or whose `id_tokens` an include
replaces under an interpolated job name, was accepted — a wrong rewrite.

The generated test builds consumer pipelines from a few include shapes and checks the verdict
against an oracle written here: every subset of the conditional files left out (not only the
subsets the check tries), inputs substituted as plain strings, then the check on plain files (no
rules, no inputs) — the rewrite is acceptable only when every world passes. The check before this
change (texts as written, one world) is shown to fail the same oracle.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from helpers.consumer_scenario import AUD, LOCAL, PROVIDER, ROOT, SA, TEMPLATE, TPL

from migrate import ci
from migrate.ci import acceptance, includes
from migrate.plan import consumer_check
from migrate.plan.consumer_check import ConsumerPipeline, FileId, PipelineFile, check, expectation

PIPELINE = ConsumerPipeline("acme/web", (PipelineFile(ROOT, (TPL, LOCAL)), PipelineFile(TPL), PipelineFile(LOCAL)))
TPL_ENTRY = "  - project: acme/templates\n    file: gcp.yml\n    ref: main\n"
VAULT = ".vault:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.acme.example\n"
RULES = "    rules:\n      - if: $CI_COMMIT_BRANCH == \"main\"\n"


@pytest.fixture(scope="module")
def rewritten() -> str:
    result = ci.rewrite(TEMPLATE, ci.RewriteOptions(provider=PROVIDER, service_account=SA,
                                                    key_variables=frozenset({"GCP_SA_KEY"}), path="gcp.yml"))
    assert result.status == "rewritten" and result.text, result.reasons
    return result.text


def expect() -> acceptance.Expectation:
    return expectation(["GCP_SA_KEY"], AUD, "id_tokens", {})


def test_a_job_that_gets_the_template_only_through_a_conditional_include_is_refused(rewritten: str) -> None:
    """In pipelines where `ci/jobs.yml` is not merged, `deploy` only copies the template's script
    with `!reference`: no ID token reaches it."""
    root = ("include:\n" + TPL_ENTRY + "  - local: ci/jobs.yml\n" + RULES +
            "deploy:\n  script:\n    - !reference [.gcp-auth, before_script]\n    - gcloud storage ls\n")
    texts = {ROOT: root, TPL: TEMPLATE, LOCAL: "deploy:\n  extends: .gcp-auth\n"}
    reasons = check(PIPELINE, texts, {}, TPL, rewritten, expect())
    assert reasons and "conditional include ci/jobs.yml" in reasons[0], reasons
    # the same files without rules: every pipeline merges ci/jobs.yml, and deploy gets the token
    plain = {**texts, ROOT: root.replace(RULES, "")}
    assert check(PIPELINE, plain, {}, TPL, rewritten, expect()) == []


def test_a_job_named_through_inputs_is_judged_with_the_interpolated_name(rewritten: str) -> None:
    """`$[[ inputs.job ]]` is `deploy`: its `id_tokens: !reference [...]` replaces the hash `deploy`
    gets from `.gcp-auth` (extends first, then !reference), so the template's new token is lost."""
    root = ("include:\n" + TPL_ENTRY + "  - local: ci/jobs.yml\n    inputs:\n      job: deploy\n" + VAULT +
            "deploy:\n  extends: .gcp-auth\n  script: [gcloud storage ls]\n")
    local = "spec:\n  inputs:\n    job:\n---\n$[[ inputs.job ]]:\n  id_tokens: !reference [.vault, id_tokens]\n"
    reasons = check(PIPELINE, {ROOT: root, TPL: TEMPLATE, LOCAL: local}, {}, TPL, rewritten, expect())
    assert reasons and "job deploy" in reasons[0], reasons


def test_a_changed_job_depending_on_inputs_it_cannot_interpolate_is_refused(rewritten: str) -> None:
    root = ("include:\n" + TPL_ENTRY + "  - local: ci/jobs.yml\n    inputs:\n      region: eu\n" +
            "deploy:\n  extends: .gcp-auth\n  script: [gcloud storage ls]\n")
    local = "spec:\n  inputs:\n    region:\n---\ndeploy:\n  variables:\n    REGION: $[[ inputs.region | expand_vars ]]\n"
    reasons = check(PIPELINE, {ROOT: root, TPL: TEMPLATE, LOCAL: local}, {}, TPL, rewritten, expect())
    assert reasons and "cannot interpolate exactly" in reasons[0] and "ci/jobs.yml" in reasons[0], reasons
    # a job the rewrite does not change may depend on it: nothing to prove there
    other = local.replace("deploy:", "lint:\n  script: [ls]\n  variables:\n    R: x\nnot-deploy:\n  script: [ls]")
    assert check(PIPELINE, {ROOT: root, TPL: TEMPLATE, LOCAL: other}, {}, TPL, rewritten, expect()) == []


# -- generated pipelines against an oracle of every world ---------------------------------------

SHAPES = {  # what ci/jobs.yml (and a second local file) say about `deploy`
    "extends": "deploy:\n  extends: .gcp-auth\n",
    "vault": "deploy:\n  id_tokens: !reference [.vault, id_tokens]\n",
    "neutral": "lint:\n  script: [ls]\n",
}
ROOT_JOBS = {  # how the root's `deploy` gets the template's authentication
    "copy": "deploy:\n  script:\n    - !reference [.gcp-auth, before_script]\n    - gcloud storage ls\n",
    "extends": "deploy:\n  extends: .gcp-auth\n  script: [gcloud storage ls]\n",
}
SECOND: FileId = ("acme/web", "ci/more.yml", "main")


def build(root_job: str, shapes: tuple[str, str], modes: tuple[str, str]) -> tuple[ConsumerPipeline, dict[FileId, str]]:
    """Two local includes, each plain, under rules, or with its job name passed as an input."""
    entries, texts = "include:\n" + TPL_ENTRY, {TPL: TEMPLATE}
    for fid, shape, mode in zip((LOCAL, SECOND), shapes, modes, strict=True):
        entries += f"  - local: {fid[1]}\n" + (RULES if mode == "rules" else "")
        body = SHAPES[shape]
        if mode == "inputs":
            entries += "    inputs:\n      job: deploy\n"
            body = "spec:\n  inputs:\n    job:\n---\n" + body.replace("deploy:", "$[[ inputs.job ]]:")
        texts[fid] = body
    texts[ROOT] = entries + VAULT + ROOT_JOBS[root_job]
    pipeline = ConsumerPipeline("acme/web", (PipelineFile(ROOT, (TPL, LOCAL, SECOND)), PipelineFile(TPL),
                                             PipelineFile(LOCAL), PipelineFile(SECOND)))
    return pipeline, texts


def oracle(pipeline: ConsumerPipeline, texts: dict[FileId, str], rewritten: str, modes: tuple[str, str]) -> bool:
    """Acceptable iff the check passes on plain files in every subset of conditional files."""
    conditional = [fid for fid, mode in zip((LOCAL, SECOND), modes, strict=True) if mode == "rules"]
    plain = {fid: text.replace(RULES, "").replace("$[[ inputs.job ]]", "deploy").split("---\n")[-1]
             for fid, text in texts.items()}
    plain[ROOT] = plain[ROOT].replace("    inputs:\n      job: deploy\n", "")
    for size in range(len(conditional) + 1):
        for left_out in itertools.combinations(conditional, size):
            root = plain[ROOT]
            for fid in left_out:
                root = root.replace(f"  - local: {fid[1]}\n", "")
            kept = tuple(f for f in (TPL, LOCAL, SECOND) if f not in left_out)
            world = ConsumerPipeline("acme/web", (PipelineFile(ROOT, kept), *(PipelineFile(f) for f in kept)))
            if check(world, {**plain, ROOT: root}, {}, TPL, rewritten, expect()):
                return False
    return True


CASES = [(job, shapes, modes) for job in ROOT_JOBS for shapes in itertools.product(SHAPES, repeat=2)
         for modes in itertools.product(("plain", "rules", "inputs"), repeat=2)]


def disagreements(rewritten: str) -> list[tuple[Any, ...]]:
    found = []
    for job, shapes, modes in CASES:
        pipeline, texts = build(job, shapes, modes)
        accepted = not check(pipeline, texts, {}, TPL, rewritten, expect())
        if accepted != oracle(pipeline, texts, rewritten, modes):
            found.append((job, shapes, modes, accepted))
    return found


def test_generated_pipelines_agree_with_every_world(rewritten: str) -> None:
    verdicts = set()
    for job, shapes, modes in CASES[::7]:
        pipeline, texts = build(job, shapes, modes)
        verdicts.add(oracle(pipeline, texts, rewritten, modes))
    assert verdicts == {True, False}  # both outcomes are generated
    assert disagreements(rewritten) == []


def test_the_oracle_catches_the_check_that_ignores_rules_and_inputs(rewritten: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The old resolution: every file as written, in every pipeline."""
    def as_written(text: str, project: str, included: Any, ids: Any) -> includes.IncludeFacts:
        return includes.IncludeFacts(tuple(included), tuple(i[1] for i in ids))

    monkeypatch.setattr(consumer_check.includes, "analyse", as_written)
    assert disagreements(rewritten)
