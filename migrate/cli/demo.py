"""`wif-migrate demo`: the whole migration, end to end, against the sandbox demo organisation.

Starts the GitLab and Google emulators seeded with the demo org (or `--org FILE`), writes a tool
config pointing at them, and runs the real verbs in order — scan, plan (with the
who-can-impersonate table), apply (federation + merge requests), merges the merge requests as a
maintainer would, verify, keys retire, keys delete after the grace period, report — printing each
step. The sandbox clock moves forward between steps the way the calendar would (Policy Analyzer
is day-granular; deletion waits for the grace period). `--seed` and `--now` make it repeatable.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from migrate.cli.common import new_parser
from migrate.cli.output import print_outcomes
from migrate.core.codec import decode_time
from migrate.core.errors import EXIT_OK, UsageError
from migrate.core.evidence import VerifyEvidence
from migrate.core.model import DisableKeyParams, MergeRequestParams, params_as
from migrate.core.outcome import Column, ItemOutcome, Layout, Status


def register(sub: Any, help_text: str) -> None:
    p = new_parser(sub, "demo", help_text)
    p.add_argument("--out", default="wif-migrate-demo", metavar="DIR",
                   help="working folder: config, state, inventory, plan and reports/ (default wif-migrate-demo)")
    p.add_argument("--org", default="demo", help="org description file, or a shipped org name (default demo)")
    p.add_argument("--seed", type=int, default=None, help="key-id seed (default: the org file's)")
    p.add_argument("--now", default=None, metavar="TIME", help="start time, e.g. 2026-11-25T09:00:00Z")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the steps' output goes to stderr and stdout holds one output envelope "
                        "(one result per step with its exit code)")
    p.set_defaults(func=run)


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return decode_time(text)
    except ValueError:
        raise UsageError(f"--now: not an ISO time: {text!r}") from None


def _step(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)), flush=True)


def run(args: argparse.Namespace) -> int:
    from migrate.sandbox.errors import OrgFileError

    try:
        return _run(args)
    except OrgFileError as exc:  # the sandbox has its own error type; to the user it is bad usage
        raise UsageError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    from migrate.sandbox.org import load_org

    org = load_org(args.org)
    if args.seed is not None:
        org = dataclasses.replace(org, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state_dir = out / "state"
    if state_dir.exists():
        # A demo is a fresh story each time: start from an empty journal.
        for f in state_dir.iterdir():
            f.unlink()
    config = str(out / "wif-migrate.yaml")
    verbose = ["-v"] * (getattr(args, "verbose", 0) or 0)
    as_json = getattr(args, "format", "text") == "json"
    steps: list[DemoStep] = []
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        summary = _run_story(org, args, out, state_dir, config, verbose, steps)
    if as_json:
        return print_outcomes("demo", EXIT_OK, {"line": summary, "steps": len(steps),
                                                "report": str(out / "reports" / "report.html"),
                                                **_counts(out / "reports" / "report.json")},
                              step_outcomes(steps), STEP_ROWS)
    return EXIT_OK


@dataclasses.dataclass(frozen=True)
class DemoStep:
    """One step of the story: its title, the verb it ran (`keys retire` for the keys verbs) and how
    that verb exited."""

    step: str
    command: str
    exit_code: int


def step_outcomes(steps: list[DemoStep]) -> list[ItemOutcome[DemoStep]]:
    """A step ended as designed (APPLIED), or with an exit code the story does not expect (FAILED,
    listed in the envelope's errors as `exit code N`)."""
    return [ItemOutcome(st.step, Status.APPLIED, "", st) if st.exit_code in _EXPECTED.get(st.command, (0,))
            else ItemOutcome(st.step, Status.FAILED, f"exit code {st.exit_code}", st) for st in steps]


def _demo_step(o: ItemOutcome[DemoStep]) -> DemoStep:
    assert o.detail is not None  # every demo outcome carries its step
    return o.detail


#: the demo's rows: `--format json` results are `{"step", "command", "exit_code"}` (docs/output.md)
STEP_ROWS: Layout[DemoStep] = Layout(
    columns=(Column("step", lambda o: o.item), Column("command", lambda o: _demo_step(o).command),
             Column("exit code", lambda o: _demo_step(o).exit_code, count=True),
             Column("result", lambda o: o.status.value, loud=True)),
    record=lambda o: dataclasses.asdict(_demo_step(o)))


#: exit codes a step of the story may end with and still be the story working as designed
#: (scan finds keys; verify and retire refuse what has no evidence yet, e.g. the tag-only app)
_EXPECTED: dict[str, tuple[int, ...]] = {"scan": (0, 1), "verify": (0, 1), "keys retire": (0, 1),
                                         "keys delete": (0, 1)}


def _run_story(org: Any, args: argparse.Namespace, out: Path, state_dir: Path, config: str, verbose: list[str],
               steps: list[DemoStep]) -> str:
    from migrate.core.state import set_clock
    from migrate.sandbox.launch import Sandbox

    with Sandbox(org, now=_parse_now(args.now)) as sb:
        sb.write_config(config, state_dir=str(state_dir))
        os.environ.update(sb.env())
        os.environ.setdefault("GOOGLE_CLOUD_PROJECT", sb.identity_project())
        print(f"sandbox GitLab {sb.gitlab_url}  Google {sb.google_url}  (org: {org.source})")

        def now() -> str:
            return str(sb.clock.iso())

        set_clock(sb.clock.now)  # the tool's timestamps follow the emulated world's calendar
        try:
            summary = _story(sb, out, config, reports=out / "reports", now=now, verbose=verbose, steps=steps)
        finally:
            set_clock(None)
    print(f"\ndemo: {summary}; report: {out / 'reports' / 'report.html'}")
    return summary


def _story(sb: Any, out: Path, config: str, reports: Path, now: Callable[[], str],
           verbose: list[str], steps: list[DemoStep] | None = None) -> str:
    """Scan → plan → apply → merge → verify → retire → delete → report; returns the summary line
    and appends each step (title, command, exit code) to `steps`."""
    from migrate.cli.verbs import main as cli

    def step(title: str, *argv: str) -> int:
        _step(title)
        code = cli([*argv, "--config", config, *verbose])
        sys.stdout.flush()
        if steps is not None:
            command = " ".join(argv[:2]) if argv[0] == "keys" else argv[0]
            steps.append(DemoStep(title, command, code))
        return code

    step("1. scan: where are keys stored and used?", "scan", "-o", str(out / "inventory.json"),
         "--progress", "never")
    step("2. plan: federation, bindings, merge requests, key retirement", "plan",
         "--inventory", str(out / "inventory.json"), "-o", str(out / "plan.json"), "--no-diff")
    step("3. apply: create the federation and open the merge requests", "apply", str(out / "plan.json"))
    _step("4. review: a maintainer merges the merge requests and runs the deploys")
    merged = _merge_all(sb, config, out / "plan.json")
    print(f"merged {len(merged)} merge request(s): " + ", ".join(merged))
    if _waits(out / "plan.json"):
        # a shared template whose consumers copy its sign-in with !reference: apply opened only the
        # consumers' merge requests (the ID token); with those merged it opens the template's
        step("4b. apply again: open the merge requests that waited for others (a shared template after the "
             "consumer merge requests giving its copies the ID token)", "apply", str(out / "plan.json"))
        _step("4c. review: the maintainer merges the shared template's merge request")
        merged = _merge_all(sb, config, out / "plan.json")
        print(f"merged {len(merged)} merge request(s): " + ", ".join(merged))
    step("5. verify: did the pipelines after the merge authenticate through federation?",
         "verify", "--plan", str(out / "plan.json"))
    tagged = _release(sb, config, out / "plan.json")
    if tagged:
        step(f"5b. release: {', '.join(tagged)} tagged at the merge commit (their keyed jobs run only on tags); "
             "verify again", "verify", "--plan", str(out / "plan.json"))
    sb.clock.advance(timedelta(days=2))  # Policy Analyzer reports by day: wait for the evidence
    step("6. keys retire (two days later): disable keys nothing uses any more",
         "keys", "retire", "--plan", str(out / "plan.json"), "--now", now())
    for kid, readers in _outside_readers(out / "plan.json"):
        step(f"6b. keys retire --accept-outside-readers: the operator reviewed who else can read key "
             f"{kid[:8]} ({'; '.join(readers)}) and accepts them",
             "keys", "retire", "--plan", str(out / "plan.json"), "--key", kid, "--accept-outside-readers", kid,
             "--now", now())
    sb.clock.advance(timedelta(days=15))
    step("7. keys delete (after the grace period): delete keys and the variables that held them",
         "keys", "delete", "--plan", str(out / "plan.json"), "--now", now())
    step("8. report", "report", "--out", str(reports), "--format", "md,html,csv,json,gitlab",
         "--plan", str(out / "plan.json"), "--inventory", str(out / "inventory.json"), "--now", now())
    return _summary(reports / "report.json")


def _release(sb: Any, config: str, plan_file: Path) -> list[str]:
    """A release manager tags the merged commit of each project whose keyed jobs verify found
    "did not run" (tag-only jobs): the tag pipeline runs them on exactly the merged file, and
    verify reads it as job-level evidence. Nothing is accepted without that evidence."""
    import gitlab

    from migrate.core.config import load_config
    from migrate.core.state import State
    from migrate.plan import plan_io

    cfg = load_config(config)
    plan = plan_io.read(plan_file)
    state = State(cfg.state_dir)
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    tagged: list[str] = []
    for action in (a for a in plan.actions if isinstance(a.params, MergeRequestParams)):
        entry = state.last_outcome(action.id, stage="verify")
        verified = entry.typed_evidence if entry is not None else None
        if not isinstance(verified, VerifyEvidence):
            continue  # not verified yet (or a row of another build): nothing to tag
        projects = sorted({u.project for u in verified.unverified_jobs if u.reason.startswith("did not run")})
        sha = verified.merge_commit_sha
        for path in projects:
            if not sha or path != params_as(action, MergeRequestParams).project:
                continue  # a consumer's pipelines have no merge commit of their own to tag
            gl.projects.get(path).tags.create({"tag_name": "v1.0.0", "ref": str(sha)})
            tagged.append(f"{path}@v1.0.0")
    return tagged


def _outside_readers(plan_file: Path) -> list[tuple[str, list[str]]]:
    """Keys of the plan that projects the scan did not check can read, with those projects."""
    from migrate.plan import plan_io

    plan = plan_io.read(plan_file)
    steps = [params_as(a, DisableKeyParams) for a in plan.actions if a.kind == "disable_key"]
    return [(p.key_id, [f"{r.project or 'unknown'}: {r.reason}" for r in p.outside_readers])
            for p in steps if p.outside_readers]


def _waits(plan_file: Path) -> bool:
    """The plan has merge requests that apply opens only after others are merged."""
    from migrate.plan import plan_io

    return any(a.params.after_merged for a in plan_io.read(plan_file).actions if isinstance(a.params, MergeRequestParams))


def _merge_all(sb: Any, config: str, plan_file: Path) -> list[str]:
    """Merge every open wif-migrate MR of the plan through the API, as a reviewing maintainer would."""
    import gitlab

    from migrate.core.config import load_config
    from migrate.plan import plan_io

    cfg = load_config(config)
    plan = plan_io.read(plan_file)
    gl = gitlab.Gitlab(sb.gitlab_url, private_token=sb.gitlab_token())
    merged = []
    merged_projects: set[str] = set()
    mr_params = [a.params for a in plan.actions if isinstance(a.params, MergeRequestParams)]
    for path in sorted({p.project for p in mr_params}):
        project = gl.projects.get(path)
        for mr in project.mergerequests.list(state="opened", iterator=True):
            if mr.source_branch.startswith(cfg.merge_requests.branch_prefix):
                mr.merge()
                merged.append(f"{path}!{mr.iid}")
                merged_projects.add(path)
    # A shared template changes nothing until its consumers run: start their pipelines (a project
    # whose own merge request was merged just now has the pipeline of its merge commit).
    consumers = sorted({c for p in mr_params for c in p.consumers} - merged_projects)
    for path in consumers:
        project = gl.projects.get(path)
        project.pipelines.create({"ref": project.default_branch})
        print(f"started a pipeline on {path}@{project.default_branch} (consumer of a changed template)")
    # Deploy jobs are often manual: the release manager plays them.
    for path in sorted({p.project for p in mr_params} | set(consumers)):
        project = gl.projects.get(path)
        for pipeline in project.pipelines.list(ref=project.default_branch, iterator=True):
            for job in pipeline.jobs.list(iterator=True):
                if job.status == "manual":
                    project.jobs.get(job.id, lazy=True).play()
                    print(f"played manual job {job.name} in {path} pipeline {pipeline.id}")
    return merged


def _counts(report_json: Path) -> dict[str, Any]:
    try:
        summary = json.loads(report_json.read_text(encoding="utf-8")).get("summary", {})
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in summary.items() if isinstance(v, int)}


def _summary(report_json: Path) -> str:
    try:
        doc = json.loads(report_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no report was written"
    s = doc.get("summary", {})
    return (f"{s.get('keys_found', '?')} keys found, {s.get('keys_migrated', '?')} migrated, "
            f"{s.get('keys_disabled', '?')} disabled, {s.get('keys_deleted', '?')} deleted")
