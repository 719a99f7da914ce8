"""The pure core of issue 15 §3 (`migrate.plan.consumer_check`): a template rewrite is accepted only when
every job of every pipeline that reads it still gets the provider ID token, keeps its own tokens and
signs in as the account it received — wherever the job is written (root file, local include, nested
project include) and however it gets the template's authentication (`extends`, an intermediate hidden
job, `!reference`).

The template is rewritten by the real rewriter (`migrate.ci.rewrite`). The generated test runs
every combination of *how* a consumer job gets the authentication and *where* the job is written,
against an oracle written from GitLab's rules (extends deep-merges hashes, so the token reaches a job
that extends; a `!reference` copies only what it names, and a `!reference` as `id_tokens` replaces
the merged hash; a job-level `id_tokens` hides `default:id_tokens`), and shows that the check
before this change (a `!reference` search in the consumer's root file only) fails the same oracle.
"""

from __future__ import annotations

import itertools
import re

import pytest
from helpers.consumer_scenario import AUD, LOCAL, PROVIDER, ROOT, SA, TEMPLATE, TPL

from migrate import ci
from migrate.ci import acceptance
from migrate.plan.consumer_check import (
    ConsumerPipeline,
    FileId,
    PipelineFile,
    check,
    expectation,
    merge_order,
)

OTHER = "other@acme-prod.iam.gserviceaccount.com"
LIB: FileId = ("acme/lib", "lib.yml", "main")
VAULT = "      VAULT_ID_TOKEN:\n        aud: https://vault.acme.example\n"


@pytest.fixture(scope="module")
def rewritten() -> str:
    result = ci.rewrite(TEMPLATE, ci.RewriteOptions(provider=PROVIDER, service_account=SA,
                                                    key_variables=frozenset({"GCP_SA_KEY"}), path="gcp.yml"))
    assert result.status == "rewritten" and result.text, result.reasons
    return result.text


def expect(accounts: dict[str, dict[str, dict[str, str]]] | None = None) -> acceptance.Expectation:
    return expectation(["GCP_SA_KEY"], AUD, "id_tokens", accounts or {})


def pipeline(where: str) -> ConsumerPipeline:
    """acme/web's pipeline: the template included by the root, a local include, or a nested library."""
    if where == "root":
        return ConsumerPipeline("acme/web", (PipelineFile(ROOT, (TPL,)), PipelineFile(TPL)))
    if where == "local":
        return ConsumerPipeline("acme/web", (PipelineFile(ROOT, (TPL, LOCAL)), PipelineFile(TPL), PipelineFile(LOCAL)))
    return ConsumerPipeline("acme/web", (PipelineFile(ROOT, (LIB,)), PipelineFile(LIB, (TPL,)), PipelineFile(TPL)))


def test_merge_order_is_the_include_trees_post_order() -> None:
    a, b, c = ("p", "a.yml", "main"), ("q", "b.yml", "main"), ("q", "c.yml", "")
    p = ConsumerPipeline("p", (PipelineFile(("p", ".gitlab-ci.yml", "main"), (a, b)), PipelineFile(a),
                       PipelineFile(b, (("q", "c.yml", "main"), ("q", "gone.yml", "main"))), PipelineFile(c)))
    order, missing = merge_order(p)
    assert order == [a, c, b, ("p", ".gitlab-ci.yml", "main")]
    assert missing == [("q", "gone.yml", "main")]
    # without the tree (older inventories): includes in discovery order, then the root
    flat = ConsumerPipeline("p", (PipelineFile(("p", ".gitlab-ci.yml", "main")), PipelineFile(a), PipelineFile(b)))
    assert merge_order(flat) == ([a, b, ("p", ".gitlab-ci.yml", "main")], [])


def test_a_pipeline_that_is_only_the_file_or_does_not_hold_it_is_not_checked(rewritten: str) -> None:
    alone = ConsumerPipeline("acme/templates", (PipelineFile(TPL),))
    assert check(alone, {}, {}, TPL, rewritten, expect()) == []
    other = ConsumerPipeline("acme/x", (PipelineFile(("acme/x", ".gitlab-ci.yml", "main")),))
    assert check(other, {}, {}, TPL, rewritten, expect()) == []


def test_an_unreadable_file_of_the_pipeline_is_a_reason_never_a_pass(rewritten: str) -> None:
    texts = {ROOT: "include: []\ndeploy:\n  extends: .gcp-auth\n  script: [ls]\n", TPL: TEMPLATE}
    reasons = check(pipeline("local"), texts, {LOCAL: "403 Forbidden"}, TPL, rewritten, expect())
    assert reasons == ["consumer acme/web: file ci/jobs.yml could not be read (403 Forbidden); cannot check that "
                       "its jobs still get the ID token"]
    reasons = check(pipeline("local"), {**texts, LOCAL: "ship: [unclosed\n"}, {}, TPL, rewritten, expect())
    assert reasons and reasons[0].startswith("consumer acme/web: file ci/jobs.yml cannot be loaded")
    scanned = ConsumerPipeline("acme/web", pipeline("local").files, unread="its CI could not be read completely (x)")
    assert "could not be read completely" in check(scanned, texts, {}, TPL, rewritten, expect())[0]


def test_a_consumer_job_that_received_another_account_in_one_context_is_refused(rewritten: str) -> None:
    texts = {ROOT: "deploy:\n  extends: .gcp-auth\n  environment: production\n  script: [ls]\n", TPL: TEMPLATE}
    contexts = {"deploy": {"GCP_SA_KEY": {"acme/web job deploy (protected branch, environment production)": SA,
                                          "acme/web job deploy (unprotected branch, environment production)": OTHER}}}
    assert check(pipeline("root"), texts, {}, TPL, rewritten, expect({"deploy": {"GCP_SA_KEY": {"c": SA}}})) == []
    [reason] = check(pipeline("root"), texts, {}, TPL, rewritten, expect(contexts))
    assert reason.startswith("consumer acme/web, file .gitlab-ci.yml, job deploy: signs in as " + SA)
    assert f"(unprotected branch, environment production) it received the key of {OTHER}" in reason


# --- every way a job gets the template's authentication × every place it is written ----------------

WAYS = {
    # name: (the job's body, hidden helper jobs, whether the provider token reaches it and it keeps its tokens)
    "extends": ("  extends: .gcp-auth\n", "", True),
    "via-hidden": ("  extends: .base\n", ".base:\n  extends: .gcp-auth\n  variables: {REGION: eu}\n", True),
    "extends-own-tokens": ("  extends: .gcp-auth\n  id_tokens:\n" + VAULT, "", True),
    "reference-script": ("  image: google/cloud-sdk:467.0.0-slim\n  before_script:\n"
                         "    - !reference [.gcp-auth, before_script]\n", "", False),
    "reference-tokens": ("  extends: .base\n", ".vault:\n  id_tokens:\n" + VAULT
                         + ".base:\n  extends: .gcp-auth\n  id_tokens: !reference [.vault, id_tokens]\n", False),
    "default-tokens": ("  extends: .gcp-auth\n",
                       "default:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.acme.example\n", False),
}
PLACES = ("root", "local", "nested")


def consumer_files(way: str, place: str) -> dict[FileId, str]:
    body, helpers, _ = WAYS[way]
    job = "ship:\n" + body + "  script: [gcloud storage ls]\n"
    texts = {TPL: TEMPLATE}
    if place == "root":
        texts[ROOT] = "include:\n  - project: acme/templates\n    file: gcp.yml\n" + helpers + job
    elif place == "local":
        texts[ROOT] = "include:\n  - project: acme/templates\n    file: gcp.yml\n  - local: ci/jobs.yml\nlint:\n  script: [make]\n"
        texts[LOCAL] = helpers + job
    else:
        texts[ROOT] = "include:\n  - project: acme/lib\n    file: lib.yml\nlint:\n  script: [make]\n"
        texts[LIB] = "include:\n  - project: acme/templates\n    file: gcp.yml\n" + helpers + job
    return texts


def oracle(way: str) -> bool:
    return WAYS[way][2]


def root_only(texts: dict[FileId, str]) -> bool:
    """The check before this change: a `!reference` to the template job in the root file only."""
    return not re.search(r"!reference\s*\[\s*\.gcp-auth", texts[ROOT])


@pytest.mark.parametrize(("way", "place"), list(itertools.product(WAYS, PLACES)))
def test_every_way_and_place_against_the_oracle(way: str, place: str, rewritten: str) -> None:
    texts = consumer_files(way, place)
    reasons = check(pipeline(place), texts, {}, TPL, rewritten, expect())
    assert (not reasons) == oracle(way), reasons
    if reasons:
        where = {"root": ".gitlab-ci.yml", "local": "ci/jobs.yml", "nested": "acme/lib:lib.yml"}[place]
        assert reasons[0].startswith(f"consumer acme/web, file {where}, job ship: "), reasons


def test_the_old_root_file_search_fails_the_same_oracle() -> None:
    """The broken variant is caught: the root-only `!reference` search accepts jobs the oracle says
    lose their token (local and nested copies, replaced or hidden id_tokens)."""
    wrong = [(way, place) for way, place in itertools.product(WAYS, PLACES)
             if root_only(consumer_files(way, place)) != oracle(way)]
    assert ("reference-script", "local") in wrong and ("reference-script", "nested") in wrong
    assert ("reference-tokens", "root") in wrong and ("default-tokens", "root") in wrong


def test_the_files_a_file_includes_are_its_subtree_in_merge_order() -> None:
    from migrate.plan.consumer_check import included_by

    root, a, b, c = ("p", ".gitlab-ci.yml", "main"), ("p", "a.yml", "main"), ("q", "b.yml", "main"), ("q", "c.yml", "main")
    p = ConsumerPipeline("p", (PipelineFile(root, (a, b)), PipelineFile(a), PipelineFile(b, (c,)), PipelineFile(c)))
    assert included_by([p], root) == (a, c, b)
    assert included_by([p], b) == (c,)
    assert included_by([p], c) == ()
    gone = ConsumerPipeline("p", (PipelineFile(root, (a, ("p", "gone.yml", "main"))), PipelineFile(a)))
    assert included_by([gone], root) is None  # not known completely: nothing is passed
    assert included_by([], root) is None


def test_reasons_stop_after_a_few_failing_consumers(rewritten: str) -> None:
    from migrate.plan.consumer_check import MAX_FAILING, failures

    texts = consumer_files("reference-script", "root")
    pipelines = []
    for i in range(MAX_FAILING + 3):
        root = (f"acme/c{i}", ".gitlab-ci.yml", "main")
        texts[root] = texts[ROOT]
        pipelines.append(ConsumerPipeline(f"acme/c{i}", (PipelineFile(root, (TPL,)), PipelineFile(TPL))))
    reasons = failures(pipelines, texts, {}, TPL, rewritten, lambda c: expect())
    assert len(reasons) == MAX_FAILING + 1 and reasons[-1] == "3 more consumer pipeline(s) not checked"
    assert reasons[0].startswith("consumer acme/c0, file .gitlab-ci.yml, job ship: ")


def test_a_consumer_job_the_rewrite_does_not_change_is_not_judged(rewritten: str) -> None:
    """acme/web's own `build` job signs in with its own key and has nothing of the template: the
    template's rewrite leaves it as it is, so it does not block the template (its own file is
    rewritten, and checked, on its own)."""
    texts = {TPL: TEMPLATE, ROOT: "deploy:\n  extends: .gcp-auth\n  script: [ls]\nbuild:\n"
             "  image: google/cloud-sdk:467.0.0-slim\n  script:\n"
             "    - gcloud auth activate-service-account --key-file \"$WEB_KEY\"\n    - make\n"}
    assert check(pipeline("root"), texts, {}, TPL, rewritten, expectation(["GCP_SA_KEY", "WEB_KEY"], AUD,
                                                                            "id_tokens", {})) == []
