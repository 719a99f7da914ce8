"""Merge requests, the pure part: what a migration MR looks like, and whether one already does.

`apply` turns each `merge_request` plan action into one branch, one commit and one MR. Everything
that can be decided without GitLab lives here: the branch name, the commit message, the title and
the description (what changes and why, which keys it retires, the binding that makes it work, how
to verify and roll back, and a hidden marker carrying the plan action id), and the comparison that
keeps re-runs idempotent (an open MR is only touched when its content differs).

Key *identities* appear in the text (service account + key id), never key material: the action
params carry no material to begin with, and nothing here reads a variable's value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migrate.core.codec import canonical_sha256
from migrate.core.model import Action, BindingParams, MergeRequestParams, Plan, RetiredKey, params_as

MARKER_RE = re.compile(r"<!--\s*wif-migrate:action=(?P<action>\S+)\s+plan=(?P<plan>\S+)\s*-->")
_BRANCH_BAD = re.compile(r"[^A-Za-z0-9._/-]+")


# --- names -----------------------------------------------------------------------------------

MAX_SLUG = 40
TITLE_MAX = 72  # git and GitLab lists show ~72 characters of a title


def file_slug(path: str) -> str:
    """`.gitlab-ci.yml` → `gitlab-ci-yml`; `ci/Deploy Prod.yml` → `ci-deploy-prod-yml-<hash>`.

    Lower case, `[a-z0-9-]` only, at most 40 characters. Only `.gitlab-ci.yml` (one per project)
    goes without a suffix: any other path gets 6 hex digits of its sha256, because the slug alone
    is lossy (`ci/a.yml`, `ci-a.yml` and `ci.a.yml` slug alike) and one project's MRs must not share
    a branch."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "file"
    if path == ".gitlab-ci.yml":
        return slug
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:6]
    return f"{slug[:MAX_SLUG - 7].rstrip('-')}-{digest}"


def branch_name(prefix: str, action_id: str) -> str:
    """`wif-migrate/<file-slug>` for a merge-request action (`merge_request:PROJECT:PATH`; the branch
    lives in PROJECT, so only the file names it). Stable across runs: the same file, the same branch.
    Other ids: the id made a valid git ref (no spaces, `..`, `~^:?*[\\`, `.lock`)."""
    kind, _, rest = action_id.partition(":")
    project, sep, path = rest.partition(":")
    if kind == "merge_request" and sep and path:
        return f"{prefix}{file_slug(path)}"
    name = _BRANCH_BAD.sub("-", f"{prefix}{action_id}")
    name = re.sub(r"\.{2,}", ".", name).replace("/.", "/-").strip("/.")
    if name.endswith(".lock"):
        name = name[: -len(".lock")] + "-lock"
    return name


def plan_digest(plan: Plan) -> str:
    """A short digest of what the plan would do (not when it was made): re-planning the same
    inventory gives the same digest, so MR markers stay stable."""
    # the sha256 of `json.dumps(to_dict(plan) without generated_at, sort_keys=True, separators=(",", ":"))`,
    # hashed piece by piece: encoding the plan whole was the dry run's memory peak (issue 18)
    return canonical_sha256(plan, skip=("generated_at",))[:16]


def marker(action_id: str, digest: str) -> str:
    return f"<!-- wif-migrate:action={action_id} plan={digest} -->"


def parse_marker(description: str | None) -> tuple[str, str] | None:
    """(action id, plan digest) from an MR description, or None if it carries no marker."""
    m = MARKER_RE.search(description or "")
    return (m.group("action"), m.group("plan")) if m else None


# --- text ------------------------------------------------------------------------------------

def _key_short(k: RetiredKey) -> str:
    return f"{k.service_account} (key {k.key_id[:12]})" if k.key_id else k.service_account


def render_title(params: MergeRequestParams) -> str:
    """Under 72 characters: what, and the file (shortened from the left when long). The accounts,
    keys and jobs are in the description."""
    base = "CI: ID token for Workload Identity Federation" if params.consumer_tokens else \
        "CI: Workload Identity Federation for Google Cloud"
    paths = ", ".join(f.file_path for f in params.changes)
    room = TITLE_MAX - len(base) - len(" ()") - 1
    if not paths or room < 8:
        return base
    if len(paths) > room:
        paths = "…" + paths[-(room - 1):]
    return f"{base} ({paths})"


def render_commit_message(params: MergeRequestParams, action_id: str) -> str:
    lines = ["ci: replace service-account key authentication with Workload Identity Federation", ""]
    for f in params.changes:
        jobs = f" (jobs: {', '.join(f.jobs)})" if f.jobs else ""
        lines.append(f"- {f.file_path}{jobs}")
    for k in params.keys:
        lines.append(f"Retires key {k.key_id} of {k.service_account}.")
    lines += ["", f"wif-migrate action: {action_id}"]
    return "\n".join(lines)


def binding_lines(bindings: Sequence[BindingParams]) -> list[str]:
    """`ensure_binding` action params → readable lines (role, service account, members, scopes)."""
    out: list[str] = []
    for b in bindings:
        out.append(f"- `{b.role}` on `{b.service_account}` for:")
        out += [f"  - `{m}`" for m in b.members]
        for sc in b.scopes:
            limits = []
            if sc.protected_only:
                limits.append("protected branches and tags only")
            if sc.environment:
                limits.append(f"environment `{sc.environment}` only")
            elif sc.environment == "":
                limits.append("jobs without an environment only")
            out.append(f"  - project `{sc.project or sc.project_id}`: " + (", ".join(limits) or "any ref (as the key was)"))
    return out


def binding_params(plan: Plan | None, params: MergeRequestParams,
                   by_id: Mapping[str, Action] | None = None) -> list[BindingParams]:
    """The ensure_binding actions this MR depends on (by the ids in params.binding), as params.
    `by_id`: the plan's actions by id, when the caller indexed them once for many MRs."""
    refs = params.binding.bindings
    if plan is None:
        return []
    if by_id is None:
        by_id = {a.id: a for a in plan.actions}
    return [params_as(by_id[r], BindingParams) for r in refs if r in by_id]


def short_id(key_id: str) -> str:
    """The short key id shown everywhere (and accepted as a unique prefix by `wif-migrate keys`)."""
    return key_id[:8] or "KEY_ID"


def render_consumer_description(params: MergeRequestParams, action: Action, digest: str) -> str:
    """A consumer's MR: it only declares the ID token the shared template's copied steps will read."""
    tokens = params.consumer_tokens
    template = tokens.template_action.removeprefix("merge_request:") if tokens else ""
    token = (tokens.token_var if tokens else "") or "GCP_ID_TOKEN"
    out = [
        "## Declare the ID token a shared template's sign-in will read",
        "",
        f"This merge request was opened by **wif-migrate**. Jobs of `{params.project}` copy the "
        f"authentication steps of the shared template `{template}` with `!reference`. GitLab copies only "
        "the referenced lines, never the template job's `id_tokens`, so once that template signs in "
        f"through Workload Identity Federation these jobs must declare the ID token `{token}` themselves.",
        "",
        f"Plan action `{action.id}`: {action.summary}",
        "",
        "### What changes",
        "",
    ]
    for f in params.changes:
        out.append(f"- `{f.file_path}` (jobs: {', '.join(f'`{j}`' for j in f.jobs)}): an `id_tokens` entry `{token}` "
                   "with the provider audience. Every other line is unchanged.")
    out += ["", "### Order", "",
            "Merge this first: alone, the token is unused and the jobs keep working as before. The template's "
            f"merge request (`{template}`) is opened by `wif-migrate apply` only after every consumer merge "
            "request like this one is merged; the key is retired only after the jobs signed in through federation.",
            "", "### Roll back", "", "Revert this merge request (before the template's is merged, nothing else "
            "depends on it).", "", marker(action.id, digest)]
    return "\n".join(out) + "\n"


def render_description(params: MergeRequestParams, action: Action, digest: str,
                       bindings: Sequence[BindingParams] = (), lines: Sequence[str] | None = None) -> str:
    """The MR description: what, why, keys retired, binding, verify, roll back, hidden marker.
    `lines`: `binding_lines(bindings)` when the caller computed it already (one binding
    is shared by hundreds of MRs, and lists every project it admits)."""
    if params.consumer_tokens:
        return render_consumer_description(params, action, digest)
    jobs = ", ".join(f"`{j}`" for j in params.file_jobs) or "the jobs that use the key"
    out = [
        "## Authenticate to Google Cloud with Workload Identity Federation",
        "",
        f"This merge request was opened by **wif-migrate**. It changes how {jobs} in "
        f"`{params.project}` sign in to Google Cloud: instead of a long-lived service-account JSON key "
        "stored in a CI/CD variable, each job asks GitLab for a short-lived OIDC ID token (`id_tokens:`) "
        "and exchanges it through Workload Identity Federation for a Google access token.",
        "",
        "### Why",
        "",
        "A JSON key in a CI/CD variable never expires on its own, can be copied by anyone who can read "
        "the variable or a job log, and cannot be tied to a branch or environment. Federation tokens "
        "last minutes and are granted only to this project's pipelines on the refs the key was "
        "available to.",
        "",
        f"Plan action `{action.id}`: {action.summary}",
        "",
        "### What changes",
        "",
    ]
    for f in params.changes:
        job_text = f" (jobs: {', '.join(f'`{j}`' for j in f.jobs)})" if f.jobs else ""
        out.append(f"- `{f.file_path}`{job_text}: the key activation is replaced by `id_tokens` and a "
                   "credential configuration (`gcloud auth login --cred-file` / "
                   "`GOOGLE_APPLICATION_CREDENTIALS`). Every other line is unchanged.")
    if params.after_merged:
        out += ["", "Opened only after these consumer merge requests were merged (they give the jobs that copy "
                "this file's authentication with `!reference` the ID token): "
                + ", ".join(f"`{a}`" for a in params.after_merged) + "."]
    others = [c for c in params.consumers if c != params.project]
    if others:
        out += ["", "This file is shared: the pipelines of these projects include it and change with it: "
                + ", ".join(f"`{c}`" for c in others) + "."]
    out += ["", "### Keys this retires", ""]
    if params.keys:
        out += ["| Service account | Key id | Stored in |", "|---|---|---|"]
        for k in params.keys:
            out.append(f"| `{k.service_account}` | `{k.key_id}` | "
                       f"{', '.join(f'`{v}`' for v in k.variables) or '-'} |")
        out += ["", "Merging does **not** disable the key. It is disabled only after every project "
                "that uses it is migrated and every job that used it signed in through federation "
                f"(`wif-migrate keys retire --key {short_id(params.keys[0].key_id)}`), and deleted after a "
                "grace period (`wif-migrate keys delete`)."]
    else:
        out.append("(none recorded in the plan)")
    out += ["", "### The binding that makes it work", ""]
    if params.provider:
        out.append(f"Workload identity provider: `{params.provider}`")
        out.append("")
    out += list(binding_lines(bindings) if lines is None else lines) or ["(created by the plan's ensure_binding actions: "
                                         + ", ".join(f"`{b}`" for b in params.binding.bindings)
                                         + ")"]
    out += [
        "",
        "### How to verify",
        "",
        "1. Review the diff: only the authentication lines change.",
        f"2. Merge. The next pipeline on `{params.target_branch}` should show the jobs above signing in "
        "with the federated credential and succeeding.",
        "3. Run `wif-migrate verify --plan plan.json`: it finds that pipeline and reports this merge "
        "request as verified, or the failing job and the reason from its log.",
        "",
        "### How to roll back",
        "",
        "Revert this merge request. The key stays enabled until `wif-migrate keys retire` disables it, so "
        "the previous configuration keeps working; if the key was already disabled, "
        + (f"`wif-migrate keys rollback {short_id(params.keys[0].key_id)} --reason \"why\"`"
           if params.keys else "`wif-migrate keys rollback KEY_ID --reason \"why\"`")
        + " re-enables it (and it stays enabled until the next plan).",
        "",
    ]
    diffs = [f.diff for f in params.changes if f.diff]
    if diffs:
        out += ["<details><summary>Planned diff</summary>", "", "```diff", *[d.rstrip("\n") for d in diffs],
                "```", "", "</details>", ""]
    out.append(marker(action.id, digest))
    return "\n".join(out) + "\n"


# --- comparison ------------------------------------------------------------------------------

def _norm(text: str | None) -> str:
    """Description as compared: marker's plan digest ignored, line endings and trailing space."""
    text = MARKER_RE.sub(lambda m: f"<!-- wif-migrate:action={m.group('action')} -->", text or "")
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))


@dataclass(frozen=True)
class MRText:
    title: str
    description: str
    labels: tuple[str, ...] = ()


def text_changes(current: MRText, desired: MRText) -> dict[str, Any]:
    """The fields to update on an open MR so it matches `desired` ({} when nothing differs).

    A different plan digest alone is not a change: the MR already says the same thing.
    Labels a human added are kept; only missing ones are added.
    """
    changes: dict[str, Any] = {}
    if current.title.strip() != desired.title.strip():
        changes["title"] = desired.title
    if _norm(current.description) != _norm(desired.description):
        changes["description"] = desired.description
    missing = [lb for lb in desired.labels if lb not in current.labels]
    if missing:
        changes["labels"] = ",".join([*current.labels, *missing])
    return changes


def content_equal(a: str | None, b: str | None) -> bool:
    """File contents equal as git would store them (CRLF normalised; a missing final newline is
    a difference GitLab would show, so it counts)."""
    if a is None or b is None:
        return a is b
    return a.replace("\r\n", "\n") == b.replace("\r\n", "\n")
