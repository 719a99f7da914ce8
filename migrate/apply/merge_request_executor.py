"""The executor for `merge_request` plan actions: one branch, one commit, one MR per action.

For each action it reads live state first (the file on the target branch, the bot branch and the
MRs from it) and then does the least that makes GitLab match the plan:

- an MR from the branch was merged → `skipped` (done); closed by someone → `skipped` (left closed);
- the branch exists but its head was not made by us (another author, or no action marker in the
  commit message) → `skipped`, reported: a human pushed there, we do not overwrite;
- the file on the target changed since planning (blob id differs) → re-rewritten with the CI
  rewriter and the plan's options when one is available, else `refused` with the reason; the live
  file already containing the planned text → nothing to commit;
- branch missing → one commit with every file of the action, on a new branch from the target;
  branch ours but its files differ → one more commit on it; MR missing → opened; MR open with
  different title/description/labels → updated; everything equal → `skipped` "up to date" with
  zero mutating requests;
- a write answered "already exists" (the branch, an open MR: typically our own write whose answer a
  dropped connection lost, retried by the client) → read everything again and decide once more;
  ours and as planned → `applied`, noting the lost answer; a human's → left alone as above.

A dry run makes the same reads and returns `would_apply` with the steps it would take. Reads for all
MR actions of a plan are made up front with bounded concurrency (config.concurrency) through the
shared, rate-limited GitLab clients; writes are sequential. The apply loop journals intent and
outcome; the evidence carries project, MR iid, web_url, branch and commit sha (never file content).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from migrate.apply.context import ApplyContext
from migrate.apply.merge_request_content import (
    MRText,
    binding_lines,
    binding_params,
    branch_name,
    content_equal,
    plan_digest,
    render_commit_message,
    render_description,
    render_title,
    text_changes,
)
from migrate.apply.ports import (
    BotIdentity,
    CommitInfo,
    FileAction,
    FileState,
    GroupMergeRequests,
    MergeRequestBackend,
    MRInfo,
)
from migrate.core.config import Config, MergeRequestConfig
from migrate.core.errors import GitLabConflict, InternalError, WifMigrateError
from migrate.core.evidence import MergedEvidence, MergeRequestEvidence
from migrate.core.model import Action, ActionResult, MergeRequestParams, Plan, params_as
from migrate.core.outcome import RewriteStatus, Status

log = logging.getLogger(__name__)

KIND = "merge_request"
MAX_RETAKES = 3  # "already exists" answers taken over per action (each one is progress: one more step done)
GROUP_LISTING_MIN = 3  # actions of one group and branch from which a group listing is cheaper than asking each


def action_marker_line(action_id: str) -> str:
    """The line every commit we make carries; how a later run recognises the bot's commits."""
    return f"wif-migrate action: {action_id}"


@dataclass
class Observed:
    """Live GitLab state for one action, read before deciding."""

    target_files: dict[str, FileState | None] = field(default_factory=dict)
    branch_head: CommitInfo | None = None
    branch_files: dict[str, FileState | None] = field(default_factory=dict)
    mrs: list[MRInfo] = field(default_factory=list)
    # the files of the pipelines that read the action's files (params.consumer_check), read live:
    # (project, path, ref) → content, or why it could not be read
    consumer_files: dict[tuple[str, str, str], str] = field(default_factory=dict)
    consumer_errors: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # a template's MR: the MRs of the consumer actions it waits for (params.after_merged), by action id
    prerequisites: dict[str, list[MRInfo]] = field(default_factory=dict)


def _rewrite(rewriter: Any, plan: Plan, params: MergeRequestParams, path: str, text: str,
             obs: Observed | None = None, claimed: str | None = None) -> tuple[RewriteStatus, str, str]:
    """Call the plan's CI rewriter again on a file that changed: (status, new text, reasons).
    The files it includes are the live ones (read with the consumers' files). With `claimed` (the
    plan's content) and a `JournaledRewriter`, a journaled rewrite of exactly this request that
    gave `claimed` answers instead of running the rewriter (migrate.plan.rewrite_journal)."""
    from migrate.plan.planner import RewriteRequest
    from migrate.plan.rewrite_journal import JournaledRewriter

    names = sorted({r.split(":")[-1].split("[")[0] for k in params.keys for r in k.variables})
    options = params.rewrite_options
    sa_map = dict(options.service_accounts or {})
    job_map = {j: dict(m) for j, m in (options.job_service_accounts or {}).items()}
    contexts = {j: {v: dict(m) for v, m in by_var.items()} for j, by_var in (options.context_accounts or {}).items()}
    request = RewriteRequest(path, text, options.audience, sa_map,
                             tuple(names), plan.inputs.gitlab_version if plan.inputs else "",
                             _instance_url(plan), job_map, contexts, *_included(params, obs), params.project)
    outcome = rewriter.confirmed(request, claimed) \
        if claimed is not None and isinstance(rewriter, JournaledRewriter) else None
    if outcome is None:
        outcome = rewriter(request)
    return outcome.status, outcome.text, "; ".join(outcome.reasons)


def _included(params: MergeRequestParams, obs: Observed | None) -> tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]:
    """The live texts of the files the plan rewrote this file with (rewrite_options.included), and
    their ids (so `include:` rules and inputs apply as at plan time)."""
    ids = params.rewrite_options.included or ()
    if not ids or obs is None:
        return (), ()
    texts = [obs.consumer_files.get(i) for i in ids]
    if any(t is None for t in texts):
        return (), ()  # unreadable now: the self-check then cannot prove what uses them
    return tuple(t for t in texts if t is not None), tuple(ids)


def _pipelines(params: MergeRequestParams) -> list[Any]:
    from migrate.plan.consumer_check import ConsumerPipeline

    check = params.consumer_check
    return [ConsumerPipeline.from_checked(p) for p in check.pipelines] if check else []


def _consumer_failures(params: MergeRequestParams, obs: Observed, path: str, base: str, content: str) -> list[str]:
    """The plan's consumer check (migrate.plan.consumer_check), recomputed with the live files."""
    from migrate.plan import consumer_check

    pipelines = _pipelines(params)
    check = params.consumer_check
    if not pipelines or check is None:
        return []
    target = (params.project, path, params.target_branch)
    texts = {**obs.consumer_files, target: base}
    names = list(check.key_variables)
    audience = params.rewrite_options.audience
    mode = check.token_mode
    accounts = check.accounts
    return consumer_check.failures(
        pipelines, texts, obs.consumer_errors, target, content,
        lambda c: consumer_check.expectation(names, audience, mode, accounts.get(c) or {}))


def _token_includes(params: MergeRequestParams) -> set[tuple[str, str, str]]:
    """A consumer MR's files' `included` (read live, for the recomputation of its change)."""
    tokens = params.consumer_tokens
    return {i for ids in tokens.included.values() for i in ids} if tokens else set()


def _consumer_tokens_refusal(params: MergeRequestParams, path: str, planned: str, base_blob: str | None, live: FileState,
                             obs: Observed) -> str | None:
    """A consumer MR is executed only if it equals what the tool computes now from the live file:
    the token added to the planned jobs (migrate.ci.consumer_tokens.add_tokens, with its own check)."""
    import re

    from migrate.ci.consumer_tokens import add_tokens
    from migrate.ci.rewrite import RewriteOptions

    if base_blob and live.blob_id != base_blob:
        return (f"{path} changed on {params.target_branch} since planning (blob {base_blob[:12]} → "
                f"{live.blob_id[:12]}); re-run `wif-migrate plan` so the consumer change is checked again")
    tokens = params.consumer_tokens
    if tokens is None:  # only consumer MRs are checked here (their caller asks)
        return f"{path}: not a consumer merge request"
    jobs = list(tokens.jobs.get(path) or ())
    ids = tokens.included.get(path) or ()
    texts = [obs.consumer_files.get(i) for i in ids]
    if any(t is None for t in texts):
        return f"{path}: a file it is resolved with could not be read now; the consumer change is not executed"
    provider = params.rewrite_options.audience.removeprefix("https://iam.googleapis.com/")
    version = re.match(r"^(\d+)\.(\d+)", params.rewrite_options.gitlab_version or "")
    options = RewriteOptions(provider=provider, path=path, included=tuple(t for t in texts if t is not None),
                             gitlab_version=(int(version.group(1)), int(version.group(2))) if version else None)
    result = add_tokens(live.content, jobs, options, tokens.token_var or "GCP_ID_TOKEN")
    if result.status != Status.REWRITTEN or result.text is None:
        return f"{path}: the live file would not get the ID token now ({'; '.join(result.reasons)}); not executed"
    if not content_equal(result.text, planned):
        return (f"{path}: the plan's content differs from the ID token added to the live file (plan edited by "
                f"hand?); re-run `wif-migrate plan`. Difference (plan vs now):\n{_content_diff(planned, result.text)}")
    return None


def _content_diff(planned: str, now: str, limit: int = 40) -> str:
    """A short unified diff (plan → recomputed), control characters escaped."""
    import difflib

    from migrate.ci.redact import redact
    from migrate.core.textsafe import escape_multiline

    lines = list(difflib.unified_diff(now.splitlines(), planned.splitlines(), "recomputed", "plan", lineterm="", n=1))
    shown = lines[:limit] + ([f"... ({len(lines) - limit} more lines)"] if len(lines) > limit else [])
    return escape_multiline(redact("\n".join(shown)))


def _instance_url(plan: Plan) -> str:
    from migrate.plan.planner import legacy_audiences

    if plan.inputs is None:
        return ""
    return next(iter(legacy_audiences(plan.inputs.gitlab_version, plan.inputs.gitlab_url)), "")


def _evidence(params: MergeRequestParams, branch: str, taken_over: bool = False) -> MergeRequestEvidence:
    """What every outcome of an action records (never file content)."""
    return MergeRequestEvidence(params.project, branch, params.target_branch,
                                tuple(f.file_path for f in params.changes), taken_over=taken_over)


class MergeRequestExecutor:
    """`ActionExecutor` for `merge_request` (see migrate.apply.loop)."""

    def __init__(self, backend: MergeRequestBackend, settings: MergeRequestConfig, plan: Plan, *,
                 dry_run: bool, rewriter: Any = None, concurrency: int = 8) -> None:
        self.backend = backend
        self.settings = settings
        self.plan = plan
        self.dry_run = dry_run
        self.rewriter = rewriter
        self.concurrency = max(1, concurrency)
        self.digest = plan_digest(plan)
        self._observed: dict[str, Observed | Exception] = {}
        self._lock = threading.Lock()
        self._bot: BotIdentity | None = None
        self._assignees: list[int] | None = None
        self._by_id = {a.id: a for a in plan.actions}
        self._binding_lines: dict[tuple[str, ...], list[str]] = {}
        self._listings: dict[str, GroupMergeRequests] = {}  # source branch → group listings' answers

    # --- reads -------------------------------------------------------------------------------
    def bot(self) -> BotIdentity:
        with self._lock:
            if self._bot is None:
                self._bot = self.backend.whoami()
            return self._bot

    def observe(self, action: Action, params: MergeRequestParams, listed: bool = False) -> Observed:
        """The live state for one action. `listed` (the up-front reads only): a group listing made
        moments before may answer for the action's merge requests; a re-read (after "already
        exists") always asks GitLab again."""
        branch = branch_name(self.settings.branch_prefix, action.id)
        obs = Observed()
        for f in params.changes:
            obs.target_files[f.file_path] = self.backend.file(params.project, f.file_path, params.target_branch)
        obs.branch_head = self.backend.branch_head(params.project, branch)
        if obs.branch_head is not None:
            for f in params.changes:
                obs.branch_files[f.file_path] = self.backend.file(params.project, f.file_path, branch)
        listing = self._listings.get(branch) if listed else None
        known = listing.of(params.project) if listing is not None else None
        # the group listing answers only for a project it covers, and only when this run could read
        # the project's file just now (its repository is readable to us, so are its merge requests);
        # anything else is asked by itself: a project missing from a listing is not "no merge request"
        readable = bool(params.changes) and all(obs.target_files.get(f.file_path) is not None
                                               for f in params.changes)
        obs.mrs = known if known is not None and readable else self.backend.merge_requests(params.project, branch)
        for aid in params.after_merged:
            prerequisite = next((a for a in self.plan.actions if a.id == aid), None)
            project = params_as(prerequisite, MergeRequestParams).project if prerequisite is not None else ""
            obs.prerequisites[aid] = self.backend.merge_requests(
                project, branch_name(self.settings.branch_prefix, aid)) if project else []
        own = {(params.project, f.file_path, params.target_branch) for f in params.changes}
        for file in sorted(({f.id for p in _pipelines(params) for f in p.files} | _token_includes(params)) - own):
            try:
                state = self.backend.file(*file)
            except WifMigrateError as exc:  # an unreadable consumer file refuses the action, with why
                obs.consumer_errors[file] = str(exc) or type(exc).__name__
                continue
            if state is None:
                obs.consumer_errors[file] = "404 Not Found"
            else:
                obs.consumer_files[file] = state.content
        return obs

    def prefetch(self, actions: Sequence[Action]) -> None:
        """Read live state for many actions at once (bounded concurrency; writes stay serial)."""
        todo = []
        for a in actions:
            if a.kind != KIND or a.id in self._observed:
                continue
            todo.append((a, params_as(a, MergeRequestParams)))
        if not todo:
            return
        self.bot()
        self._list_groups([a for a, _p in todo], [p for _a, p in todo])

        def read(item: tuple[Action, MergeRequestParams]) -> tuple[str, Observed | Exception]:
            try:
                return item[0].id, self.observe(*item, listed=True)
            except WifMigrateError as exc:  # becomes this action's failure (a bug propagates)
                return item[0].id, exc

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo)),
                                thread_name_prefix="mr-read") as pool:
            for aid, obs in pool.map(read, todo):
                self._observed[aid] = obs

    def _list_groups(self, actions: Sequence[Action], params: Sequence[MergeRequestParams]) -> None:
        """One group-level listing per (top-level group of the plan, source branch) that at least
        GROUP_LISTING_MIN of the actions share, instead of one listing per project (issue 18)."""
        listing = getattr(self.backend, "group_merge_requests", None)
        if listing is None:
            return
        groups = {g.path: g.id for g in (self.plan.inputs.groups if self.plan.inputs else ())
                  if "/" not in (g.path or "/")}
        wanted: dict[tuple[int, str], int] = {}
        for action, p in zip(actions, params, strict=True):
            group = groups.get(p.project.split("/", 1)[0])
            if group is not None:
                key = (group, branch_name(self.settings.branch_prefix, action.id))
                wanted[key] = wanted.get(key, 0) + 1
        todo = [key for key, n in wanted.items() if n >= GROUP_LISTING_MIN]
        if not todo:
            return
        def one(key: tuple[int, str]) -> GroupMergeRequests | None:
            try:
                answer: GroupMergeRequests | None = listing(*key)
                return answer
            except WifMigrateError as exc:  # unreachable now: each project is asked by itself
                log.info("group %s: merge requests not listed (%s)", key[0], exc)
                return None

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo)), thread_name_prefix="mr-list") as pool:
            answers = list(pool.map(one, todo))
        for (_group, branch), answer in zip(todo, answers, strict=True):
            if answer is None:
                continue
            known = self._listings.get(branch)
            self._listings[branch] = answer if known is None else GroupMergeRequests(
                known.covered | answer.covered, {**known.merge_requests, **answer.merge_requests})

    def _observed_for(self, action: Action, params: MergeRequestParams) -> Observed:
        if action.id not in self._observed:
            self.prefetch([a for a in self.plan.actions if a.kind == KIND])
        obs = self._observed.pop(action.id, None)
        if isinstance(obs, Exception):
            raise obs
        return obs if obs is not None else self.observe(action, params)

    # --- decision ----------------------------------------------------------------------------
    def execute(self, action: Action, ctx: Any = None) -> ActionResult:
        params = params_as(action, MergeRequestParams)
        branch = branch_name(self.settings.branch_prefix, action.id)
        return self._decide(action, params, branch, self._observed_for(action, params),
                            _evidence(params, branch))

    def _decide(self, action: Action, params: MergeRequestParams, branch: str, obs: Observed,
                evidence: MergeRequestEvidence, retakes: int = 0) -> ActionResult:
        merged = [m for m in obs.mrs if m.state == "merged"]
        if merged:
            m = merged[0]
            done = MergedEvidence(evidence.project, evidence.branch, evidence.target_branch, evidence.files,
                                  m.iid, m.web_url, m.merge_commit_sha, m.merged_at, taken_over=evidence.taken_over)
            return ActionResult(action.id, Status.SKIPPED, f"already merged as !{m.iid}", done)
        waiting = [aid for aid in params.after_merged
                   if not any(m.state == "merged" for m in obs.prerequisites.get(aid, ()))]
        if waiting:
            # the template's change makes copied scripts read the token: opened (hence mergeable)
            # only once every consumer MR giving their jobs that token is merged (issue 21)
            evidence = replace(evidence, blocked=True, waiting_for=tuple(waiting))
            return ActionResult(action.id, Status.SKIPPED, f"waiting for {len(waiting)} consumer merge request(s) to be "
                                f"merged first ({', '.join(waiting)}): they give the jobs that copy this file's "
                                "authentication the ID token; merge them, then re-run `wif-migrate apply`", evidence)
        open_mr = next((m for m in obs.mrs if m.state in ("opened", "locked")), None)
        closed = next((m for m in obs.mrs if m.state == "closed"), None)
        if open_mr is None and closed is not None:
            evidence = replace(evidence, mr_iid=closed.iid, web_url=closed.web_url)
            who = f" by {closed.closed_by}" if closed.closed_by else ""
            return ActionResult(action.id, Status.SKIPPED, f"merge request !{closed.iid} was closed{who}; "
                                "not reopened (reopen it, or delete the branch to start over)", evidence)
        if obs.branch_head is not None:
            evidence = replace(evidence, commit_sha=obs.branch_head.id)
            human = self._human_push(action, obs.branch_head)
            if human:
                if open_mr is not None:
                    evidence = replace(evidence, mr_iid=open_mr.iid, web_url=open_mr.web_url)
                return ActionResult(action.id, Status.SKIPPED, human, evidence)
        desired, problem = self._desired_files(action, params, obs)
        if problem is not None:
            return ActionResult(action.id, problem[0], problem[1], evidence)
        if not desired and open_mr is None and obs.branch_head is None:
            return ActionResult(action.id, Status.SKIPPED, "the target branch already contains the change",
                                evidence)
        return self._converge(action, params, branch, obs, desired, open_mr, evidence, retakes)

    def _human_push(self, action: Action, head: CommitInfo) -> str | None:
        bot = self.bot()
        marker = action_marker_line(action.id)
        if marker in head.message and (not bot.emails or bot.authored(head)):
            return None
        who = head.author_name or head.author_email or "someone else"
        return (f"branch has commits not made by wif-migrate (head {head.id[:8]} by {who}); "
                "left alone — merge or close its merge request yourself, or delete the branch")

    def _desired_files(self, action: Action, params: MergeRequestParams, obs: Observed
                       ) -> tuple[dict[str, tuple[str, FileState]], tuple[Status, str] | None]:
        """path → (content to commit, live target file); or an outcome (refused/skipped) and why."""
        desired: dict[str, tuple[str, FileState]] = {}
        for f in params.changes:
            live = obs.target_files.get(f.file_path)
            if live is None:
                return {}, (Status.REFUSED, f"{f.file_path} no longer exists on {params.target_branch}; re-run plan")
            if content_equal(live.content, f.new_content):
                continue  # already there (merged by hand, or re-applied after a merge)
            content = f.new_content
            if params.consumer_tokens:
                refusal = _consumer_tokens_refusal(params, f.file_path, f.new_content, f.base_blob_id, live, obs)
                if refusal is not None:
                    return {}, (Status.REFUSED, refusal)
                desired[f.file_path] = (content, live)
                continue
            if self.rewriter is not None and (not f.base_blob_id or live.blob_id == f.base_blob_id):
                # Execute only what the tool would compute now: the planned content must equal the
                # rewrite of the live base file with the plan's options (a job appended to the
                # plan's content by hand is refused here, with the difference shown).
                status, text, reasons = _rewrite(self.rewriter, self.plan, params, f.file_path, live.content, obs,
                                                 claimed=f.new_content)
                if status != Status.REWRITTEN:
                    return {}, (Status.REFUSED, f"{f.file_path}: the live file would not be rewritten now "
                                f"({reasons or status}); the plan's content is not executed")
                if not content_equal(text, f.new_content):
                    return {}, (Status.REFUSED, f"{f.file_path}: the plan's content differs from the rewrite of the live "
                                "file (plan edited by hand?); re-run `wif-migrate plan`. Difference (plan vs "
                                f"now):\n{_content_diff(f.new_content, text)}")
            if f.base_blob_id and live.blob_id != f.base_blob_id:
                if self.rewriter is None:
                    return {}, (Status.REFUSED, f"{f.file_path} changed on {params.target_branch} since planning "
                                f"(blob {f.base_blob_id[:12]} → {live.blob_id[:12]}) and no CI rewriter is "
                                "available to redo the change; re-run `wif-migrate plan`")
                status, text, reasons = _rewrite(self.rewriter, self.plan, params, f.file_path, live.content, obs)
                if status == Status.UNCHANGED:
                    continue
                if status != Status.REWRITTEN:
                    return {}, (Status.REFUSED, f"{f.file_path} changed since planning and the new version cannot be "
                                f"rewritten automatically: {reasons or status}")
                content = text
                log.info("%s: %s changed since planning; re-rewritten", action.id, f.file_path)
            failures = _consumer_failures(params, obs, f.file_path, live.content, content)
            if failures:
                return {}, (Status.REFUSED, f"{f.file_path}: the rewrite would break a job of a pipeline that reads it "
                            f"(re-checked with the live files): {'; '.join(failures)}; the plan's content is not "
                            "executed")
            desired[f.file_path] = (content, live)
        return desired, None

    def _text(self, action: Action, params: MergeRequestParams) -> MRText:
        bindings = binding_params(self.plan, params, self._by_id)
        # one binding is shared by hundreds of MRs and lists every project it admits: its lines
        # are rendered once per run (by the binding action ids)
        key = params.binding.bindings
        lines = self._binding_lines.get(key)
        if lines is None:
            lines = binding_lines(bindings)
            self._binding_lines[key] = lines
        return MRText(render_title(params), render_description(params, action, self.digest, bindings, lines),
                      tuple(self.settings.labels))

    def _converge(self, action: Action, params: MergeRequestParams, branch: str, obs: Observed,
                  desired: Mapping[str, tuple[str, FileState]], open_mr: MRInfo | None,
                  evidence: MergeRequestEvidence, retakes: int = 0) -> ActionResult:
        steps: list[str] = []
        commit_actions: list[FileAction] = []
        start: str | None = None
        if obs.branch_head is None:
            start = params.target_branch
            commit_actions = [FileAction("update", p, c, live.last_commit_id) for p, (c, live) in desired.items()]
            if commit_actions:
                steps.append(f"create branch {branch} from {params.target_branch} with one commit "
                             f"({', '.join(desired)})")
        else:
            for path, (content, _live) in desired.items():
                on_branch = obs.branch_files.get(path)
                if on_branch is None or not content_equal(on_branch.content, content):
                    commit_actions.append(FileAction("update" if on_branch else "create", path, content,
                                                     on_branch.last_commit_id if on_branch else None))
            if commit_actions:
                steps.append(f"commit {', '.join(a.file_path for a in commit_actions)} on {branch}")
        text = self._text(action, params)
        changes: dict[str, Any] = {}
        if open_mr is None:
            steps.append(f"open a merge request {branch} → {params.target_branch}")
        else:
            evidence = replace(evidence, mr_iid=open_mr.iid, web_url=open_mr.web_url)
            changes = text_changes(MRText(open_mr.title, open_mr.description, open_mr.labels), text)
            if changes:
                steps.append(f"update !{open_mr.iid} ({', '.join(sorted(changes))})")
        if not steps:
            return ActionResult(action.id, Status.SKIPPED, f"up to date (merge request !{open_mr.iid if open_mr else '?'})",
                                evidence)
        if self.dry_run:
            return ActionResult(action.id, Status.WOULD_APPLY, "; ".join(steps), evidence)
        try:
            evidence = self._write(action, params, branch, commit_actions, start, text, open_mr, changes, evidence)
        except GitLabConflict as exc:
            if retakes >= MAX_RETAKES:
                raise
            return self._take_over(action, params, branch, "; ".join(steps), str(exc), retakes + 1)
        return ActionResult(action.id, Status.APPLIED, "; ".join(steps), evidence)

    def _take_over(self, action: Action, params: MergeRequestParams, branch: str, planned: str,
                   conflict: str, retakes: int) -> ActionResult:
        """After "already exists": read GitLab again and decide once more, from what is there now."""
        log.warning("%s: %s; reading GitLab again to take over what is there", action.id, conflict)
        again = self._decide(action, params, branch, self.observe(action, params),
                             _evidence(params, branch, taken_over=True), retakes)
        lost = f"{planned} (an answer was lost; re-read shows it took effect)"
        if again.outcome == Status.SKIPPED and again.detail.startswith("up to date"):
            return ActionResult(action.id, Status.APPLIED, lost, again.evidence)
        if again.outcome == Status.APPLIED:
            return ActionResult(action.id, Status.APPLIED, f"{lost}; then {again.detail}", again.evidence)
        return ActionResult(action.id, again.outcome, f"GitLab answered \"already exists\"; re-read: {again.detail}",
                            again.evidence)

    def _write(self, action: Action, params: MergeRequestParams, branch: str, commit_actions: Sequence[FileAction],
               start: str | None, text: MRText, open_mr: MRInfo | None, changes: Mapping[str, Any],
               evidence: MergeRequestEvidence) -> MergeRequestEvidence:
        """Commit and open (or update) the merge request; the evidence with what GitLab answered."""
        if commit_actions:
            commit = self.backend.commit(params.project, branch,
                                         render_commit_message(params, action.id) + "\n"
                                         + action_marker_line(action.id),
                                         commit_actions, start_branch=start)
            evidence = replace(evidence, commit_sha=commit.id)
        if open_mr is None:
            mr = self.backend.create_mr(params.project, branch, params.target_branch, text.title,
                                        text.description, text.labels, self._assignee_ids())
            evidence = replace(evidence, mr_iid=mr.iid, web_url=mr.web_url)
        elif changes:
            self.backend.update_mr(params.project, open_mr.iid, changes)
        return evidence

    def _assignee_ids(self) -> list[int]:
        if self._assignees is None:
            self._assignees = self.backend.user_ids(list(self.settings.assignees)) \
                if self.settings.assignees else []
        return self._assignees


def executor_from_context(ctx: ApplyContext) -> MergeRequestExecutor:
    """The factory the loop calls once per run, with the run's GitLab backend (built by the CLI)."""
    config: Config | None = ctx.config
    if config is None:
        raise ValueError("the merge_request executor needs the configuration")
    backend = ctx.services.merge_requests
    if backend is None:
        raise InternalError("apply: merge_request actions but no GitLab backend was built for them")
    rewriter = ctx.services.ci_rewriter
    if rewriter is None:
        from migrate.plan.planner import default_rewriter

        rewriter = default_rewriter()
    return MergeRequestExecutor(backend, config.merge_requests, ctx.plan,
                                dry_run=ctx.dry_run, rewriter=rewriter, concurrency=config.concurrency)
