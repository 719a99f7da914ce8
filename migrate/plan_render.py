"""Human views of a plan: tables (tabulate) per project, service account and key, and the CI diffs.

Renderers return strings; the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrate.impersonation import Impersonation
from migrate.model import Plan
from migrate.textsafe import tabulate


def _projects(labels: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for label in labels:
        if label.startswith(("look-alike", "fork ")) or "-character ref" in label:
            continue
        seen.setdefault(label.split(" (")[0], None)
    return list(seen)


def _outside(readers: Sequence[Mapping[str, Any]], shown: int = 6) -> str:
    """Projects that can read the key but whose CI was not checked (plan `outside_readers`)."""
    names = sorted({str(r.get("project") or "unknown (listing failed)") for r in readers})
    more = f"\n+{len(names) - shown} more" if len(names) > shown else ""
    return "\n".join(names[:shown]) + more if names else "-"


def render_plan(plan: Plan, diffs: bool = True) -> str:
    out = [f"Plan for {plan.gitlab_url} → pool {plan.pool_id}, provider {plan.provider_id} in "
           f"{plan.identity_project} (project number {plan.project_number})", ""]
    provider = next((a for a in plan.actions if a.kind == "ensure_provider"), None)
    if provider is not None:
        d = provider.params["desired"]
        out.append(tabulate([["issuer", d["oidc"]["issuerUri"]],
                             ["allowed audience", ", ".join(d["oidc"]["allowedAudiences"])],
                             ["attribute condition", d["attributeCondition"]],
                             ["JWKS uploaded", "yes" if d["oidc"].get("jwksJson") else "no"],
                             ["changes", ", ".join(provider.params.get("patch") or []) or "create or keep"]],
                            tablefmt="simple"))
        out.append("")
    rows = []
    for r in plan.impersonation:
        binding = next((a for a in plan.actions if a.id == f"ensure_binding:{r['service_account']}"), None)
        scopes = [f"{s['project']}: {'protected refs' if s['protected_only'] else 'any ref'}"
                  f"{', env ' + s['environment'] if s['environment'] else ''}"
                  for s in (binding.params["scopes"] if binding else [])]
        rows.append([r["service_account"], "\n".join(scopes) or "(no binding)",
                     f"{len(r['before'])} tokens: " + ", ".join(_projects(r["before"])),
                     f"{len(r['after'])} tokens: " + ", ".join(_projects(r["after"])),
                     "NO: " + ", ".join(r["broader"]) if r["broader"] else "yes"])
    if rows:
        out += ["Service accounts (who can impersonate, before via the key, after via federation):",
                tabulate(rows, headers=["service account", "binding", "before", "after", "narrower?"],
                         tablefmt="simple"), ""]
    mrs = [a for a in plan.actions if a.kind == "merge_request"]
    prow = [[a.params["project"], a.params["file_path"], a.params["ref"], a.params["status"],
             _accounts(a.params),
             ", ".join(a.params.get("consumers") or [])] for a in mrs]
    prow += [[m.subject.split(":")[1] if m.subject.startswith("file:") else m.subject,
              m.subject.split(":", 2)[-1] if m.subject.startswith("file:") else "", "", "manual", m.reason, ""]
             for m in plan.manual if m.severity == "manual"]
    if prow:
        out += ["CI changes per project:", tabulate(prow, headers=["project", "file", "ref", "status",
                                                                   "service accounts / reason", "used by"],
                                                    tablefmt="simple"), ""]
    krows = []
    for a in plan.actions:
        if a.kind != "disable_key":
            continue
        p = a.params
        krows.append([f"{p['service_account']}#{p['key_id'][:12]}",
                      "\n".join(v["ref"] for v in p["variables"]),
                      "\n".join(a.depends_on) or "-", "\n".join(p.get("blocked_by") or []) or "-",
                      _outside(p.get("outside_readers") or [])])
    if krows:
        out += ["Keys to retire (by `wif-migrate keys`, after merge and verification; readers outside the "
                "scope block unless accepted with --accept-outside-readers KEY_ID):",
                tabulate(krows, headers=["key", "variables", "after", "blocked by", "readers outside the scope"],
                         tablefmt="simple"), ""]
    errors = [m for m in plan.manual if m.severity == "error"]
    if errors:
        out += ["Could not be read (ERROR):", tabulate([[m.subject, m.reason] for m in errors],
                                                       headers=["subject", "reason"], tablefmt="simple"), ""]
    if diffs:
        for a in mrs:
            if a.params.get("diff"):
                out += [f"--- diff {a.params['project']}:{a.params['file_path']} ---", a.params["diff"].rstrip(), ""]
    return "\n".join(out).rstrip() + "\n"


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


def _accounts(params: dict[str, Any]) -> str:
    """The accounts a rewritten file signs in as: one per variable, or per job where its jobs
    received different keys (`job: account`)."""
    per_job = params.get("rewrite_options", {}).get("job_service_accounts") or {}
    if per_job:
        return ", ".join(f"{job}: {sa}" for job, m in sorted(per_job.items()) for sa in sorted(set(m.values())))
    return ", ".join(sorted(set(params.get("service_accounts", {}).values())))
