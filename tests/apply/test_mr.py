"""MR text and comparison (pure): branch names, marker, description content, idempotence."""

from __future__ import annotations

import dataclasses
import re

import pytest
from helpers.plan_fixtures import bind_params, mr_params, retired, scope_row
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.apply.merge_request_content import (
    MRText,
    binding_params,
    branch_name,
    content_equal,
    marker,
    parse_marker,
    plan_digest,
    render_description,
    render_title,
    text_changes,
)
from migrate.core.codec import decode_time
from migrate.core.model import Action, BindingRefs, MergeRequestParams, Plan, params_as

SA = "deployer@acme-prod.iam.gserviceaccount.com"
KID = "0123456789abcdef0123456789abcdef01234567"


def action(**extra: object) -> Action:
    params = mr_params(base_blob_id="b" * 40, keys=(retired(SA, KID, "group:acme:GCP_SA_KEY"),),
                       binding=BindingRefs((f"ensure_binding:{SA}",)), diff="-old\n+new\n", **extra)
    return Action("merge_request:acme/api:.gitlab-ci.yml", "merge_request", "acme/api:.gitlab-ci.yml@main",
                  "rewrite .gitlab-ci.yml", params=params)


def parse_params(a: Action) -> MergeRequestParams:
    return params_as(a, MergeRequestParams)


def plan(*actions: Action, when: str = "2026-01-01T00:00:00Z") -> Plan:
    bind = Action(f"ensure_binding:{SA}", "ensure_binding", SA, "binding",
                  params=bind_params(SA, "principalSet://iam.googleapis.com/projects/1/locations/global/"
                                         "workloadIdentityPools/gitlab/attribute.project_id/1001",
                                     scopes=(scope_row("acme/api", protected_only=True, environment="production"),)))
    return Plan("https://gitlab", "id", "1", "gitlab", "gitlab", decode_time(when), "d", actions=(bind, *actions))


@pytest.mark.parametrize(("prefix", "aid", "expected"), [
    ("wif-migrate/", "merge_request:acme/apps/mobile/android-app:.gitlab-ci.yml", "wif-migrate/gitlab-ci-yml"),
    ("wif-migrate/", "merge_request:acme/api:ci/Deploy Prod.yml", "wif-migrate/ci-deploy-prod-yml-"
     + __import__("hashlib").sha256(b"ci/Deploy Prod.yml").hexdigest()[:6]),
    ("wif-migrate/", "merge_request:a b~c^d", "wif-migrate/merge_request-a-b-c-d"),
    ("wif/", "x:ci/../x.lock", "wif/x-ci/-/x-lock"),
])
def test_branch_names_are_valid_refs(prefix: str, aid: str, expected: str) -> None:
    assert branch_name(prefix, aid) == expected


def test_description_says_what_why_keys_binding_verify_rollback_and_marker() -> None:
    a = action()
    p = plan(a)
    params = parse_params(a)
    text = render_description(params, a, plan_digest(p), binding_params(p, params))
    for needle in ("`deploy`", "Why", SA, KID, "group:acme:GCP_SA_KEY", "roles/iam.workloadIdentityUser",
                   "attribute.project_id/1001", "protected branches and tags only",
                   "environment `production` only", "wif-migrate verify", "How to roll back", "```diff"):
        assert needle in text, needle
    assert parse_marker(text) == (a.id, plan_digest(p))
    assert "PRIVATE KEY" not in text
    assert len(render_title(params)) < 72 and ".gitlab-ci.yml" in render_title(params)


def test_plan_digest_ignores_generation_time() -> None:
    a = action()
    assert plan_digest(plan(a)) == plan_digest(plan(a, when="2030-01-01T00:00:00Z"))
    assert plan_digest(plan(a)) != plan_digest(plan(action(new_content="y: 2\n")))


def test_text_changes_only_when_content_differs() -> None:
    a = action()
    params = parse_params(a)
    desired = MRText(render_title(params), render_description(params, a, "digest1"), ("wif-migrate",))
    same_but_other_plan = MRText(desired.title, desired.description.replace("digest1", "digest2") + "\n",
                                 ("wif-migrate", "human-label"))
    assert text_changes(same_but_other_plan, desired) == {}
    edited = MRText(desired.title, "someone rewrote it", ())
    changes = text_changes(edited, desired)
    assert set(changes) == {"description", "labels"} and changes["labels"] == "wif-migrate"


def test_content_equal() -> None:
    assert content_equal("a\r\nb\n", "a\nb\n")
    assert not content_equal("a\n", "a")
    assert marker("x", "y") == "<!-- wif-migrate:action=x plan=y -->"


def commands_in(text: str) -> list[str]:
    import re

    return re.findall(r"`(wif-migrate [^`]+)`", text)


def test_every_command_the_description_names_exists() -> None:
    """Each `wif-migrate …` command in the MR text parses with the real CLI parser (issue 16 §9),
    and the check does catch a command that does not exist."""
    import shlex

    from migrate.cli.verbs import build_parser

    def parses(command: str) -> bool:
        try:
            build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit:
            return False
        return True

    a = action()
    p = plan(a)
    params = parse_params(a)
    text = render_description(params, a, plan_digest(p), binding_params(p, params))
    commands = commands_in(text)
    assert len(commands) >= 4, commands
    assert {c.split()[1] for c in commands} >= {"verify", "keys"}
    for command in commands:
        assert parses(command), command
    assert not parses("wif-migrate keys disable KEY")  # the old text named commands that do not exist
    assert not parses("wif-migrate keys enable KEY")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abC./- _x", min_size=1, max_size=90), min_size=2, max_size=8, unique=True))
def test_branches_are_short_and_distinct_per_file_and_titles_fit(paths: list[str]) -> None:
    branches = [branch_name("wif-migrate/", f"merge_request:acme/api:{p}") for p in paths]
    assert len(set(branches)) == len(paths)  # one project's files never share a branch
    assert all(len(b) <= len("wif-migrate/") + 40 and re.fullmatch(r"wif-migrate/[a-z0-9-]+", b) for b in branches)
    for p in paths:
        a = action()
        params = dataclasses.replace(parse_params(a), file_path=p)
        assert len(render_title(params)) < 72


def test_body_says_shared_only_when_other_projects_include_it() -> None:
    a = action()
    own = dataclasses.replace(parse_params(a), consumers=(parse_params(a).project,))
    assert "This file is shared" not in render_description(own, a, "d")
    shared = dataclasses.replace(parse_params(a), consumers=(parse_params(a).project, "acme/web"))
    text = render_description(shared, a, "d")
    assert "This file is shared" in text and "`acme/web`" in text
    assert f"`{parse_params(a).project}`." not in text.split("This file is shared", 1)[1].split("\n")[0]
