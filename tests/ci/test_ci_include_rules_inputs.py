"""Conditional includes (`include:` with `rules:`) and `spec:inputs` interpolation (issue 15 item 1).

GitLab merges an included file with `rules:` only in the pipelines a rule matches
(`lib/gitlab/ci/config/external/rules.rb`), and interpolates `$[[ inputs.NAME ]]` in a file with a
`spec:inputs` header before merging it (`lib/gitlab/ci/interpolation/`). A rewrite proven only
with every include merged, or with the blocks left as literal text, can break a real pipeline.
Each attacking case below was accepted (`rewritten`) before these rules were modelled."""

from __future__ import annotations

import itertools

import pytest
from helpers.ci import dedent, run

from migrate.ci import includes

AUTH = """\
    - echo "$GCP_KEY" > key.json
    - gcloud auth activate-service-account --key-file key.json
"""
IDS = (("g/app", "ci/extra.yml", "main"),)
RULES = """\
include:
  - local: ci/extra.yml
    rules:
      - if: $CI_COMMIT_BRANCH == "main"
"""
PLAIN_INCLUDE = "include:\n  - local: ci/extra.yml\n"
OLD_SDK = "google/cloud-sdk:300.0.0"  # before `gcloud auth login --cred-file` (363.0.0)
NEW_SDK = "google/cloud-sdk:470.0.0"


def keyed_main(include: str, image: str = OLD_SDK) -> str:
    return include + dedent(f"""
        default:
          image: {image}
        deploy:
          script:
        %s    - gcloud storage ls
        """) % AUTH


def rewrite(text: str, extra: str, ids: tuple[tuple[str, str, str], ...] = IDS) -> tuple[str, tuple[str, ...]]:
    result = run(text, included=(extra,), included_ids=ids, project="g/app")
    return result.status, result.reasons


# -- rules: ----------------------------------------------------------------------------------

NEWER_IMAGE = f"deploy:\n  image: {NEW_SDK}\n"


def test_a_conditional_include_that_fixes_the_image_does_not_prove_the_other_pipelines() -> None:
    """The include that replaces the old Cloud SDK image applies on main only: on other branches
    the job runs the old SDK, which cannot take a credential configuration."""
    status, reasons = rewrite(keyed_main(RULES), NEWER_IMAGE)
    assert status == "manual", reasons
    assert any("conditional include ci/extra.yml" in r and "is not merged" in r and "300.0.0" in r
               for r in reasons), reasons


def test_the_same_include_without_rules_is_rewritten() -> None:
    """Before/after: merged in every pipeline, the newer image holds everywhere."""
    status, reasons = rewrite(keyed_main(PLAIN_INCLUDE), NEWER_IMAGE)
    assert status == "rewritten", reasons


def test_a_conditional_include_the_job_does_not_depend_on_is_rewritten() -> None:
    status, reasons = rewrite(keyed_main(RULES, NEW_SDK), "lint:\n  script:\n    - make lint\n")
    assert status == "rewritten", reasons


def test_conditional_default_tokens_are_kept_in_both_pipelines() -> None:
    """`default:id_tokens` from a conditional include: the token goes into this file's `default:`,
    which holds with and without the included one."""
    vault = "default:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.example.com\n"
    status, reasons = rewrite(keyed_main(RULES, NEW_SDK), vault)
    assert status == "rewritten", reasons


def test_without_ids_any_rule_makes_every_include_conditional() -> None:
    """A caller that passes only texts: the entry cannot be matched to its file, so the file is
    taken as conditional (never as always merged)."""
    status, reasons = rewrite(keyed_main(RULES), NEWER_IMAGE, ids=())
    assert status == "manual", reasons


def test_a_file_included_by_a_conditional_file_is_conditional() -> None:
    text = RULES + "x: 1\n"
    facts = includes.analyse(text, "g/app", ["include: ci/nested.yml\n", "a:\n  script: [b]\n"],
                             [("g/app", "ci/extra.yml", "main"), ("g/app", "ci/nested.yml", "main")])
    assert facts.conditional == (0, 1)
    facts = includes.analyse(PLAIN_INCLUDE, "g/app", ["include: ci/nested.yml\n", "a:\n  script: [b]\n"],
                             [("g/app", "ci/extra.yml", "main"), ("g/app", "ci/nested.yml", "main")])
    assert facts.conditional == ()


def test_the_world_check_is_what_catches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliberately broken variant: with the conditional files reported as always merged, the
    attacking case is accepted again — the check above is what refuses it."""
    real = includes.analyse

    def always_merged(*args: object, **kwargs: object) -> includes.IncludeFacts:
        facts = real(*args, **kwargs)  # type: ignore[arg-type]
        return includes.IncludeFacts(facts.texts, facts.labels, (), facts.unresolved)

    monkeypatch.setattr(includes, "analyse", always_merged)
    status, reasons = rewrite(keyed_main(RULES), NEWER_IMAGE)
    assert status == "rewritten", reasons


# -- inputs: ---------------------------------------------------------------------------------

def template(image_line: str) -> str:
    return dedent(f"""
        spec:
          inputs:
            image:
              default: {NEW_SDK}
            stage:
              default: test
        ---
        .gcp-base:
          stage: $[[ inputs.stage ]]
          {image_line}
        """)


def consumer(inputs: str = "") -> str:
    return "include:\n  - local: ci/extra.yml\n" + inputs + dedent("""
        deploy:
          extends: .gcp-base
          script:
        %s    - gcloud storage ls
        """) % AUTH


def test_inputs_are_interpolated_before_the_image_is_judged() -> None:
    """`image: $[[ inputs.image ]]` with `inputs: {image: <old SDK>}`: the job runs the old SDK.
    Read literally, the image was unknown and the rewrite was accepted."""
    status, reasons = rewrite(consumer(f"    inputs:\n      image: {OLD_SDK}\n"), template("image: $[[ inputs.image ]]"))
    assert status == "manual" and any("300.0.0" in r for r in reasons), reasons


def test_the_default_input_is_used_when_none_is_given() -> None:
    status, reasons = rewrite(consumer(), template("image: $[[ inputs.image ]]"))
    assert status == "rewritten", reasons


def test_an_input_with_a_function_is_manual_when_the_job_depends_on_it() -> None:
    status, reasons = rewrite(consumer(), template("image: $[[ inputs.image | expand_vars ]]"))
    assert status == "manual", reasons
    assert any("job deploy depends on ci/extra.yml, whose inputs this tool cannot interpolate exactly" in r
               for r in reasons), reasons


def test_an_input_the_job_does_not_depend_on_does_not_block() -> None:
    text = template("image: " + NEW_SDK) + "lint:\n  script:\n    - echo $[[ inputs.stage | truncate(0,2) ]]\n"
    status, reasons = rewrite(consumer(), text)
    assert status == "rewritten", reasons


@pytest.mark.parametrize(("inputs", "why"), [
    ("    inputs:\n      nope: x\n", "not declared"),
    ("    inputs:\n      image: 'a b: c'\n", "not plain text"),
])
def test_inputs_gitlab_rejects_or_this_tool_cannot_place_are_unresolved(inputs: str, why: str) -> None:
    facts = includes.analyse(consumer(inputs), "g/app", [template("image: $[[ inputs.image ]]")], IDS)
    assert why in facts.unresolved.get(0, ""), facts.unresolved


def test_interpolation_matches_a_hand_written_expansion() -> None:
    """Generated: every pair of plain values interpolates to the text written by hand."""
    values = ["test", "deploy-eu", "registry.example.com/sdk:470.0.0", "a.b_c", "x@y"]
    for stage, image in itertools.product(values, values):
        got = includes.interpolate(template("image: $[[ inputs.image ]]"), [{"stage": stage, "image": image}])
        assert got == f".gcp-base:\n  stage: {stage}\n  image: {image}\n", (stage, image, got)
    broken = includes.interpolate(template("image: $[[ inputs.image ]]"), [{"stage": "a", "image": "b"}])
    assert broken != ".gcp-base:\n  stage: b\n  image: a\n"


def test_the_plan_rewriter_passes_the_include_ids() -> None:
    """The plan's rewriter (and apply's recompute, which builds the same request) hands the ids
    through: the conditional include is judged as such in `plan`, not only in this module."""
    from helpers.ci import AUD, SA

    from migrate.plan.planner import RewriteRequest, default_rewriter

    rewriter = default_rewriter()

    def request(ids: tuple[tuple[str, str, str], ...]) -> RewriteRequest:
        return RewriteRequest(".gitlab-ci.yml", keyed_main(RULES), AUD, {"GCP_KEY": SA}, ("GCP_KEY",), "17.5.0",
                              included=(NEWER_IMAGE,), included_ids=ids, project="g/app")

    outcome = rewriter(request(IDS))
    assert outcome.status == "manual" and any("conditional include" in r for r in outcome.reasons), outcome
    assert rewriter(request(IDS)).status == "manual"
    plain = RewriteRequest(".gitlab-ci.yml", keyed_main(PLAIN_INCLUDE), AUD, {"GCP_KEY": SA}, ("GCP_KEY",),
                           "17.5.0", included=(NEWER_IMAGE,), included_ids=IDS, project="g/app")
    assert rewriter(plain).status == "rewritten", rewriter(plain).reasons


def test_remote_and_template_entries_with_rules_are_matched_to_their_files() -> None:
    text = dedent("""
        include:
          - remote: https://example.com/ci/base.yml
            rules:
              - if: $CI_COMMIT_TAG
          - template: Acme/Base.gitlab-ci.yml
        """)
    ids = [("@remote", "https://example.com/ci/base.yml", ""), ("@gitlab-templates", "Acme/Base.gitlab-ci.yml", "")]
    facts = includes.analyse(text, "g/app", ["a:\n  script: [b]\n", "c:\n  script: [d]\n"], ids)
    assert facts.conditional == (0,)
