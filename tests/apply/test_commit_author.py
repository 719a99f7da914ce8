"""Own-branch detection against every address GitLab may author the tool's commits with.

GitLab authors API commits with `commit_email_or_default` (app/models/user.rb): the user's chosen
commit e-mail, the private `ID-USERNAME@<commit_email_hostname>` address
(lib/gitlab/private_commit_email.rb), or the primary e-mail. `GET /user` exposes it as
`commit_email` (lib/api/entities/user_public.rb). A tool that compares branch heads with `email`
only takes its own branch for a human push and leaves it alone for ever.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator

import pytest
from helpers import merge_request_org as e2e

from migrate.apply.merge_request_content import branch_name
from migrate.apply.ports import BotIdentity, CommitInfo
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.sandbox.launch import Sandbox


def _org(port: int, commit_email: str, public_email: str | None = None) -> object:
    base = e2e.org(port)
    users = [dict(u) for u in base.gitlab["users"]]
    users[0].update(commit_email=commit_email)
    if public_email:
        users[0].update(public_email=public_email)
    return dataclasses.replace(base, gitlab={**base.gitlab, "users": users})


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["_private", "wif-bot-commits@acme.example"])
def sb(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    port = _port()
    with Sandbox(_org(port, request.param), gitlab_port=port) as sandbox:  # type: ignore[arg-type]
        yield sandbox


def test_emulator_authors_api_commits_with_the_commit_email(sb: Sandbox) -> None:
    me = GitLabMergeRequests(e2e.clients(sb)).whoami()
    user = sb.gitlab.user("migrator")
    assert user.commit_email_or_default != user.email
    assert me.emails[0] == user.commit_email_or_default and user.email in me.emails
    commit = sb.gitlab.set_file("acme/api", "x.txt", "x", branch="b", username="migrator")
    assert commit.author_email == user.commit_email_or_default


def test_re_apply_recognises_its_own_branch_when_commit_email_differs(sb: Sandbox) -> None:
    plan = e2e.the_plan()
    first = e2e.apply(sb, plan)
    aid = "merge_request:acme/api:.gitlab-ci.yml"
    assert first[aid].outcome == "applied", first[aid].detail
    again = e2e.apply(sb, plan)
    assert "not made by wif-migrate" not in again[aid].detail, again[aid].detail
    assert again[aid].outcome in ("applied", "skipped") and getattr(again[aid].evidence, "mr_iid", None)
    # a human push on the branch is still recognised as such
    branch = branch_name("wif-migrate/", aid)
    sb.gitlab.set_file("acme/api", ".gitlab-ci.yml", e2e.API_NEW + "# tweak\n", branch=branch,
                       username="alice", message="tweak")
    third = e2e.apply(sb, plan)
    assert third[aid].outcome == "skipped" and "not made by wif-migrate" in third[aid].detail


def _commit(email: str) -> CommitInfo:
    return CommitInfo(id="a" * 40, message="m", author_name="n", author_email=email)


def test_bot_identity_matches_every_address_and_nothing_else() -> None:
    bot = BotIdentity("wif-bot", 42, ("Bot.Commits@Acme.example", "bot@acme.example", ""))
    for ours in ("bot.commits@acme.example", "BOT@acme.example", "42-wif-bot@users.noreply.git.acme.example"):
        assert bot.authored(_commit(ours)), ours
    for theirs in ("", "alice@acme.example", "4-wif-bot@users.noreply.x", "42-alice@users.noreply.x",
                   "bot@acme.example.evil"):
        assert not bot.authored(_commit(theirs)), theirs
    # the check can fail: comparing with `email` only (the old behaviour) misses the commit e-mail
    email_only = BotIdentity("wif-bot", None, ("bot@acme.example",))
    assert not email_only.authored(_commit("bot.commits@acme.example"))
