"""`local:` includes inside a CI/CD component resolve in the component's project at its version.

GitLab: `File::Component#expand_context_attrs` (lib/gitlab/ci/config/external/file/component.rb)
gives the component file's own includes the context `project: <the component's project>, sha:
<the commit its version resolved to>`; every other file keeps its includer's context
(`File::Base#expand_context_attrs`), a `project:` file gets that project and ref
(`File::Project`). So a `local:` include of a component is a file of the component's project at
the component's version, and still part of the released component (the tool changes neither).
Before this, the nested path was taken for a component address ("has no @version").
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.ci import includes
from migrate.ci.analysis import Include
from migrate.core import components
from migrate.core.model import COMPONENT_FILES, GITLAB_TEMPLATES, REMOTE_FILES
from migrate.scan.ci_files import FileKey, resolve_include

HOST = "gitlab.example.com:8443"
ADDRESS = "$CI_SERVER_FQDN/acme/components/deploy@v1.0"
COMPONENT = FileKey(COMPONENT_FILES, ADDRESS, None)


def test_a_local_include_of_a_component_is_its_projects_file_at_its_version() -> None:
    (nested,) = resolve_include(COMPONENT, Include("local", "/templates/parts/base.yml"))
    assert isinstance(nested, FileKey) and nested.project == COMPONENT_FILES
    assert components.nested_file(nested.path) == ("acme/components", "v1.0", "templates/parts/base.yml")
    assert "no @version" not in str(components.locate(nested.path, HOST))
    where = components.locate(nested.path, HOST)
    assert isinstance(where, components.ComponentFile)
    assert (where.project, where.ref, where.local) == ("acme/components", "v1.0", "templates/parts/base.yml")
    assert where.paths == ("templates/parts/base.yml",)


def test_a_local_include_of_a_nested_file_stays_in_the_component() -> None:
    (first,) = resolve_include(COMPONENT, Include("local", "templates/parts/base.yml"))
    assert isinstance(first, FileKey)
    (second,) = resolve_include(first, Include("local", "templates/parts/more.yml"))
    assert isinstance(second, FileKey)
    assert components.nested_file(second.path) == ("acme/components", "v1.0", "templates/parts/more.yml")


@pytest.mark.parametrize("parent", [FileKey(REMOTE_FILES, "https://example.com/ci.yml"),
                                    FileKey(GITLAB_TEMPLATES, "Jobs/Build.gitlab-ci.yml")])
def test_a_local_include_of_a_remote_or_template_file_gets_a_truthful_reason(parent: FileKey) -> None:
    """GitLab reads it from the project whose pipeline includes the shared file; this tool reads a
    shared file's includes once for every project, so it says so instead of fetching a wrong file."""
    (reason,) = resolve_include(parent, Include("local", "base.yml"))
    assert isinstance(reason, str) and "project whose pipeline includes" in reason, reason


def test_include_facts_match_a_components_local_include_to_its_entry() -> None:
    """The `inputs:` a component passes to its own local include are interpolated (the entry is
    matched to the nested file, which belongs to the component)."""
    component = "include:\n  - local: templates/parts/base.yml\n    inputs: {region: eu}\n"
    part = "spec:\n  inputs:\n    region:\n---\n.base:\n  variables:\n    REGION: $[[ inputs.region ]]\n"
    (nested,) = resolve_include(COMPONENT, Include("local", "templates/parts/base.yml"))
    assert isinstance(nested, FileKey)
    ids = [(COMPONENT_FILES, nested.path, ""), (COMPONENT_FILES, ADDRESS, "")]
    root = f"include:\n  - component: {ADDRESS}\n"
    facts = includes.analyse(root, "acme/app", [part, component], ids)
    assert not facts.unresolved, facts.unresolved
    assert "REGION: eu" in facts.texts[0]


segment = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,8}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(segment, min_size=1, max_size=3), segment,
       st.from_regex(r"(v?[0-9]+\.[0-9]+\.[0-9]+|[0-9a-f]{40}|[a-z][a-z0-9/_-]{0,12})", fullmatch=True),
       st.lists(segment, min_size=1, max_size=3), st.sampled_from(["$CI_SERVER_FQDN", HOST]))
def test_generated_nested_includes_resolve_in_the_component(groups: list[str], name: str, version: str,
                                                             path: list[str], host: str) -> None:
    """Every local include of a readable component names (the component's project, its version,
    the path); the old resolution (the include's path taken as a component address in the
    pseudo project) is caught by the same assertion."""
    address = f"{host}/{'/'.join(groups)}/{name}@{version}"
    location = "/".join(path) + ".yml"
    (nested,) = resolve_include(FileKey(COMPONENT_FILES, address, None), Include("local", location))
    expected = ("/".join(groups), version, location)
    assert isinstance(nested, FileKey) and components.nested_file(nested.path) == expected
    old = FileKey(COMPONENT_FILES, location, None)  # what resolve_include gave before
    assert components.nested_file(old.path) != expected
    assert isinstance(components.locate(old.path, HOST), str)
