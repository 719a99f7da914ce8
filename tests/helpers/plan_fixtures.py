"""A hand-built inventory of a small organisation, shared by the plan/federation/apply tests.

acme (100)
├── api (1001)        project var GCP_SA_KEY, protected → deployer@acme-prod (key d1…)
├── web (1002)        includes templates/gcp.yml which uses group var GCP_KEY → ci@acme-prod
├── docs (1004)       never uses a key (but can read the group variable)
├── templates (1005)  holds the shared template
└── platform (101)
    └── infra (1003)  project var TF_KEY scoped to `production` → tf@acme-prod
"""

from __future__ import annotations

from typing import Any

from migrate.core.codec import decode_time
from migrate.core.config import Config, parse_config
from migrate.core.model import (
    BindingParams,
    BindingRefs,
    CIFinding,
    DeleteKeyParams,
    DisableKeyParams,
    EnsureParams,
    GroupRecord,
    Inventory,
    KeyFacts,
    KeyIdentity,
    KeyUsage,
    KeyVariable,
    MergeRequestParams,
    MRRewriteOptions,
    OutsideReader,
    ProjectRecord,
    RetiredKey,
    RetiredVariable,
    ScopeRow,
)
from migrate.plan.planner import PlanFacts, RewriteOutcome, RewriteRequest, build_plan
from migrate.plan.ports import FileText

DEPLOYER = "deployer@acme-prod.iam.gserviceaccount.com"
CI = "ci@acme-prod.iam.gserviceaccount.com"
TF = "tf@acme-prod.iam.gserviceaccount.com"
K_DEPLOYER = "d1" * 20
K_CI = "c1" * 20
K_TF = "f1" * 20
NUMBER = "111111111111"
POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab"


def config(**google: Any) -> Config:
    g = {"identity_project": "acme-identity", "pool_id": "gitlab", "provider_id": "gitlab"}
    g.update(google)
    return parse_config({"gitlab": {"url": "https://gitlab.acme.example/"}, "scope": {"groups": ["acme"]},
                         "google": g})


def _project(pid: int, path: str, ns: int, ancestors: tuple[int, ...]) -> ProjectRecord:
    return ProjectRecord(id=pid, path=path, namespace_id=ns, namespace_path=path.rsplit("/", 1)[0],
                         ancestor_ids=ancestors, default_branch="main")


def _usage(project: str, path: str, var: str, var_ref: str, consumers: tuple[str, ...], line: int = 3,
           jobs: tuple[str, ...] = ("deploy",)) -> KeyUsage:
    return KeyUsage(project, path, "main",
                    CIFinding(line, line, "activate-service-account", var, jobs, "gcloud key file"),
                    consumers, (var_ref,))


def confirmed(key: KeyIdentity) -> KeyFacts:
    """What Google says of a genuine, live, user-managed key whose file matches its certificate."""
    return KeyFacts(key, service_account_exists=True, service_account_disabled=False, key_exists=True,
                    disabled=False, key_type="USER_MANAGED", key_matches=True)


def ident(sa: str, kid: str, project: str = "acme-prod") -> KeyIdentity:
    """A key identity with a (made-up) public-key fingerprint, as the scan derives from the file."""
    return KeyIdentity(sa, kid, project, public_key_sha256=(kid[:2] * 32))


V_API = KeyVariable("project", "acme/api", 1001, "GCP_SA_KEY", "file", protected=True,
                    key=ident(DEPLOYER, K_DEPLOYER))
V_GROUP = KeyVariable("group", "acme", 100, "GCP_KEY", "env_var", key=ident(CI, K_CI))
V_TF = KeyVariable("project", "acme/platform/infra", 1003, "TF_KEY", "file", environment_scope="production",
                   key=ident(TF, K_TF))

INVENTORY = Inventory(
    gitlab_url="https://gitlab.acme.example", gitlab_version="17.5.0", generated_at=decode_time("2026-01-01T00:00:00Z"),
    projects=(
        _project(1001, "acme/api", 100, (100,)),
        _project(1002, "acme/web", 100, (100,)),
        _project(1003, "acme/platform/infra", 101, (100, 101)),
        _project(1004, "acme/docs", 100, (100,)),
        _project(1005, "acme/templates", 100, (100,)),
    ),
    groups=(GroupRecord(100, "acme"), GroupRecord(101, "acme/platform", 100)),
    variables=(V_API, V_GROUP, V_TF),
    usages=(
        _usage("acme/api", ".gitlab-ci.yml", "GCP_SA_KEY", V_API.ref, ("acme/api",)),
        _usage("acme/templates", "gcp.yml", "GCP_KEY", V_GROUP.ref, ("acme/web",)),
        _usage("acme/platform/infra", ".gitlab-ci.yml", "TF_KEY", V_TF.ref, ("acme/platform/infra",)),
    ),
    key_facts=tuple(confirmed(v.key) for v in (V_API, V_GROUP, V_TF) if v.key is not None),
)

CI_TEXT = "deploy:\n  script:\n    - gcloud auth activate-service-account --key-file \"${VAR}\"\n    - ./deploy.sh\n"


def files() -> dict[tuple[str, str, str], FileText | str]:
    return {
        ("acme/api", ".gitlab-ci.yml", "main"): FileText(CI_TEXT.replace("VAR", "GCP_SA_KEY"), "blob-api", "c-api"),
        ("acme/templates", "gcp.yml", "main"): FileText(CI_TEXT.replace("VAR", "GCP_KEY"), "blob-tpl", "c-tpl"),
        ("acme/platform/infra", ".gitlab-ci.yml", "main"): FileText(CI_TEXT.replace("VAR", "TF_KEY"),
                                                                    "blob-infra", "c-infra"),
        ("acme/web", ".gitlab-ci.yml", "main"): FileText(WEB_CI, "blob-web", "c-web"),
    }


# acme/web consumes the template through `extends`, so the template's ID token reaches its job.
WEB_CI = """include:
  - project: acme/templates
    file: gcp.yml
ship:
  extends: deploy
  script: [./deploy.sh]
"""


def facts(**kw: Any) -> PlanFacts:
    base: dict[str, Any] = {"project_number": NUMBER, "files": files(), "generated_at": decode_time("2026-01-02T00:00:00Z")}
    base.update(kw)
    return PlanFacts(**base)


def line_rewriter(request: RewriteRequest) -> RewriteOutcome:
    """A stand-in for the CI rewriter in pure plan tests: swaps the one key line, or says manual."""
    if "MANUAL" in request.text:
        return RewriteOutcome("manual", reasons=("script builds the key path dynamically",))
    old = [line for line in request.text.splitlines() if "activate-service-account" in line]
    if not old:
        return RewriteOutcome("unchanged", request.text)
    sa = next(iter(request.service_accounts.values()))
    provider = request.audience.removeprefix("https://iam.googleapis.com/")
    new = request.text.replace(old[0], (
        '    - echo "$GCP_ID_TOKEN" > .gcp_token\n'
        f"    - gcloud iam workload-identity-pools create-cred-config {provider} --service-account={sa} "
        "--credential-source-file=.gcp_token --output-file=.gcp_cred.json\n"
        "    - gcloud auth login --cred-file=.gcp_cred.json"))
    # the ID token the federated sign-in needs, on the job (so jobs extending it get it too)
    new = new.replace("deploy:\n", f"deploy:\n  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {request.audience}\n", 1)
    return RewriteOutcome("rewritten", new, (), f"-{old[0]}\n+    - gcloud auth login ...\n", ("deploy",))


def plan_of(inventory=INVENTORY, **kw):  # type: ignore[no-untyped-def]
    """The plan of the fixture inventory (or `inventory`) with the fixture config and facts(**kw)."""
    return build_plan(inventory, config(), facts(**kw), line_rewriter).plan


def disable_params(sa: str, kid: str, *, key_project: str = "", variables: tuple[RetiredVariable, ...] = (),
                   blocked_by: tuple[str, ...] = (), outside_readers: tuple[OutsideReader, ...] = (),
                   window_days: int = 0, window_reason: str = "no pipeline schedules recorded") -> DisableKeyParams:
    """A `disable_key` step's params for a hand-built plan (the planner fills every field)."""
    return DisableKeyParams(service_account=sa, key_id=kid, key_project=key_project, variables=variables,
                            blocked_by=blocked_by, outside_readers=outside_readers,
                            no_use_window_days=window_days, no_use_window_reason=window_reason)


def delete_params(disable: DisableKeyParams, grace_days: int = 14,
                  grace_reason: str = "keys.grace_days is 14") -> DeleteKeyParams:
    """The `delete_key` step's params that go with `disable`."""
    return DeleteKeyParams(**vars(disable), grace_days=grace_days, grace_reason=grace_reason)


def ensure_params(name: str, desired: dict[str, Any] | None = None, *, project: str = "acme-identity",
                  observed: dict[str, Any] | None = None, patch: tuple[str, ...] = ()) -> EnsureParams:
    """An `ensure_pool` / `ensure_provider` step's params for a hand-built plan (not read from Google)."""
    return EnsureParams(project=project, name=name, desired=desired or {}, observed_known=observed is not None,
                        observed=observed, patch=patch)


def scope_row(project: str, *, project_id: int = 0, protected_only: bool = False,
              environment: str | None = None) -> ScopeRow:
    """One context of a hand-built binding (the principal set's attribute left simple)."""
    return ScopeRow(project_id, project, protected_only, environment, "project_id", str(project_id))


def bind_params(sa: str, *members: str, scopes: tuple[ScopeRow, ...] = (), resource: str = "",
                already_present: tuple[str, ...] = ()) -> BindingParams:
    """An `ensure_binding` step's params for a hand-built plan."""
    return BindingParams(service_account=sa, resource=resource or f"projects/-/serviceAccounts/{sa}",
                         role="roles/iam.workloadIdentityUser", members=members, already_present=already_present,
                         scopes=scopes, credential_configuration={})


def mr_params(project: str = "acme/api", file_path: str = ".gitlab-ci.yml", **fields: Any) -> MergeRequestParams:
    """A `merge_request` step's params for a hand-built plan: one file rewritten (as the planner
    writes them), any field overridden by keyword."""
    base: dict[str, Any] = {
        "project": project, "project_id": None, "ref": "main", "file_path": file_path, "new_content": "x: 1\n",
        "base_blob_id": None, "base_commit_id": None, "diff": "", "status": "rewritten", "reasons": (),
        "jobs": ("deploy",), "consumers": (project,), "effective_jobs": {}, "provider": "", "audience": "",
        "keys": (), "binding": BindingRefs(()), "rewrite_options": MRRewriteOptions(audience="", gitlab_version=None),
    }
    return MergeRequestParams(**{**base, **fields})


def retired(sa: str, kid: str, *variables: str) -> RetiredKey:
    return RetiredKey(sa, kid, variables)
