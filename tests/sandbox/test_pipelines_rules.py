"""Which jobs a sandbox pipeline creates: rules:if, only/except, when, workflow."""

from __future__ import annotations

import pytest

from migrate.sandbox.jobrules import (
    RuleSyntaxError,
    decide,
    evaluate_if,
    glob_exists,
    workflow_allows,
)

ENV = {"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push",
       "CI_COMMIT_REF_NAME": "main", "DEPLOY": "yes"}
NO_FILES = glob_exists([])


@pytest.mark.parametrize(("expr", "expected"), [
    ('$CI_COMMIT_BRANCH == "main"', True),
    ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", True),
    ('$CI_COMMIT_BRANCH != "main"', False),
    ("$CI_COMMIT_TAG", False),
    ("$CI_COMMIT_TAG == null", True),
    ("$DEPLOY", True),
    ('$CI_PIPELINE_SOURCE == "merge_request_event"', False),
    ("$CI_COMMIT_BRANCH =~ /^ma/", True),
    ("$CI_COMMIT_BRANCH !~ /^release\\//", True),
    ("$CI_COMMIT_REF_NAME =~ /MAIN/i", True),
    ('($CI_PIPELINE_SOURCE == "push" || $CI_PIPELINE_SOURCE == "web") && $CI_COMMIT_BRANCH == "main"', True),
    ('$CI_PIPELINE_SOURCE == "api" || $CI_COMMIT_TAG', False),
    ("${CI_COMMIT_BRANCH} == 'main'", True),
])
def test_if_expressions(expr: str, expected: bool) -> None:
    assert evaluate_if(expr, ENV) is expected


def test_bad_expression_is_an_error_not_false() -> None:
    with pytest.raises(RuleSyntaxError):
        evaluate_if('$A == "x" &&', ENV)


def test_rules_first_match_wins_and_when() -> None:
    job = {"rules": [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"', "when": "never"},
                     {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "when": "manual"},
                     {"when": "on_success"}]}
    assert decide(job, ENV, "main", "branch", "push", NO_FILES).when == "manual"
    other = dict(ENV, CI_COMMIT_BRANCH="feature")
    assert decide(job, other, "feature", "branch", "push", NO_FILES).when == "on_success"
    mr = dict(ENV, CI_PIPELINE_SOURCE="merge_request_event")
    assert decide(job, mr, "main", "branch", "merge_request_event", NO_FILES).when is None


def test_rules_no_match_means_no_job() -> None:
    job = {"rules": [{"if": "$CI_COMMIT_TAG"}]}
    d = decide(job, ENV, "main", "branch", "push", NO_FILES)
    assert d.when is None and "no rule matched" in d.reason


def test_rules_exists() -> None:
    job = {"rules": [{"exists": ["terraform/*.tf"]}]}
    assert decide(job, ENV, "main", "branch", "push", glob_exists(["terraform/main.tf"])).when == "on_success"
    assert decide(job, ENV, "main", "branch", "push", glob_exists(["README.md"])).when is None


@pytest.mark.parametrize(("only", "ref", "ref_type", "source", "runs"), [
    (["main"], "main", "branch", "push", True),
    (["main"], "dev", "branch", "push", False),
    (["branches"], "dev", "branch", "push", True),
    (["tags"], "v1.0", "tag", "push", True),
    (["tags"], "main", "branch", "push", False),
    (["/^release-.*$/"], "release-1", "branch", "push", True),
    (["api"], "main", "branch", "api", True),
    (["api"], "main", "branch", "push", False),
    ({"refs": ["main"], "variables": ['$DEPLOY == "yes"']}, "main", "branch", "push", True),
    ({"refs": ["main"], "variables": ['$DEPLOY == "no"']}, "main", "branch", "push", False),
])
def test_only(only: object, ref: str, ref_type: str, source: str, runs: bool) -> None:
    d = decide({"only": only}, ENV, ref, ref_type, source, NO_FILES)
    assert (d.when is not None) is runs


def test_except_and_default_only() -> None:
    assert decide({"except": ["main"]}, ENV, "main", "branch", "push", NO_FILES).when is None
    assert decide({"except": ["tags"]}, ENV, "main", "branch", "push", NO_FILES).when == "on_success"
    assert decide({}, ENV, "main", "branch", "push", NO_FILES).when == "on_success"
    assert decide({"when": "manual", "only": ["main"]}, ENV, "main", "branch", "push", NO_FILES).when == "manual"


def test_workflow_rules() -> None:
    wf = {"rules": [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
                    {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]}
    assert workflow_allows(wf, ENV, NO_FILES).when == "always"
    assert workflow_allows(wf, dict(ENV, CI_COMMIT_BRANCH="x"), NO_FILES).when is None
    assert workflow_allows(None, ENV, NO_FILES).when == "always"
