"""GitLab 14.7 (the `CI_JOB_JWT_V2` era, no `id_tokens`) end to end: the seed scenario.

On 14.7–15.6 a migrated job can only present `CI_JOB_JWT_V2`, whose `aud` is the instance's base
URL (lib/gitlab/ci/jwt_v2.rb: `DEFAULT_AUD = Settings.gitlab.base_url`). The provider must allow
that audience as well as its own, the plan must say so, and the pipelines after the merge must
authenticate through federation. The emulator's version knob gives jobs `CI_JOB_JWT_V2` (14.7–16.11)
and refuses `id_tokens:` before 15.7, so a rewrite that used it would fail lint here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from helpers.old_gitlab_org import ORG, run_demo


@pytest.mark.slow
def test_gitlab_14_7_org_migrates_end_to_end(tmp_path: Path) -> None:
    out = run_demo(tmp_path, ORG)
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    provider = next(a for a in plan["actions"] if a["kind"] == "ensure_provider")
    audiences = provider["params"]["desired"]["oidc"]["allowedAudiences"]
    gitlab_url = plan["gitlab_url"].rstrip("/")
    assert audiences[0].startswith("https://iam.googleapis.com/projects/499999999999/")
    assert audiences[1:] == [gitlab_url]  # CI_JOB_JWT_V2's aud
    assert "CI_JOB_JWT_V2" in provider["summary"] and "other relying parties" in provider["summary"]
    mr = next(a for a in plan["actions"] if a["kind"] == "merge_request")
    assert "CI_JOB_JWT_V2" in json.dumps(mr["params"]) and "id_tokens" not in mr["params"]["new_content"]
    verify = out.split("=== 5. verify")[1].split("=== 6.")[0]
    assert "1 verified, 0 failed, 0 pending" in verify, verify
    retire = out.split("=== 6. keys retire")[1].split("=== 7.")[0]
    assert re.search(r"disabled|disable_key", retire), retire
    report = json.loads((tmp_path / "out" / "reports" / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["keys_migrated"] == 1 and report["summary"]["keys_disabled"] == 1


def test_id_tokens_is_an_unknown_keyword_before_15_7() -> None:
    from migrate.sandbox.gitlab import ciyaml

    config = {"deploy": {"id_tokens": {"T": {"aud": "x"}}, "script": ["true"]}}
    assert ciyaml.validate(config, "15.7.0") == []
    assert ciyaml.validate(config, "15.6.9") == ["jobs:deploy config contains unknown keys: id_tokens"]
    defaults = {"default": {"id_tokens": {"T": {"aud": "x"}}}, "deploy": {"script": ["true"]}}
    assert ciyaml.validate(defaults, "16.4.0") == []
    assert ciyaml.validate(defaults, "16.3.0") == ["default config contains unknown keys: id_tokens"]


def test_hidden_variables_need_17_4() -> None:
    from migrate.sandbox.errors import OrgFileError
    from migrate.sandbox.org import parse_org

    data = yaml.safe_load(ORG)
    data["gitlab"]["groups"][0]["projects"][0]["variables"][0]["hidden"] = True
    from migrate.sandbox.launch import Sandbox

    with pytest.raises(OrgFileError, match="hidden variables exist from GitLab 17.4"):
        Sandbox(parse_org(data)).start()


# --- the provider design and the who-can-impersonate simulation --------------------------------

def _simulation(version: str, aud_of_token: str) -> tuple[bool, str]:
    from migrate.plan.federation_design import BindingScope, design_provider, members
    from migrate.plan.impersonation import Exposure, ProjectFacts, TokenCase, claims_for, simulate
    from migrate.plan.planner import legacy_audiences

    extra = legacy_audiences(version, "https://git.example.com/gitlab/")
    design = design_provider("499999999999", "gitlab", "gitlab", "https://git.example.com", [100], None, extra)
    project = ProjectFacts(id=1001, path="acme/api", namespace_id=100, namespace_path="acme", ancestor_ids=(100,))
    bindings = {"sa@p.iam.gserviceaccount.com": members(design.pool_name, [BindingScope(1001)])}
    exposures = {"sa@p.iam.gserviceaccount.com": [Exposure("project:acme/api:K", "project", 1001)]}
    case = TokenCase("api", "acme/api", claims_for(design.issuer, aud_of_token, project, "main", True, None),
                     (100,))
    verdict = simulate(design, bindings, exposures, [case])[0].verdicts[0]
    return verdict.after, verdict.why_after


def test_old_gitlab_provider_allows_the_base_url_audience() -> None:
    from migrate.plan.planner import legacy_audiences

    # Settings.gitlab.base_url: no relative URL root, no trailing slash
    assert legacy_audiences("15.6.2", "https://git.example.com/gitlab/") == (
        "https://git.example.com",)
    assert legacy_audiences("15.7.0", "https://git.example.com") == ()
    assert legacy_audiences("17.5.0", "https://git.example.com") == ()


def test_simulation_models_the_instance_url_audience() -> None:
    provider_aud = ("https://iam.googleapis.com/projects/499999999999/locations/global/"
                    "workloadIdentityPools/gitlab/providers/gitlab")
    # Old GitLab: the CI_JOB_JWT_V2 audience is admitted (for the bound project only)
    assert _simulation("14.7.0", "https://git.example.com")[0] is True
    assert _simulation("14.7.0", provider_aud)[0] is True
    # New GitLab: a token issued for another relying party (aud = instance URL) is refused, as STS does
    after, why = _simulation("17.5.0", "https://git.example.com")
    assert after is False and "audience" in why and "not allowed" in why
    assert _simulation("17.5.0", provider_aud)[0] is True


@pytest.mark.parametrize("version,offered", [("14.6.0", False), ("14.7.0", True), ("16.11.3", True),
                                             ("17.0.0", False), ("17.5.0", False)])
def test_ci_job_jwt_v2_is_offered_from_14_7_until_17_0(version: str, offered: bool) -> None:
    from migrate.sandbox.launch import Sandbox
    from migrate.sandbox.org import parse_org

    data = yaml.safe_load(ORG)
    data["gitlab"]["version"] = version
    with Sandbox(parse_org(data)) as sb:
        app = sb.gitlab
        assert app.offers_ci_job_jwt_v2() is offered
        ci = "deploy:\n  script: [echo hi]\n"
        with_tokens = "deploy:\n  id_tokens:\n    T:\n      aud: x\n  script: [echo hi]\n"
        app.set_file("acme/api", ".gitlab-ci.yml", ci, pipeline=True)
        trace = app.pipelines("acme/api")[-1].jobs[0].trace
        assert ("CI_JOB_JWT_V2 issued (aud " + sb.gitlab_url.rstrip("/") + ")" in trace) is offered
        if version >= "15.7":
            app.set_file("acme/api", ".gitlab-ci.yml", with_tokens, pipeline=True)
            trace = app.pipelines("acme/api")[-1].jobs[0].trace
            assert "CI_JOB_JWT_V2" not in trace and "ID token T issued" in trace  # id_tokens: no CI_JOB_JWT*
        claims = __import__("jwt").decode(app.mint_id_token("acme/api", ref="main", audience="x", jwt_v2=True),
                                          options={"verify_signature": False})
        assert claims["iss"] == sb.gitlab_url.rstrip("/") and claims["sub"] == \
            "project_path:acme/api:ref_type:branch:ref:main"
