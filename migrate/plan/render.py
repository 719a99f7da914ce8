"""Human views of a plan: tables per project, service account and key, the CI diffs and the
Terraform-style summary line.

Renderers return strings; the CLI prints them. Tables fit the terminal (`migrate.core.tables`); who can
impersonate is said in words per project ("acme/api on protected refs"), the full token list is in
`--explain` and the JSON plan. The plan's per-item rows (the CI change or manual entry of each file,
the ERROR rows, and the envelope's one item per action / manual / error entry) are outcomes
(`CI_CHANGE_ROWS`, `ERROR_ROWS`, `ITEMS`) drawn by the one renderer (`migrate.core.outcome_render`);
the design's own tables (provider, who can impersonate, keys to retire) are drawn here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from migrate.core import outcome_render
from migrate.core.model import (
    BindingParams,
    DeleteKeyParams,
    DisableKeyParams,
    EnsureParams,
    ImpersonationRow,
    MergeRequestParams,
    OutsideReader,
    Plan,
    Problem,
    params_as,
)
from migrate.core.outcome import PROBLEM_STATUS, Column, ItemOutcome, Layout, Status
from migrate.core.tables import loud, render_table, terminal_width
from migrate.core.textsafe import tabulate
from migrate.plan.impersonation import Impersonation
from migrate.plan.summary import Change, change_of, changes, summary_line

#: a change the plan makes (`add`, `change`, `unknown`, `later`) or finds done already (`none`)
_CHANGE_STATUS = {"add": Status.WOULD_APPLY, "change": Status.WOULD_APPLY, "unknown": Status.WOULD_APPLY,
                  "later": Status.WOULD_APPLY, "none": Status.SKIPPED}


def item_outcomes(plan: Plan) -> list[ItemOutcome[Change | Problem]]:
    """One per action (its change), then one per manual and error entry: the envelope's results."""
    out: list[ItemOutcome[Change | Problem]] = [ItemOutcome(c.action_id, _CHANGE_STATUS[c.verb], c.words, c)
                                                for c in changes(plan)]
    out += [ItemOutcome(m.subject, PROBLEM_STATUS[m.severity], m.reason, m) for m in plan.manual]
    return out


def _item_record(o: ItemOutcome[Change | Problem]) -> dict[str, Any]:
    d = o.detail
    if isinstance(d, Change):
        return {"id": d.action_id, "kind": d.kind, "change": d.verb, "description": d.words,
                "members": list(d.members)}
    assert isinstance(d, Problem)  # every plan item is a change or a manual/error entry
    return {"id": d.subject, "kind": d.severity, "change": "manual" if d.severity == "manual" else "error",
            "description": d.reason, "members": []}


ITEMS: Layout[Change | Problem] = Layout(
    columns=(Column("id", lambda o: o.item), Column("change", lambda o: o.status.value, loud=True),
             Column("description", lambda o: o.reason)),
    record=_item_record)


def _file_of(subject: str) -> tuple[str, str]:
    """`file:acme/api:.gitlab-ci.yml` → (`acme/api`, `.gitlab-ci.yml`); another subject is a project."""
    if subject.startswith("file:"):
        return subject.split(":")[1], subject.split(":", 2)[-1]
    return subject, ""


def ci_change_outcomes(plan: Plan) -> list[ItemOutcome[MergeRequestParams | Problem]]:
    """The CI change of each file (its merge request), then each file left for a person."""
    out: list[ItemOutcome[MergeRequestParams | Problem]] = [
        ItemOutcome(a.params.project, Status.WOULD_APPLY, "", a.params) for a in plan.actions
        if isinstance(a.params, MergeRequestParams)]
    out += [ItemOutcome(_file_of(m.subject)[0], Status.MANUAL, m.reason, m)
            for m in plan.manual if m.severity == "manual"]
    return out


def _mr(o: ItemOutcome[MergeRequestParams | Problem]) -> MergeRequestParams | None:
    return o.detail if isinstance(o.detail, MergeRequestParams) else None


def _ci_cell(o: ItemOutcome[MergeRequestParams | Problem], column: str) -> Any:
    mr = _mr(o)
    if mr is None:  # a manual entry: the file it names, and why
        problem = o.detail
        assert isinstance(problem, Problem)
        return {"file": _file_of(problem.subject)[1], "ref": "", "status": loud("manual"),
                "why": o.reason, "used by": ""}[column]
    return {"file": mr.file_path, "ref": mr.ref, "status": mr.status, "why": _accounts(mr),
            "used by": ", ".join(mr.consumers)}[column]


CI_CHANGE_ROWS: Layout[MergeRequestParams | Problem] = Layout(
    columns=(Column("project", lambda o: o.item),
             Column("file", lambda o: _ci_cell(o, "file")),
             Column("ref", lambda o: _ci_cell(o, "ref")),
             Column("status", lambda o: _ci_cell(o, "status")),
             Column("service accounts / reason", lambda o: _ci_cell(o, "why")),
             Column("used by", lambda o: _ci_cell(o, "used by"))),
    record=lambda o: {"project": o.item, "status": o.status.value, "reason": o.reason})

ERROR_ROWS: Layout[Problem] = Layout(
    columns=(Column("subject", lambda o: o.item), Column("reason", lambda o: o.reason)),
    record=lambda o: {"subject": o.item, "reason": o.reason})


def _contexts(labels: Sequence[str]) -> dict[str, set[tuple[bool, str]]]:
    """Token labels → project → {(protected, environment)}; adversarial cases left out."""
    out: dict[str, set[tuple[bool, str]]] = {}
    for label in labels:
        if label.startswith(("look-alike", "fork ")) or "-character ref" in label:
            continue
        project, _, rest = label.partition(" (")
        protected = not rest.startswith("unprotected")
        env = rest.split("environment ", 1)[1].rstrip(")") if "environment " in rest else ""
        out.setdefault(project, set()).add((protected, env))
    return out


def in_words(labels: Sequence[str]) -> str:
    """`acme/api, acme/web on any ref; acme/infra on protected refs` (who, and on which refs)."""
    groups: dict[str, list[str]] = {}
    for project, ctx in sorted(_contexts(labels).items()):
        refs = {p for p, _ in ctx}
        envs = {e for _, e in ctx}
        where = "protected refs" if refs == {True} else "unprotected refs" if refs == {False} else "any ref"
        named = sorted(e for e in envs if e and not e.startswith("wif-migrate-"))
        if "" not in envs and named and len(envs) == len(named):
            where += ", environment " + " or ".join(named)
        groups.setdefault(where, []).append(project)
    return "; ".join(f"{', '.join(projects)} on {where}" for where, projects in groups.items()) or "nobody"


def _outside(readers: Sequence[OutsideReader], shown: int = 6) -> list[str]:
    """Projects that can read the key but whose CI was not checked (plan `outside_readers`)."""
    names = sorted({r.project or "unknown (listing failed)" for r in readers})
    more = [f"+{len(names) - shown} more"] if len(names) > shown else []
    return names[:shown] + more if names else ["-"]


def _accounts(params: MergeRequestParams) -> str:
    """The accounts a rewritten file signs in as: one per variable, or per job where its jobs
    received different keys (`job: account`)."""
    per_job = params.rewrite_options.job_service_accounts or {}
    if per_job:
        return ", ".join(f"{job}: {sa}" for job, m in sorted(per_job.items()) for sa in sorted(set(m.values())))
    return ", ".join(sorted(set((params.service_accounts or {}).values())))


def verdict(row: ImpersonationRow) -> str:
    if row.widened:
        return loud("BROADER") + ": " + ", ".join(row.widened)
    before, after = set(row.before), set(row.after)
    if before == after:
        return "same"
    return "narrower" if after < before else "not broader"


def _provider_rows(plan: Plan) -> list[list[str]]:
    provider = next((a for a in plan.actions if a.kind == "ensure_provider"), None)
    pool = next((a for a in plan.actions if a.kind == "ensure_pool"), None)
    if provider is None:
        return []
    d = params_as(provider, EnsureParams).desired
    rows = [["issuer", d["oidc"]["issuerUri"]],
            ["allowed audience", ", ".join(d["oidc"]["allowedAudiences"])],
            ["attribute condition", d["attributeCondition"]],
            ["JWKS uploaded", "yes" if d["oidc"].get("jwksJson") else "no"]]
    if pool is not None:
        rows.append(["pool", change_of(pool).words])
    rows.append(["provider", change_of(provider).words])
    return rows


def render_plan(plan: Plan, diffs: bool = True, width: int | None = None) -> str:
    width = width or terminal_width()
    out = [_fill(f"Plan for {plan.gitlab_url} → pool {plan.pool_id}, provider {plan.provider_id} in "
                 f"{plan.identity_project} (project number {plan.project_number})", width), ""]
    provider_rows = _provider_rows(plan)
    if provider_rows:
        out += [_provider_table(provider_rows, width), ""]
    accounts = _accounts_table(plan, width)
    if accounts:
        out += [_fill("Service accounts (who can impersonate, before via the key, after via federation):", width),
                accounts, ""]
    mrs = [a.params for a in plan.actions if isinstance(a.params, MergeRequestParams)]
    ci_changes = ci_change_outcomes(plan)
    if ci_changes:
        out += [_fill("CI changes per project:", width), outcome_render.table(ci_changes, CI_CHANGE_ROWS, width), ""]
    keys = _keys_table(plan, width)
    if keys:
        out += [_fill("Keys to retire (by `wif-migrate keys`, after merge and verification; readers outside the "
                      "scope block unless accepted with --accept-outside-readers KEY_ID):", width),
                keys, ""]
    errors = [ItemOutcome(m.subject, Status.ERROR, m.reason, m) for m in plan.manual if m.severity == "error"]
    if errors:
        out += [_fill("Could not be read (ERROR):", width), outcome_render.table(errors, ERROR_ROWS, width), ""]
    if diffs:
        for mr in mrs:
            if mr.diff:
                out += [f"--- diff {mr.project}:{mr.file_path} ---", mr.diff.rstrip(), ""]
    out.append(_fill(summary_line(plan), width))
    return "\n".join(out).rstrip() + "\n"


def _provider_table(rows: list[list[str]], width: int) -> str:
    """The provider's design (issuer, audience, condition): facts of the design, not outcomes."""
    return render_table(rows, [], width)


def _accounts_table(plan: Plan, width: int) -> str:
    """Per service account: its binding, the members to add, who can impersonate before and
    after, and the verdict (the design's simulation, not per-item outcomes). Empty: none."""
    rows = []
    by_id = {a.id: a for a in plan.actions}
    for r in plan.impersonation:
        binding = by_id.get(f"ensure_binding:{r.service_account}")
        change = change_of(binding) if binding else None
        scopes = [f"{s.project}: {'protected refs' if s.protected_only else 'any ref'}"
                  f"{_env_label(s.environment)}"
                  for s in (params_as(binding, BindingParams).scopes if binding else ())]
        todo: list[str] | str = (["add " + _short_member(m) for m in change.members] if change and change.members
                                 else "already bound" if change else "-")
        rows.append([r.service_account, scopes or "(no binding)", todo,
                     "via the key: " + in_words(r.before), "via federation: " + in_words(r.after),
                     verdict(r)])
    if not rows:
        return ""
    return render_table(rows, ["service account", "binding", "members", "before", "after", "access"], width)


def _keys_table(plan: Plan, width: int) -> str:
    """The keys the plan will retire, their order, blockers and windows (the design's schedule,
    not per-item outcomes). Empty: none."""
    krows = []
    deletes = {d: params_as(a, DeleteKeyParams) for a in plan.actions if a.kind == "delete_key" for d in a.depends_on}
    for a in plan.actions:
        if a.kind != "disable_key":
            continue
        p = params_as(a, DisableKeyParams)
        krows.append([f"{p.service_account}#{p.key_id[:12]}",
                      [v.ref for v in p.variables],
                      list(a.depends_on) or "-", list(p.blocked_by) or "-",
                      _outside(p.outside_readers), _window(p, deletes.get(a.id))])
    if not krows:
        return ""
    return render_table(krows, ["key", "variables", "after", "blocked by", "readers outside the scope",
                                "no-use window / grace (why)"], width)


def _window(params: DisableKeyParams, delete: DeleteKeyParams | None) -> str:
    """The schedule-aware no-use window before disabling and the grace before deleting, with why."""
    days, why = params.no_use_window_days, params.no_use_window_reason
    text = f"{days} days: {why}" if days else f"none ({why})"
    if delete is not None:
        text += f"; grace {delete.grace_days} days ({delete.grace_reason})"
    return text


def _fill(text: str, width: int) -> str:
    return textwrap.fill(text, width=width, break_on_hyphens=False, break_long_words=False)


def _short_member(member: str) -> str:
    """`principalSet://…/attribute.project_protected/1001:protected` → `project_protected/1001:protected`."""
    return member.split("/attribute.", 1)[1] if "/attribute." in member else member.rsplit("/", 1)[-1]


def render_explain(rows: Sequence[Impersonation] | Sequence[Mapping[str, Any]], service_account: str) -> str:
    """Every token considered for one service account: before, after, and why."""
    for r in rows:
        if isinstance(r, Impersonation) and r.service_account == service_account:
            table = [[v.case, "yes" if v.before else "no", "yes" if v.after else "no",
                      v.why_before or "-", v.why_after] for v in r.verdicts]
            verdict = "after ⊆ before" if r.ok else "BROADER after: " + ", ".join(r.broader)
            return (f"Who can impersonate {service_account}\n"
                    + tabulate(table, headers=["token", "before", "after", "before because", "after because"],
                               tablefmt="simple") + f"\n{verdict}\n")
    return f"{service_account}: not in this plan (no key of it was found in scope)\n"


def _env_label(environment: str | None) -> str:
    """`None`: any environment; `""`: jobs without an environment (receipts bind them exactly)."""
    if environment is None:
        return ""
    return ", no environment" if environment == "" else f", env {environment}"
