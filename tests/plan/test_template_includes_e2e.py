"""`include: template:` read from the instance being migrated (issue 15 item 1), end to end.

GitLab resolves `include: template: X.gitlab-ci.yml` from its own templates
(`lib/gitlab/ci/config/external/file/template.rb`), which its API serves as
`GET /templates/gitlab_ci_ymls/:key` (`lib/api/templates.rb`; python-gitlab `gl.gitlabciymls`). The
sandbox org below seeds three templates; `scan` then `plan` run through the CLI (real python-gitlab
over HTTP, the real CI rewriter):

- acme/tmpl: the keyed job extends `.deploy-base` from a template: the template is read, so the
  rewrite is proven with it: rewritten (before, the job extended a template nobody fetched: manual);
- acme/old: the template pins a Cloud SDK older than `gcloud auth login --cred-file`: manual, for
  *that* reason (the template's content is what the check judged);
- acme/missing: the instance has no such template: the scan says so, and nothing is rewritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import gitlab
import pytest
from helpers.sandbox_org import ONE_KEY_ACCOUNT, one_key_org
from helpers.sandbox_plan import root_manual, root_mr, scan_and_plan

from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

SA = ONE_KEY_ACCOUNT
TEMPLATES = {"Acme/Base": ".deploy-base:\n  image: google/cloud-sdk:467.0.0-slim\n  variables: {REGION: eu}\n",
             "Acme/Old": ".deploy-base:\n  image: google/cloud-sdk:300.0.0\n"}


def ci(template: str) -> str:
    return (f"include:\n  - template: {template}.gitlab-ci.yml\n"
            "deploy:\n  extends: .deploy-base\n  script:\n"
            "    - gcloud auth activate-service-account --key-file \"$GCP_SA_KEY\"\n"
            "    - gcloud storage ls\n")


def org() -> Any:
    projects = [{"path": "tmpl", "id": 1101, "files": {".gitlab-ci.yml": ci("Acme/Base")}},
                {"path": "old", "id": 1102, "files": {".gitlab-ci.yml": ci("Acme/Old")}},
                {"path": "missing", "id": 1103, "files": {".gitlab-ci.yml": ci("Acme/Missing")}}]
    return parse_org(one_key_org(projects, 16, ci_templates=TEMPLATES), "template org")


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    tmp = tmp_path_factory.mktemp("templates")
    saved = dict(os.environ)
    try:
        with Sandbox(org()) as sb:
            os.environ.update(sb.env())
            yield *scan_and_plan(sb, tmp), sb
    finally:
        os.environ.clear()
        os.environ.update(saved)




def test_the_emulator_serves_templates_as_gitlab_does(planned: tuple[Any, ...]) -> None:
    """python-gitlab's own manager against the emulator: `{name, content}`, the list, 404."""
    sb = planned[2]
    gl = gitlab.Gitlab(sb.gitlab_url, private_token="t-migrator")
    assert gl.gitlabciymls.get("Acme/Base").content == TEMPLATES["Acme/Base"]
    assert sorted(t.key for t in gl.gitlabciymls.list(get_all=True)) == ["Acme/Base", "Acme/Old"]
    with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
        gl.gitlabciymls.get("Acme/Missing")
    assert err.value.response_code == 404


def test_a_job_extending_a_template_is_rewritten_with_the_template_read(planned: tuple[Any, ...]) -> None:
    plan, inventory, _ = planned
    action = root_mr(plan, "acme/tmpl")
    assert action is not None, root_manual(plan, "acme/tmpl")
    assert "GCP_ID_TOKEN" in action.params.new_content
    assert action.params.rewrite_options.included == (("@gitlab-templates", "Acme/Base.gitlab-ci.yml", ""),)
    record = next(p for p in inventory["projects"] if p["path"] == "acme/tmpl")
    assert [f["project"] for f in record["ci_files"]] == ["acme/tmpl", "@gitlab-templates"]


def test_the_templates_content_is_what_is_judged(planned: tuple[Any, ...]) -> None:
    plan = planned[0]
    assert root_mr(plan, "acme/old") is None
    assert "300.0.0" in root_manual(plan, "acme/old"), root_manual(plan, "acme/old")


def test_a_template_the_instance_lacks_is_reported_and_not_rewritten(planned: tuple[Any, ...]) -> None:
    plan, inventory, _ = planned
    assert root_mr(plan, "acme/missing") is None
    text = json.dumps(inventory)
    assert "Acme/Missing.gitlab-ci.yml" in text and "no CI template" in text


def test_the_emulators_lint_merges_a_template_include(planned: tuple[Any, ...]) -> None:
    """CI lint in the project's context merges the template (type `template`), and names a
    template the instance lacks or a location without the suffix as GitLab does."""
    sb = planned[2]
    project = gitlab.Gitlab(sb.gitlab_url, private_token="t-migrator").projects.get("acme/tmpl")
    lint = project.ci_lint.create({"content": ci("Acme/Base")})
    assert lint.valid, lint.errors
    assert [i["type"] for i in lint.includes] == ["template"]
    assert "google/cloud-sdk:467.0.0-slim" in lint.merged_yaml
    missing = project.ci_lint.create({"content": ci("Acme/Missing")})
    assert not missing.valid and "Acme/Missing.gitlab-ci.yml" in missing.errors[0], missing.errors
    bad = project.ci_lint.create({"content": ci("Acme/Base").replace(".gitlab-ci.yml", ".yml")})
    assert not bad.valid and "is not a valid location" in bad.errors[0], bad.errors
