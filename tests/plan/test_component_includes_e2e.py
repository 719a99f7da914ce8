"""`include: component:` read from the component's project at its version (issue 15 item 1), end to end.

GitLab (`lib/gitlab/ci/components/instance_path.rb`, `lib/gitlab/ci/config/external/file/component.rb`,
docs `ci/components/index.md`): `<fqdn>/<project path>/<name>@<version>`, the fqdn this instance's,
the file `templates/<name>.yml` else `templates/<name>/template.yml` at the version; `~latest` and
short semantic versions resolve through catalog releases (not read by this tool: manual).

The component project's tag `v1.0` holds a current Cloud SDK image; after tagging, its default branch
moves to an old one. So a rewrite proves the file was read at the tag (a reader at the default
branch, or from another project, would judge the old image and send the job to manual).
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
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.components import SHORTHAND_SEMVER, ComponentFile, locate
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

SA = ONE_KEY_ACCOUNT
BASE = ("spec:\n  inputs:\n    region:\n---\n"
        ".deploy-base:\n  image: google/cloud-sdk:467.0.0-slim\n  variables:\n    REGION: $[[ inputs.region ]]\n")
KEYED = (".keyed-deploy:\n  image: google/cloud-sdk:467.0.0-slim\n  script:\n"
         "    - gcloud auth activate-service-account --key-file \"$GCP_SA_KEY\"\n    - gcloud storage ls\n")
OLD = ".deploy-base:\n  image: google/cloud-sdk:300.0.0\n"
PART = ".deploy-base:\n  image: google/cloud-sdk:467.0.0-slim\n"
NESTED = "include:\n  - local: templates/parts/deploy-base.yml\n"  # a component's own local include


def ci(address: str, extra: str = "") -> str:
    return (f"include:\n  - component: {address}\n{extra}"
            "deploy:\n  extends: .deploy-base\n  script:\n"
            "    - gcloud auth activate-service-account --key-file \"$GCP_SA_KEY\"\n"
            "    - gcloud storage ls\n")


def org() -> Any:
    here = "$CI_SERVER_FQDN/acme/components"
    projects = [
        {"path": "components", "id": 1200, "tags": ["v1.0"],
         "files": {"templates/gcp-base.yml": BASE, "templates/old/template.yml": OLD,
                   "templates/keyed.yml": KEYED, "templates/nested.yml": NESTED,
                   "templates/parts/deploy-base.yml": PART,
                   "templates/broken.yml": "include:\n  - local: templates/parts/none.yml\n"}},
        {"path": "inside", "id": 1208, "files": {".gitlab-ci.yml": f"include:\n  - component: {here}/keyed@v1.0\n"
                                                                   "run:\n  extends: .keyed-deploy\n"}},
        {"path": "comp", "id": 1201, "files": {".gitlab-ci.yml": ci(f"{here}/gcp-base@v1.0",
                                                                    "    inputs:\n      region: eu\n")}},
        {"path": "latest", "id": 1202, "files": {".gitlab-ci.yml": ci(f"{here}/gcp-base@~latest")}},
        {"path": "semver", "id": 1203, "files": {".gitlab-ci.yml": ci(f"{here}/gcp-base@1.0")}},
        {"path": "foreign", "id": 1204, "files": {".gitlab-ci.yml": ci("gitlab.com/acme/components/gcp-base@v1.0")}},
        {"path": "oldcomp", "id": 1205, "files": {".gitlab-ci.yml": ci(f"{here}/old@v1.0")}},
        {"path": "noinput", "id": 1207, "files": {".gitlab-ci.yml": ci(f"{here}/gcp-base@v1.0")}},
        {"path": "nosuch", "id": 1206, "files": {".gitlab-ci.yml": ci(f"{here}/nosuch@v1.0")}},
        {"path": "nested", "id": 1209, "files": {".gitlab-ci.yml": ci(f"{here}/nested@v1.0")}},
        {"path": "nestedgone", "id": 1210, "files": {".gitlab-ci.yml": ci(f"{here}/broken@v1.0")}},
    ]
    return parse_org(one_key_org(projects, 17), "component org")


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    tmp = tmp_path_factory.mktemp("components")
    saved = dict(os.environ)
    try:
        with Sandbox(org()) as sb:
            gl = gitlab.Gitlab(sb.gitlab_url, private_token="t-migrator")
            # the default branch moves on after the tag: only a read AT the tag sees BASE
            gl.projects.get("acme/components").commits.create({
                "branch": "main", "commit_message": "old sdk",
                "actions": [{"action": "update", "file_path": "templates/gcp-base.yml", "content": OLD},
                            {"action": "update", "file_path": "templates/parts/deploy-base.yml", "content": OLD}]})
            os.environ.update(sb.env())
            yield *scan_and_plan(sb, tmp), sb, gl
    finally:
        os.environ.clear()
        os.environ.update(saved)




def test_the_component_project_differs_between_the_tag_and_the_default_branch(planned: tuple[Any, ...]) -> None:
    """The fixture's premise (so the rewrite below can only pass when read at the tag)."""
    project = planned[3].projects.get("acme/components")
    assert project.files.raw(file_path="templates/gcp-base.yml", ref="v1.0").decode() == BASE
    assert project.files.raw(file_path="templates/gcp-base.yml", ref="main").decode() == OLD


def test_a_job_extending_a_component_job_is_rewritten_with_the_component_read(planned: tuple[Any, ...]) -> None:
    plan, inventory, _, _ = planned
    action = root_mr(plan, "acme/comp")
    assert action is not None, root_manual(plan, "acme/comp")
    assert "GCP_ID_TOKEN" in action.params.new_content
    assert action.params.rewrite_options.included == (
        ("@component", "$CI_SERVER_FQDN/acme/components/gcp-base@v1.0", ""),)
    record = next(p for p in inventory["projects"] if p["path"] == "acme/comp")
    assert [f["project"] for f in record["ci_files"]] == ["acme/comp", "@component"]


def test_the_complex_template_path_is_read_and_judged(planned: tuple[Any, ...]) -> None:
    """`templates/old/template.yml` is what is judged: its old Cloud SDK sends the job to manual."""
    plan = planned[0]
    assert root_mr(plan, "acme/oldcomp") is None
    assert "300.0.0" in root_manual(plan, "acme/oldcomp"), root_manual(plan, "acme/oldcomp")


@pytest.mark.parametrize(("project", "why"), [
    ("acme/noinput", "input region has no value"), ("acme/latest", "catalog"), ("acme/semver", "catalog"), ("acme/foreign", "not on this instance"),
    ("acme/nosuch", "neither templates/nosuch.yml nor templates/nosuch/template.yml")])
def test_an_unresolvable_component_keeps_the_job_manual_with_the_reason(
        planned: tuple[Any, ...], project: str, why: str) -> None:
    plan, inventory, _, _ = planned
    assert root_mr(plan, project) is None
    assert root_manual(plan, project), "no manual reason"
    record = next(p for p in inventory["projects"] if p["path"] == project)
    assert why in json.dumps(record) + root_manual(plan, project), root_manual(plan, project)


def test_a_components_local_include_is_read_in_its_project_at_its_version(planned: tuple[Any, ...]) -> None:
    """`nested` defines `.deploy-base` only through its own `include: local:`, which GitLab reads in
    the component's project at the component's version (file/component.rb `expand_context_attrs`):
    at the tag the part has a current Cloud SDK, on the default branch an old one, in the including
    project it does not exist. Before, the part's path was taken for a component address ("has no
    @version") and the job went to manual."""
    plan, inventory, _, _ = planned
    action = root_mr(plan, "acme/nested")
    assert action is not None, root_manual(plan, "acme/nested")
    address = "$CI_SERVER_FQDN/acme/components/nested@v1.0"
    assert action.params.rewrite_options.included == (
        ("@component", f"{address}::templates/parts/deploy-base.yml", ""), ("@component", address, ""))
    record = next(p for p in inventory["projects"] if p["path"] == "acme/nested")
    assert "no @version" not in json.dumps(record)


def test_a_missing_local_include_of_a_component_is_a_truthful_reason(planned: tuple[Any, ...]) -> None:
    plan, inventory, _, _ = planned
    assert root_mr(plan, "acme/nestedgone") is None
    record = next(p for p in inventory["projects"] if p["path"] == "acme/nestedgone")
    text = json.dumps(record) + root_manual(plan, "acme/nestedgone")
    assert "its local include templates/parts/none.yml is not in acme/components at v1.0" in text, text
    assert "no @version" not in text


def test_locate_follows_instance_path() -> None:
    host = "gitlab.example.com:8443"
    assert locate(f"{host}/a/b/c/comp@v2", host) == ComponentFile("a/b/c", "comp", "v2")
    assert locate(f"$CI_SERVER_FQDN/a/b/comp@{'f' * 40}", host) == ComponentFile("a/b", "comp", "f" * 40)
    assert ComponentFile("a/b", "comp", "v2").paths == ("templates/comp.yml", "templates/comp/template.yml")
    for bad in (f"{host}/a/b/comp", "other.example.com/a/b/comp@v2", f"{host}/comp@v2",
                f"{host}/a/b/comp@~latest", f"{host}/a/b/comp@1", f"{host}/a/b/comp@1.2", f"{host}/a/$X/comp@v2"):
        assert isinstance(locate(bad, host), str), bad
    assert locate(f"{host}/a/b/comp@1.2.3", host) == ComponentFile("a/b", "comp", "1.2.3")  # not shorthand


def test_the_inputs_of_the_include_feed_the_interpolation(planned: tuple[Any, ...]) -> None:
    """`region` has no default: only the include's `inputs: {region: eu}` makes the file exact."""
    plan = planned[0]
    assert root_mr(plan, "acme/comp") is not None and root_mr(plan, "acme/noinput") is None


def test_apply_re_reads_the_component_live_at_its_version(planned: tuple[Any, ...]) -> None:
    """The live reader apply uses (`file_state`) reads the same file the plan was proven with."""
    from migrate.gitlab.files import file_state

    gl = planned[3]
    state = file_state(gl, "@component", "$CI_SERVER_FQDN/acme/components/gcp-base@v1.0", "")
    assert state is not None and state.content == BASE
    with pytest.raises(gitlab.exceptions.GitlabGetError, match="catalog"):
        file_state(gl, "@component", "$CI_SERVER_FQDN/acme/components/gcp-base@~latest", "")


def test_a_reader_at_the_wrong_ref_or_project_is_caught(planned: tuple[Any, ...]) -> None:
    """The broken variants (the default branch instead of the version; the including project
    instead of the component's) read something other than what the plan was proven with."""
    gl = planned[3]
    where = locate("$CI_SERVER_FQDN/acme/components/gcp-base@v1.0", gl.url.split("//", 1)[1].rstrip("/"))
    assert isinstance(where, ComponentFile)
    right = gl.projects.get(where.project).files.raw(file_path=where.paths[0], ref=where.ref).decode()
    wrong_ref = gl.projects.get(where.project).files.raw(file_path=where.paths[0], ref="main").decode()
    assert right == BASE and wrong_ref != right
    with pytest.raises(gitlab.exceptions.GitlabGetError):
        gl.projects.get("acme/comp").files.raw(file_path=where.paths[0], ref="main")


def test_key_use_inside_a_component_is_manual_with_the_reason(planned: tuple[Any, ...]) -> None:
    """No merge request of this tool changes a released component (planner: @component files)."""
    plan = planned[0]
    assert not [a for a in plan.actions if a.id.startswith("merge_request:@component")]
    reasons = " | ".join(m.reason for m in plan.manual if m.subject.startswith("file:@component:"))
    assert "is a CI/CD component (include: component:)" in reasons, [m.subject for m in plan.manual]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,8}", fullmatch=True), min_size=1, max_size=4),
       st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True),
       # an all-digit SHA ("000…0") is GitLab's shorthand semver (`^\d+(\.\d+)?$`, instance_path.rb:
       # catalog release first), which `locate` refuses on purpose: not an exact address
       st.from_regex(r"(v?[0-9]+\.[0-9]+\.[0-9]+|[0-9a-f]{40}|[a-z][a-z0-9/_-]{0,12})", fullmatch=True)
       .filter(lambda v: not SHORTHAND_SEMVER.match(v)),
       st.sampled_from(["gitlab.example.com", "127.0.0.1:8080"]))
def test_locate_generated_addresses(groups: list[str], name: str, version: str, host: str) -> None:
    """Every exact address on this host names (project = all but the last segment, name, version);
    the same address on another host never resolves; a broken split (first `/` instead of the last)
    would give another project."""
    project = "/".join(groups)
    where = locate(f"{host}/{project}/{name}@{version}", host)
    assert where == ComponentFile(project, name, version)
    assert isinstance(locate(f"other.example.org/{project}/{name}@{version}", host), str)
    first_split = f"{project}/{name}".split("/", 1)
    assert len(groups) == 1 or (first_split[0], first_split[1]) != (where.project, where.name)


def test_the_emulators_lint_merges_a_component_include(planned: tuple[Any, ...]) -> None:
    """CI lint merges the component at its version (the complex path here) and refuses another
    instance's component and a missing one with GitLab's FetchService messages."""
    gl = planned[3]
    project = gl.projects.get("acme/oldcomp")
    lint = project.ci_lint.create({"content": ci("$CI_SERVER_FQDN/acme/components/old@v1.0")})
    assert lint.valid, lint.errors
    assert [i["type"] for i in lint.includes] == ["component"]
    assert "google/cloud-sdk:300.0.0" in lint.merged_yaml
    foreign = project.ci_lint.create({"content": ci("gitlab.com/acme/components/old@v1.0")})
    assert not foreign.valid and "the component path is not supported" in foreign.errors[0], foreign.errors
    missing = project.ci_lint.create({"content": ci("$CI_SERVER_FQDN/acme/components/nosuch@v1.0")})
    assert not missing.valid and "content not found" in missing.errors[0], missing.errors
