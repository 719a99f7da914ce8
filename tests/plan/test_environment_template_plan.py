"""Issue 21 item 1: one shared authentication line (a hidden job or template that several jobs
`extends`) run by jobs of several environments, each of which received an environment-scoped key
of another service account (Terraform per environment with `GOOGLE_APPLICATION_CREDENTIALS`).

The plan accepts the rewrite exactly when, for every environment that received a key, the one
emitted text signs in as the account of that environment's key (a `case "$CI_ENVIRONMENT_NAME"`
choice), every other environment stops the job (`*) … exit 1`), and each account's binding admits
only the environment(s) that received its key. The emitted choice is run for real in a POSIX shell
for each environment (and one that received nothing). Where the environment is named at run time,
or one environment received the keys of two accounts, the line stays manual.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from helpers.plan_fixtures import NUMBER, config, confirmed, ident
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate import ci
from migrate.core.codec import decode_time
from migrate.core.model import GroupRecord, Inventory, KeyUsage, KeyVariable, ProjectRecord
from migrate.plan.federation_design import parse_member
from migrate.plan.planner import PlanFacts, build_plan, default_rewriter
from migrate.plan.ports import FileText
from migrate.scan.link import job_table, usage_runs

STG = "tf-stg@acme-staging.iam.gserviceaccount.com"
PRD = "tf-prd@acme-prod.iam.gserviceaccount.com"
PATH = "acme/infra"


def ci_text(jobs: dict[str, str | None], var: str = "TF_KEY", style: str = "activate") -> str:
    """A hidden job holding the authentication, extended by one job per (name → environment)."""
    if style == "activate":
        auth = f'  before_script:\n    - gcloud auth activate-service-account --key-file "${var}"\n'
    else:  # Terraform: the key file handed over through the template's `variables:`
        auth = (f"  variables:\n    GOOGLE_APPLICATION_CREDENTIALS: ${var}\n"
                "  image: {name: 'hashicorp/terraform:1.9', entrypoint: ['']}\n")
    out = [".deploy:\n", auth, "  script:\n    - terraform init -input=false\n    - terraform apply -auto-approve\n"]
    for name, env in jobs.items():
        out.append(f"{name}:\n  extends: .deploy\n")
        if env is not None:
            out.append(f"  environment: {env}\n")
    return "".join(out)


def variable(scope: str, sa: str, kid: str, protected: bool = False) -> KeyVariable:
    return KeyVariable("project", PATH, 1001, "TF_KEY", "file", protected=protected, environment_scope=scope,
                       key=ident(sa, kid * 20))


def plan(text: str, variables: list[KeyVariable]) -> dict[str, Any]:
    analysis = ci.analyze(text, ".gitlab-ci.yml", frozenset({"TF_KEY"}))
    table = job_table([[(j.name, j.extends, j.environment) for j in analysis.jobs]])
    usages = tuple(KeyUsage(PATH, ".gitlab-ci.yml", "main", f, (PATH,), runs=tuple(usage_runs(PATH, f.jobs, table)))
                   for f in analysis.findings if f.variable)
    inv = Inventory("https://gitlab.acme.example", "17.5.0", decode_time("2026-01-01T00:00:00Z"),
                    (ProjectRecord(1001, PATH, 100, "acme", (100,), "main"),), tuple(variables), usages,
                    tuple(confirmed(v.key) for v in variables if v.key), groups=(GroupRecord(100, "acme"),))
    files = {(PATH, ".gitlab-ci.yml", "main"): FileText(text, "b1", "c1")}
    result = build_plan(inv, config(), PlanFacts(NUMBER, files=files), default_rewriter())
    actions = result.plan.actions
    return {"mrs": [a for a in actions if a.kind == "merge_request"],
            "bindings": {a.params.service_account: list(a.params.members) for a in actions
                         if a.kind == "ensure_binding"},
            "manual": [p.reason for p in result.plan.manual]}


def admitted(members: list[str]) -> set[tuple[str, str]]:
    """(attribute, value) of every principal set a binding admits."""
    out = set()
    for m in members:
        p = parse_member(m)
        assert p.kind == "attribute", m
        out.add((p.name, p.value))
    return out


def run_choice(script: list[str], environment: str) -> tuple[int, str]:
    """The emitted account choice (the `case` line) run in a POSIX shell for one environment."""
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell
    line = next(s for s in script if s.startswith("case "))
    proc = subprocess.run([shell, "-c", f'{line}\necho "$GCP_WIF_SERVICE_ACCOUNT"'], capture_output=True, text=True,
                          env={"CI_ENVIRONMENT_NAME": environment, "PATH": "/usr/bin:/bin"}, timeout=10)
    return proc.returncode, proc.stdout.strip()


TWO_ENVS = {"apply:staging": "staging", "apply:production": "production"}
KEYS = [variable("staging", STG, "a1"), variable("production", PRD, "b2")]


@pytest.mark.parametrize("style", ["activate", "terraform"])
def test_a_shared_line_run_in_two_environments_is_rewritten_with_one_account_each(style: str) -> None:
    result = plan(ci_text(TWO_ENVS, style=style), KEYS)
    assert result["manual"] == [] and len(result["mrs"]) == 1, result["manual"]
    doc = yaml.safe_load(result["mrs"][0].params.new_content)
    script = [str(s) for s in doc[".deploy"].get("before_script", []) + doc[".deploy"]["script"]]
    assert run_choice(script, "staging") == (0, STG)
    assert run_choice(script, "production") == (0, PRD)
    code, out = run_choice(script, "review/app")  # received no key: no federated account at all
    assert code == 1 and out == ""
    # bindings: each account only for the environment that received its key
    assert admitted(result["bindings"][STG]) == {("project_environment", "1001:staging")}
    assert admitted(result["bindings"][PRD]) == {("project_environment", "1001:production")}
    assert "TF_KEY" not in result["mrs"][0].params.new_content


def test_protected_production_key_binds_protected_refs_of_production_only() -> None:
    keys = [variable("staging", STG, "a1"), variable("production", PRD, "b2", protected=True)]
    result = plan(ci_text(TWO_ENVS), keys)
    assert result["manual"] == [], result["manual"]
    assert admitted(result["bindings"][PRD]) == {("project_protected_environment", "1001:protected:production")}
    assert admitted(result["bindings"][STG]) == {("project_environment", "1001:staging")}


def test_an_environment_named_at_run_time_stays_manual() -> None:
    jobs = {**TWO_ENVS, "review": "review/$CI_COMMIT_REF_SLUG"}
    keys = [*KEYS, variable("review/*", "tf-rev@acme-staging.iam.gserviceaccount.com", "c3")]
    result = plan(ci_text(jobs), keys)
    assert result["mrs"] == [] and result["manual"], result


def test_one_environment_with_two_accounts_by_ref_stays_manual() -> None:
    """production gets the protected key of PRD on protected refs and another key elsewhere: one
    job cannot sign in as both (the choice is by environment only)."""
    other = "tf-prd-mr@acme-prod.iam.gserviceaccount.com"
    keys = [variable("staging", STG, "a1"), variable("production", PRD, "b2", protected=True),
            KeyVariable("group", "acme", 100, "TF_KEY", "file", environment_scope="production",
                        key=ident(other, "d4" * 20))]
    result = plan(ci_text(TWO_ENVS), keys)
    assert result["mrs"] == [] and any("cannot sign in as both" in r or "two service accounts" in r
                                       for r in result["manual"]), result["manual"]


def test_a_job_without_environment_beside_environment_jobs_stays_manual() -> None:
    """A job with no environment receives the `*`-scoped key: the choice by environment name
    cannot give it an account, so nothing is rewritten."""
    jobs = {**TWO_ENVS, "plan": None}
    keys = [*KEYS, variable("*", "tf-any@acme-staging.iam.gserviceaccount.com", "e5")]
    result = plan(ci_text(jobs), keys)
    assert result["mrs"] == [] and result["manual"], result


def test_a_planner_choosing_the_wrong_account_per_environment_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broken variant: a planner that swaps the two environments' accounts. The rewriter does
    what it is told, and the self-check (which evaluates the `case` for every context the resolver
    decided) refuses it, so nothing wrong reaches a merge request."""
    import migrate.plan.planner as planner

    real = planner.environment_choice

    def swapped(*args: Any) -> dict[str, str] | None:
        choice = real(*args)
        return None if choice is None else {job: PRD if sa == STG else STG for job, sa in choice.items()}

    monkeypatch.setattr(planner, "environment_choice", swapped)
    result = plan(ci_text(TWO_ENVS), KEYS)
    assert result["mrs"] == [], "a swapped account choice reached a merge request"
    assert any("signs in as" in r and "received the key of" in r for r in result["manual"]), result["manual"]


def test_the_reasons_of_the_manual_cases_name_the_cause() -> None:
    jobs = {**TWO_ENVS, "review": "review/$CI_COMMIT_REF_SLUG"}
    keys = [*KEYS, variable("review/*", "tf-rev@acme-staging.iam.gserviceaccount.com", "c3")]
    reasons = " ".join(plan(ci_text(jobs), keys)["manual"])
    assert "named at run time" in reasons or "one command cannot sign in as two service accounts" in reasons, reasons
    jobs = {**TWO_ENVS, "plan": None}
    keys = [*KEYS, variable("*", "tf-any@acme-staging.iam.gserviceaccount.com", "e5")]
    reasons = " ".join(plan(ci_text(jobs), keys)["manual"])
    assert "one command cannot sign in as two service accounts" in reasons, reasons


# --- generated: over environment-scoped key sets, the shared line never gives a wrong account ------

ENV_CHOICES = (None, "production", "staging", "review/app", "review/$CI_COMMIT_REF_SLUG")
SCOPE_CHOICES = ("*", "production", "staging", "review/*")


@st.composite
def shared_line_orgs(draw: Any) -> tuple[dict[str, str | None], list[KeyVariable]]:
    envs = draw(st.lists(st.sampled_from(ENV_CHOICES), min_size=1, max_size=3))
    jobs = {f"job{i}": env for i, env in enumerate(envs)}
    raw = draw(st.lists(st.tuples(st.sampled_from(SCOPE_CHOICES), st.booleans()), min_size=1, max_size=4,
                        unique_by=lambda t: t[0]))
    keys = [variable(scope, f"sa{i}@acme-prod.iam.gserviceaccount.com", f"{i + 1}{i + 1}", protected)
            for i, (scope, protected) in enumerate(raw)]
    return jobs, keys


def receives(keys: list[KeyVariable], protected: bool, env: str | None) -> str | None:
    """GitLab's rule for one project's variables (the oracle): protected only on protected refs,
    `*` for every job, an exact scope over a pattern over `*`."""
    import fnmatch

    found = [k for k in keys if (protected or not k.protected) and
             (k.environment_scope == "*" or (env is not None and fnmatch.fnmatchcase(env, k.environment_scope)))]
    if not found:
        return None
    best = max(found, key=lambda k: 0 if k.environment_scope == "*" else 2 if k.environment_scope == env else 1)
    return best.key.service_account if best.key else None


def chosen(script: list[str], env: str) -> str | None:
    """The account the rewritten script signs in as in environment `env`, by the sandbox shell
    (compared with dash in tests/sandbox/test_jobscript_case.py); None when it stops the job."""
    from migrate.sandbox.jobscript import GoogleEndpoints, GoogleSignIn, Shell

    lines = [s for s in script if s.startswith("case ")]
    if not lines:
        named = re.findall(r"--service-account=(\S+)|serviceAccounts/([^:'\"]+):generate", " ".join(script))
        return next((a or b for a, b in named), None)
    sh = Shell({"CI_ENVIRONMENT_NAME": env}, {}, GoogleSignIn(GoogleEndpoints.single("http://127.0.0.1:9")),
               "/builds/acme/infra", lambda _line: None)
    return sh.env.get("GCP_WIF_SERVICE_ACCOUNT") if sh.run_script(lines[:1]) else None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_line_orgs())
def test_generated_environment_keys_never_get_a_wrong_account_or_a_broader_binding(
        org: tuple[dict[str, str | None], list[KeyVariable]]) -> None:
    check_shared(*org)


def check_shared(jobs: dict[str, str | None], keys: list[KeyVariable]) -> None:
    result = plan(ci_text(jobs), keys)
    members = {sa: admitted(m) for sa, m in result["bindings"].items()}
    for mr in result["mrs"]:
        doc = yaml.safe_load(mr.params.new_content)
        script = [str(s) for s in doc[".deploy"].get("before_script", []) + doc[".deploy"]["script"]]
        for job, env in jobs.items():
            for protected in (True, False):
                expansions = [env] if env is None or "$" not in env else [env.replace("$CI_COMMIT_REF_SLUG", s)
                                                                          for s in ("main", "feature-x")]
                for concrete in expansions:
                    sa = receives(keys, protected, concrete)
                    if sa is None:
                        continue
                    got = chosen(script, concrete or "")
                    assert got == sa, f"{job} (env {concrete}, protected={protected}) signs in as {got}, received {sa}"
                    prot = "protected" if protected else "unprotected"
                    wanted = {("project_id", "1001"), ("project_protected", f"1001:{prot}"),
                              ("project_environment", f"1001:{concrete or ''}"),
                              ("project_protected_environment", f"1001:{prot}:{concrete or ''}")}
                    assert members.get(sa, set()) & wanted, f"no binding of {sa} admits {job} ({concrete}, {prot})"
    for sa, admits in members.items():  # never broader: each principal set is a context that received sa
        for name, value in admits:
            if name == "project_environment":
                env = value.split(":", 1)[1]
                assert any(receives(keys, p, env or None) == sa for p in (True, False)), (sa, value)
            elif name == "project_protected_environment":
                env = value.split(":", 2)[2]
                assert receives(keys, True, env or None) == sa, (sa, value)


def test_the_generated_check_catches_a_wrong_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property can fail: with the self-check's per-context facts removed and the planner's
    choice swapped, a wrong account reaches the merge request and the check reports it."""
    import migrate.plan.planner as planner

    real = planner.environment_choice

    def swapped(*args: Any) -> dict[str, str] | None:
        choice = real(*args)
        return None if choice is None else {job: PRD if sa == STG else STG for job, sa in choice.items()}

    monkeypatch.setattr(planner, "environment_choice", swapped)
    monkeypatch.setattr(planner, "context_accounts", lambda *args: {})
    with pytest.raises(AssertionError, match="signs in as"):
        check_shared(TWO_ENVS, KEYS)
